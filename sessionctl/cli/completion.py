"""Shell completion for bash, zsh and fish (``docs/reference/completion.md``), on
Typer's scripts and protocol.

- ``sessionctl --show-completion [SHELL]`` (a root option, ``cli/__init__.py``) prints Typer's
  script for SHELL, and ``--install-completion [SHELL]`` installs it (Typer's files:
  ``~/.bash_completions/``, ``~/.zfunc/``, ``~/.config/fish/completions/``); without SHELL,
  the shell sessionctl runs under (Typer's detection, else ``$SHELL``).
- The script runs ``sessionctl`` with ``_SESSIONCTL_COMPLETE`` set (``complete_bash``,
  ``complete_zsh``, ``complete_fish``); ``Root`` hands that run to ``respond``, which answers
  with Typer's completion classes: commands, options, and from the store the course codes and
  the slot and request ids the actor's own lists show (``domain.choices``).

An ordinary command pays nothing for this: this module is loaded only when a shell asks or a
completion option is given, and the completers below are reached through the parameter types
(``cli/common.py``: ``Id``, ``CourseCode``), which click asks only while completing.
Completion is silent on every error (no store, an unknown actor, a busy or newer store): no
candidates, nothing on stderr (``SESSIONCTL_DEBUG=1`` shows what went wrong).

Candidates are text a shell evaluates (zsh's ``_arguments`` evals the descriptions), so only
values of a known alphabet (course codes, ids) are offered, and descriptions keep letters,
digits and a few safe marks: a course title can never become shell code.
"""

import io
import os
import sys

from sessionctl.cli.invocation import Invocation
from sessionctl.statuses import ACTIVE, APPROVED, COMPLETED, UNDECIDED, UPDATABLE
from sessionctl.errors import Unavailable, UsageError
from sessionctl.front import COMPLETE_VAR, PROG

SHELLS = ("bash", "zsh", "fish")
READ_TIMEOUT = 0.5  # seconds completion waits for a busy store before offering nothing
_SAFE_MARKS = frozenset(" .,:-_/()#+")


# -- the root options: --show-completion, --install-completion ------------------------------------


def perform(action: str, operands: list[str]) -> int:
    """``--show-completion``/``--install-completion``, with at most one SHELL operand."""
    from sessionctl.output import terminal

    option = f"--{action}-completion"
    if len(operands) > 1:
        raise UsageError(f"{option} takes at most one shell name, not {' '.join(operands)!r}",
                         hint=f"sessionctl {option} bash|zsh|fish")
    shell = operands[0] if operands else _detected(option)
    if shell not in SHELLS:
        raise UsageError(f"no completion for the shell {shell!r}",
                         hint=f"name one of bash, zsh or fish: sessionctl {option} zsh")
    from typer.completion import get_completion_script, install

    if action == "show":
        terminal.line(get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell))
        return 0
    try:
        _, path = install(shell=shell, prog_name=PROG, complete_var=COMPLETE_VAR)
    except OSError as exc:
        raise Unavailable(f"cannot install {shell} completion: {exc.strerror or exc}"
                          f"{f' ({exc.filename})' if exc.filename else ''}") from None
    terminal.line(f"{shell} completion installed in {path}")
    terminal.line(f"it takes effect in new {shell} sessions")
    return 0


def _detected(option: str) -> str:
    """The shell sessionctl runs under (Typer's detection), else the login shell ``$SHELL``."""
    from sessionctl.cli._typer import detected_shell

    found = detected_shell()
    if found not in SHELLS:
        login = os.path.basename(os.environ.get("SHELL", "")).lower()
        found = login if login in SHELLS else found
    if not found:
        raise UsageError("cannot tell which shell you use",
                         hint=f"name it: sessionctl {option} bash|zsh|fish")
    return found


# -- answering the shell ---------------------------------------------------------------------------


def respond(run: Invocation, complete) -> None:
    """Run Typer's completion (``complete``) for a shell that asks (``_SESSIONCTL_COMPLETE``
    set), in ``run``. It exits the process; stderr stays silent unless debugging
    (``SESSIONCTL_DEBUG=1``: errors show instead of completing nothing)."""

    from typer import _completion_classes
    from typer.completion import completion_init

    completion_init()  # Typer's bash/zsh/fish classes: the protocol its scripts speak
    # Our descriptions are plain text (cleaned by _candidates): Typer would render each as
    # Rich markup for zsh and fish, importing Rich's markdown (~100 ms, slower than slot list)
    # and reading a course title's "[bold]" as markup.
    _completion_classes._sanitize_help_text = str
    debugging = run.settings.debug
    if not debugging:
        sys.stderr = io.StringIO()
    try:
        complete()
    except SystemExit:
        raise
    except BaseException:
        if debugging:
            raise
    sys.exit(0)


