"""Hints for the usage errors the parser reports (``docs/reference/exit-codes.md#messages``).

A negative id (``slot show -1``) reaches the parser as an unknown option; it is reported like
every other bad id: ``'-1' is not a slot id (a positive whole number)``.

An unquoted WHEN spills its time into an extra argument: ``--start 2027-01-11 10:00`` is
``--start 2027-01-11`` plus a stray ``10:00``, which click reports as
"Got unexpected extra argument(s) (10:00)". The hint names the option and the quoted WHEN
when the command line shows them, else says in general to quote a date and time.
"""

import re

# a time of day as people type it: 10:00, 9:30:15, 10:00Z, 10:00+01:00, 2pm, 10:30am
_TIME = re.compile(
    r"\d{1,2}(?::\d{2}){1,2}(?:\s?[ap]m)?(?:z|[+-]\d{2}(?::?\d{2})?)?|\d{1,2}\s?[ap]m", re.IGNORECASE
)
_EXTRA = re.compile(r"Got unexpected extra arguments?(?:\(s\))? \((.*)\)", re.DOTALL)
GENERIC = 'quote a date and time that has a space in it, e.g. "2027-01-11 10:00"'


def quote_when(message: str, argv: list[str], command) -> str | None:
    """The hint for an extra argument that looks like a time, or None."""
    match = _EXTRA.fullmatch(message)
    if not match:
        return None
    extras = set(match[1].split(" "))
    at = next((i for i, word in enumerate(argv) if word in extras and _TIME.fullmatch(word)), None)
    if at is None:
        return None
    start = at  # walk back over the stray words to the value the option did take
    while start > 0 and argv[start - 1] in extras and not argv[start - 1].startswith("-"):
        start -= 1
    option, value = _option_before(argv, start)
    words = [value, *argv[start:at + 1]]
    if option is None or not _takes_when(command, option) or not all(w.isprintable() for w in words):
        return GENERIC
    return f'quote the WHEN: {option} "{" ".join(words)}"'


def _option_before(argv: list[str], start: int) -> tuple[str | None, str]:
    """The option (and its value) that ends just before ``argv[start]``."""
    if start < 1:
        return None, ""
    previous = argv[start - 1]
    if previous.startswith("--") and "=" in previous:
        option, _, value = previous.partition("=")
        return option, value
    if start >= 2 and argv[start - 2].startswith("-") and not previous.startswith("-"):
        return argv[start - 2], previous
    return None, ""


def _takes_when(command, option: str) -> bool:
    return any(option in getattr(p, "opts", ()) and p.metavar == "WHEN"
               for p in getattr(command, "params", ()))


def negative_id(exc, argv: list[str], command):
    """For "No such option: -1" on a command with an id argument: that id's own error."""
    name = getattr(exc, "option_name", None) or ""
    if not re.fullmatch(r"-\d", name[:2]):
        return None
    word = next((w for w in argv if w.startswith(name)), name)
    for param in getattr(command, "params", ()):
        if getattr(param.type, "kind", None):  # an id (cli/common.py)
            try:
                param.type.convert(word, param, None)
            except Exception as error:  # the id's UsageError
                return error
    return None


def where(exc, argv: list[str], root) -> tuple[str, object]:
    """The command a usage error is about, as (its path, the click command): its context's,
    else, for an error the parser raised without one (an option missing its value), the
    command the words of ``argv`` name under ``root``."""
    if exc.ctx is not None:
        return exc.ctx.command_path, exc.ctx.command
    path, command, words = ["sessionctl"], root, list(argv)
    while words and hasattr(command, "commands"):
        word = words.pop(0)
        if word.startswith("-"):
            option = next((p for p in command.params if word in getattr(p, "opts", ())), None)
            if option is not None and not option.is_flag and words:
                words.pop(0)  # its value
            continue
        try:
            command = command.commands[word]
        except KeyError:
            break
        path.append(word)
    return " ".join(path), command


def wrong_case(message: str, command) -> str:
    """"No such command 'SLOT'." with the command that differs only in letter case named, as
    click names a close misspelling."""
    found = re.fullmatch(r"No such command '(.*)'\.", message)
    names = list(getattr(command, "commands", ()))
    same = [n for n in names if found and n.lower() == found[1].lower()]
    return f"{message} Did you mean {same[0]!r}?" if same else message
