"""The one place that reaches past Typer's public API.

typer 0.28 vendors click as ``typer._click`` (earlier and later releases use the ``click``
package); its exception classes are what a failed parse raises, ``ParamType`` is the base of
a parameter type that parses and completes itself (slot and request ids, course codes), and
``CompletionItem`` is one candidate a shell is offered. ``tests/test_cli.py`` pins
this: a bad option must raise these very classes.

``command_of`` builds one click command or group from a Typer app the way Typer's own
``get_command`` builds a whole tree (its private ``get_command_from_info`` and
``get_group_from_info``), so that the root can build each of its commands only when it is used
(``Commands``).

``help_screen`` draws a command's help with ``helpscreen.render`` from what click knows of it;
``command_of`` gives every command it builds that help instead of Typer's (one renderer for
every screen, ``docs/reference/help.md``), and hands it to ``prepare`` (the root's completion of
values).

``current_context`` is click's context of the command being run (one per invocation, pushed
and popped by click): ``output/terminal.py`` finds the run it prints for through it.
``detected_shell`` is Typer's (private) shell detection. ``operands`` reads what a group left
after its own options (the command name and the rest),
which click keeps in a private attribute; Typer's own group and completion read it the same way.
"""

from collections.abc import MutableMapping

try:
    from typer._click import exceptions
    from typer._click.globals import get_current_context
    from typer._click.shell_completion import CompletionItem
    from typer._click.types import ParamType
except ImportError:  # pragma: no cover - a Typer built on the click package
    from click import exceptions
    from click.globals import get_current_context
    from click.shell_completion import CompletionItem
    from click.types import ParamType

__all__ = ["Commands", "CompletionItem", "ParamType", "command_of", "current_context",
           "detected_shell", "exceptions", "help_screen", "operands"]


def current_context():
    """The click context of the command being run, or None outside one."""
    return get_current_context(silent=True)


def operands(ctx) -> list[str]:
    """The arguments a group's context holds after its options: ``[command, *its args]``."""
    return [*getattr(ctx, "_protected_args", getattr(ctx, "protected_args", [])), *ctx.args]


def detected_shell() -> str | None:
    """The shell this process runs under as Typer detects it (shellingham), or None."""
    from typer.completion import _get_shell_name

    try:
        return _get_shell_name()
    except Exception:  # shellingham could not look at the process tree
        return None


def command_of(sub, name: str, root, *, group: bool, prepare=None):
    """The click command ``name``, built from the Typer app ``sub`` as ``root`` (the Typer app of
    the root group) would build it: the whole of ``sub`` as a group named ``name``
    (``root.add_typer(sub, name=name)``), or with ``group`` False the one command ``name`` that
    ``sub`` registers (``root.command(name)``). Each command (not a group) goes through
    ``finish`` once built."""
    from typer import main
    from typer.models import TyperInfo

    if group:
        # The group itself without its commands, then its commands as ``Commands``: each is
        # built (its parameters read from its signature) only when it is looked up, so
        # ``slot list`` builds ``list`` and not the group's other six.
        import copy

        bare = copy.copy(sub)
        bare.registered_commands = []
        built = main.get_group_from_info(
            TyperInfo(bare, name=name), pretty_exceptions_short=root.pretty_exceptions_short,
            rich_markup_mode=root.rich_markup_mode, suggest_commands=root.suggest_commands)
        infos = {info.name or main.get_command_name(info.callback.__name__): info
                 for info in sub.registered_commands}
        built.commands = Commands(infos, lambda command: _own_help(main.get_command_from_info(
            infos[command], pretty_exceptions_short=root.pretty_exceptions_short,
            rich_markup_mode=root.rich_markup_mode), prepare))
        return _own_help(built, prepare)
    [info] = [c for c in sub.registered_commands if c.name == name]
    return _own_help(main.get_command_from_info(
        info, pretty_exceptions_short=root.pretty_exceptions_short,
        rich_markup_mode=root.rich_markup_mode), prepare)


def _own_help(command, prepare=None):
    """``command`` with its help drawn by ``help_screen`` (click calls ``format_help``), then
    given to ``prepare`` if any (``cli/common.own_completion``)."""
    command.format_help = lambda ctx, formatter: formatter.write(help_screen(command, ctx))
    if prepare is not None:
        prepare(command)
    return command


def help_screen(command, ctx, commands=None) -> str:
    """The help of click ``command`` in ``ctx``: its usage, text, arguments, options (with their
    defaults), subcommands (``commands``: name -> text, else the group's own) and examples."""
    from sessionctl.examples import EXAMPLES
    from sessionctl.front import help_look
    from sessionctl.helpscreen import Entry, render

    arguments, options = [], []
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            arguments.append(Entry(param.make_metavar(ctx), getattr(param, "help", "") or ""))
            continue
        names = ", ".join(sorted(param.opts + param.secondary_opts, key=len))
        if param.is_flag:
            name, default = names, None
        else:
            name = f"{names} {param.make_metavar(ctx)}"
            default = param.default if param.default not in (None, False, ()) else None
        options.append(Entry(name, param.help or "", None if default is None else str(default),
                             param.required))
    if commands is None and hasattr(command, "commands"):
        commands = {n: command.commands[n].get_short_help_str(limit=200) for n in command.commands}
    path = ctx.command_path.split(" ", 1)[1] if " " in ctx.command_path else ""
    usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
    screen, bold = help_look()
    return render(usage, command.help or "", arguments=arguments, options=options,
                  commands=[Entry(n, t) for n, t in (commands or {}).items()],
                  examples=EXAMPLES.get(path, ()), screen=screen, bold=bold).rstrip("\n")


class Commands(MutableMapping):
    """A group's ``commands`` whose names are known at once and whose commands are built only
    when one is looked up (``load(name)``). Iterating gives the names and builds nothing; looking
    up every command (``items()``, ``values()``) builds them all, as the docs and fuzz tests do."""

    def __init__(self, names, load):
        self._names = list(names)
        self._load = load
        self._built: dict = {}

    def __getitem__(self, name: str):
        if name not in self._built:
            if name not in self._names:
                raise KeyError(name)
            self._built[name] = self._load(name)
        return self._built[name]

    def __setitem__(self, name: str, command) -> None:
        if name not in self._names:
            self._names.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._built.pop(name, None)

    def __iter__(self):
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name) -> bool:
        return name in self._names

    def built(self, name: str):
        """The command if it has been built already, else None."""
        return self._built.get(name)
