"""The root Typer app: global options, sub-groups, and the one error → exit-code mapper."""

import sys
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from sessionctl import __version__
from sessionctl.cli._typer import Commands, command_of, operands
from sessionctl.cli.common import own_completion
from sessionctl.cli._typer import exceptions as click_exc
from sessionctl.cli.invocation import Invocation
from sessionctl.errors import OutputLost, SessionctlError
from sessionctl.front import COMMANDS, COMPLETE_VAR, HELP, option_help, tame_columns
from sessionctl.output import terminal


def run_mapped(call, run: Invocation, argv: list[str] | tuple = (), root=None) -> int:
    """Run ``call`` (the command line ``argv`` of the click group ``root``, for ``run``) and
    turn every outcome into an exit code (``docs/reference/exit-codes.md``), printing errors
    once, through ``run``'s output."""
    out = run.out
    try:
        result = call()
        return result if isinstance(result, int) else 0
    except SessionctlError as exc:
        _debug(run)
        out.error(exc.message, exc.hint, exc.details)
        return exc.code
    except click_exc.NoArgsIsHelpError as exc:  # `sessionctl`, `sessionctl slot`: the help
        out.stderr(exc.format_message().rstrip("\n") + "\n")  # on stderr, as a usage error
        return 2
    except click_exc.UsageError as exc:
        from sessionctl.cli import hints

        path, command = hints.where(exc, list(argv), root)
        bad_id = hints.negative_id(exc, list(argv), command)
        if bad_id is not None:
            out.error(bad_id.message, bad_id.hint)
            return bad_id.code
        message = hints.wrong_case(exc.format_message(), command)
        hint = hints.quote_when(message, list(argv), command)
        out.error(message, hint or f"see '{path} --help'")
        return 2
    except click_exc.ClickException as exc:
        out.error(exc.format_message())
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        out.error("interrupted; nothing was changed by the interrupted step")
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except Exception as exc:  # the store layer knows what a database error means to a user
        from sessionctl.store import translate

        _debug(run)
        mapped = translate(exc, _safe(lambda: run.settings.lock_timeout))
        if mapped is not None:
            out.error(mapped.message, mapped.hint)
            return mapped.code
        out.error(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug; run again with SESSIONCTL_DEBUG=1 for details and report it",
        )
        return 1


def _safe(fn):
    try:
        return fn()
    except Exception:
        return None


def _debug(run: Invocation) -> None:
    if run.settings.debug:
        import traceback

        run.out.stderr(traceback.format_exc())


def _quiet_stdout() -> None:
    """After the reader of our stdout went away (``| head``) or its writes failed (a full
    disk, already reported), end without noise: what is still buffered goes to /dev/null,
    where Python's own flush at exit cannot fail."""
    from sessionctl.front import discard_stdout

    discard_stdout()


def _check_arguments(args) -> None:
    """Every argument is text: bytes that are not UTF-8 are refused (exit 2) before anything
    reads them, whatever the command."""
    from sessionctl.columns import clean
    from sessionctl.configfile import checked_text
    from sessionctl.urls import mask_url

    for index, arg in enumerate(args, 1):  # shown as a URL's password never is (--db, --smtp)
        checked_text(f"argument {index} ('{clean(mask_url(arg))}')", arg)


COMPLETION_ASKED = "sessionctl.completion"  # ctx.meta: "show" or "install", from the root options


def _completion_asked(action: str):
    def callback(ctx: typer.Context, value: bool) -> None:
        if value and not ctx.resilient_parsing:
            ctx.meta[COMPLETION_ASKED] = action

    return callback


class Root(TyperGroup):
    """Typer's group with our error handling around every invocation (CLI and CliRunner), and
    shell completion (``cli/completion.py``): the ``_SESSIONCTL_COMPLETE`` protocol, and the
    ``--show-completion``/``--install-completion`` options with an optional SHELL operand.

    Its commands (``COMMANDS``) are built one at a time, when used: ``sessionctl slot list``
    imports ``cli/slot.py`` and no other command's module, and the root's help lists them all
    from the table, importing none."""

    def __init__(self, **attrs):
        super().__init__(**attrs)
        self.commands = Commands(COMMANDS, load_command)
        own_completion(self)  # --color, --tz

    def list_commands(self, ctx) -> list[str]:
        return list(self.commands)

    def format_help(self, ctx, formatter) -> None:
        from sessionctl.front import root_screen

        formatter.write(root_screen().rstrip("\n"))

    def _main_shell_completion(self, ctx_args, prog_name, complete_var=None):
        run = ctx_args["obj"]
        if run.environ.get(COMPLETE_VAR):  # a shell asks for candidates: only then load completion
            from sessionctl.cli import completion

            completion.respond(run, lambda: super(Root, self)._main_shell_completion(
                ctx_args, prog_name, complete_var))

    def invoke(self, ctx):
        action = ctx.meta.get(COMPLETION_ASKED)
        if action is not None:
            from sessionctl.cli import completion

            return completion.perform(action, operands(ctx))
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # what is still buffered fails here, where it can be said so
            return result
        except BrokenPipeError:  # the reader went away (| head): a quiet end (click's is exit 1)
            _quiet_stdout()
            raise typer.Exit(0) from None
        except OutputLost as exc:  # after the command's work: say whether its change was made
            store = ctx.obj._store
            done = "the change was made" if store is not None and store.changed else \
                "nothing was changed"
            raise OutputLost(f"{exc.message}; {done}", "send the output where it can be "
                             "written (a file with room, or /dev/null)") from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             obj: Invocation | None = None, **extra):
        """One run, for ``obj`` (the demo hands in its steps' own), else a new ``Invocation``
        of this process's environment: click gives it to every context as ``ctx.obj``."""
        run = obj if obj is not None else Invocation()

        def call():
            _check_arguments(sys.argv[1:] if args is None else args)
            tame_columns()
            return run.out.session(lambda: super(Root, self).main(
                args=args, prog_name=prog_name or "sessionctl", complete_var=complete_var,
                standalone_mode=False, obj=run, **extra,
            ))

        code = run_mapped(call, run, sys.argv[1:] if args is None else args, self)
        if standalone_mode:
            try:
                sys.stdout.flush()
            except OSError:  # gone away or failing (already said): what is left goes nowhere
                _quiet_stdout()
            sys.exit(code)
        return code