def course_codes(ctx, incomplete: str) -> list:
    """Codes of the courses the actor's ``course list`` shows, with their titles."""
    from sessionctl.domain import choices

    return _candidates(ctx, lambda c: choices.courses(c, incomplete))


# What each command can act on: the ids it is offered (``docs/reference/completion.md``).
REQUESTS_FOR = {
    "request approve": UNDECIDED, "request reject": UNDECIDED, "request cancel": ACTIVE,
    "request move": ACTIVE, "request update": UPDATABLE, "request complete": (APPROVED,),
    "request rate": (COMPLETED,),
}
LIVE_SLOTS = ("slot cancel", "slot update", "slot delete")
OPEN_SLOTS = ("request send", "request move")  # a seat to take: request move's --to


def ids(kind: str, ctx, incomplete: str) -> list:
    """Ids of the slots or requests the command can act on among those the actor could list,
    upcoming first, each described by its course, local start and status (as the lists show
    it: ``booked, ended``)."""
    from sessionctl.domain import choices

    command = " ".join(ctx.command_path.split()[1:])

    def pick(c):
        if kind == "slot":
            found = [(s, f"{s.status}, ended" if s.ended else s.status)
                     for s in choices.slots(c, incomplete, live=command in LIVE_SLOTS,
                                            open_=command in OPEN_SLOTS)]
        else:
            found = [(r, r.status) for r in choices.requests(c, incomplete, REQUESTS_FOR.get(command))]
        return [(str(v.id), f"{v.course} {v.start.astimezone(c.tz):%a %Y-%m-%d %H:%M} {status}")
                for v, status in found]

    return _candidates(ctx, pick)


def values(ctx, param, incomplete: str) -> list:
    """The values an option or argument takes (``--status``, ``--role``, ``--color``,
    ``--repeat``, ``off``, ``--stars``), zone names (``ZONE``), and user names where a name is
    asked (``NAME``, ``STUDENT``; ``--educator``): from the metavar click shows in the help."""
    from sessionctl.cli._typer import CompletionItem

    metavar = (param.metavar or "").strip("[].")
    if metavar == "ZONE":
        from zoneinfo import available_timezones

        return [CompletionItem(z) for z in sorted(available_timezones()) if z.startswith(incomplete)]
    if metavar in ("NAME", "STUDENT"):
        from sessionctl.domain import choices

        role = "student" if metavar == "STUDENT" else "educator" if "--educator" in param.opts else None
        return _candidates(ctx, lambda c: choices.users(c, incomplete, role))
    if metavar == "ROLE":
        metavar = "admin|educator|student"
    if metavar == "1..5":
        metavar = "1|2|3|4|5"
    words = [w for w in metavar.split("|") if "|" in metavar and not w.isupper()]
    return [CompletionItem(w) for w in words if w.startswith(incomplete)]


def _candidates(ctx, pick) -> list:
    """``pick(context)``'s ``(value, description)`` pairs from the store the command line names,
    as the acting user; nothing at all on any error."""
    from sessionctl.cli._typer import CompletionItem

    root = ctx.find_root()
    asked = None
    try:
        timeout = min(root.obj.settings.lock_timeout, READ_TIMEOUT)
        asked = Invocation(root.obj.environ, files=root.obj.files, clock=root.obj.clock)
        asked.configure({"db": root.params.get("db"), "tz": root.params.get("tz"),
                         "lock_timeout": timeout})
        return [CompletionItem(value, help=_described(text)) for value, text in pick(asked.context())]
    except Exception:
        if root.obj.settings.debug:
            raise
        return []
    finally:
        if asked is not None:
            asked.close()


def _described(text: str) -> str:
    """A description a shell may evaluate without harm: letters, digits and a few marks."""
    kept = "".join(ch if ch.isalnum() or ch in _SAFE_MARKS else " " for ch in str(text))
    return " ".join(kept.split())[:60]