app = typer.Typer(
    cls=Root,
    name="sessionctl",
    help=HELP,
    add_completion=False,  # Typer's options take no shell name; ours do (Root, cli/completion.py)
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(ctx: typer.Context, value: bool) -> None:
    if value and not ctx.resilient_parsing:  # not while a shell asks for completions
        terminal.line(f"sessionctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[Optional[str], typer.Option(
        "--db", metavar="PATH_OR_URL", help=option_help("--db")
    )] = None,
    tz: Annotated[Optional[str], typer.Option(
        "--tz", metavar="ZONE", help=option_help("--tz")
    )] = None,
    color: Annotated[Optional[str], typer.Option(
        "--color", metavar="auto|always|never",
        help=option_help("--color"),
    )] = None,
    no_pager: Annotated[bool, typer.Option(
        "--no-pager", help=option_help("--no-pager")
    )] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help=option_help("--version")
    )] = False,
    install_completion: Annotated[bool, typer.Option(
        "--install-completion", callback=_completion_asked("install"), expose_value=False,
        help=option_help("--install-completion"),
    )] = False,
    show_completion: Annotated[bool, typer.Option(
        "--show-completion", callback=_completion_asked("show"), expose_value=False,
        help=option_help("--show-completion"),
    )] = False,
) -> None:
    """Book one-on-one live sessions between educators and students."""
    ctx.meta[GLOBALS] = {"db": db, "tz": tz, "color": color, "pager": False if no_pager else None}
    _configure(ctx)
    ctx.call_on_close(ctx.obj.close)


GLOBALS = "sessionctl.globals"  # ctx.meta (shared by a run's contexts): the global options given
# The global options a command takes after its name too: (names, metavar, the settings key).
LATE_GLOBALS = ((("--db",), "PATH_OR_URL", "db"), (("--tz",), "ZONE", "tz"),
                (("--color",), "auto|always|never", "color"), (("--no-pager",), None, "pager"))


def _configure(ctx, again: bool = False) -> None:
    """The run's settings with the global options given so far: each is checked here, before
    the command runs, wherever it was written."""
    run: Invocation = ctx.obj
    flags = ctx.meta[GLOBALS]
    run.configure(flags, again)
    if flags["tz"] is not None:
        from sessionctl.timeparse import zone

        zone(flags["tz"])  # an unknown zone is exit 2 for every command, init included
    run.settings.check()  # the config files, and in the shared mode who may act on which store


def _late_global(ctx, param, value):
    """A global option after the command (``slot list --tz Europe/Berlin``): the run is
    configured again with it (the last one written wins)."""
    if value is None or value is False or ctx.resilient_parsing:
        return value
    ctx.meta[GLOBALS]["pager" if param.name == "no_pager" else param.name] = \
        False if param.name == "no_pager" else value
    _configure(ctx, again=True)
    return value


def with_late_globals(command):
    """``command`` also taking the global options after its name, hidden from its help; an
    option of its own by the same name (``user add --tz``, ``demo --db``) wins."""
    taken = {name for param in command.params for name in param.opts}
    for names, metavar, _ in LATE_GLOBALS:
        if taken.isdisjoint(names):
            flag = metavar is None
            command.params.append(TyperOption(
                param_decls=list(names), is_flag=flag, default=False if flag else None, metavar=metavar,
                hidden=True, expose_value=False, callback=_late_global))
    return command


def load_command(name: str):
    """The click command for one of the root's ``COMMANDS``, importing its module now."""
    import importlib

    module_name = COMMANDS[name][0]
    module = importlib.import_module(f"sessionctl.cli.{module_name}")
    return command_of(module.app, name, app, group=module_name == name, prepare=_prepare)


def _prepare(command) -> None:
    """Each command built: the global options after its name too, and completion of values."""
    if not isinstance(command, TyperGroup):
        with_late_globals(command)
    own_completion(command)


def main() -> None:
    app()
