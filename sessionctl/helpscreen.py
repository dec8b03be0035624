"""The one renderer of every help screen: the root's (drawn by ``front.py`` without Typer, from
its tables) and every command's and group's (``cli/_typer.py`` hands it what click knows of
them). ``sessionctl help [COMMAND…]`` and ``--help`` both end here, so no screen has a second
copy (``docs/reference/help.md``).

A screen is plain text fitted to the width: the usage, the description, then Arguments,
Options (each with its default, ``[default: …]``, or ``[required]``), Commands and Examples.
Text wraps at words (``columns.wrap``): a word is never broken. An option whose name and
metavar are too wide for the name column has its description on the next line, as click's
own formatter does; an example wider than the screen is continued with ``\\`` at a space, so it
stays whole and can still be pasted into a shell. Headings are bold on a terminal (not under
``NO_COLOR``). Nothing here imports Rich or Typer.
"""

from __future__ import annotations

from typing import Sequence

from sessionctl._plain import Frozen

NAMES_MAX = 30  # the name column is at most this wide; a longer entry puts its text below


class Entry(Frozen):
    """One line of a section: ``name`` (``-h, --help`` or ``--status STATUS``), its text,
    and what it defaults to (``default``; ``required``)."""

    _fields = ("name", "text", "default", "required")

    def __init__(self, name: str, text: str = "", default: str | None = None,
                 required: bool = False):
        self.__dict__.update(name=name, text=text, default=default, required=required)


def render(usage: str, text: str, *, arguments: Sequence[Entry] = (),
           options: Sequence[Entry] = (), commands: Sequence[Entry] = (),
           examples: Sequence[str] = (), screen: int = 80, bold: bool = False) -> str:
    """The whole help screen, ``screen`` cells wide (``front.help_look`` gives the width and
    whether headings are bold), lines joined, ending with a newline."""
    from sessionctl.columns import wrap


    def heading(title: str) -> str:
        return f"\x1b[1m{title}\x1b[0m" if bold else title

    lines = [heading("Usage:") + " " + usage if len(usage) + 7 <= screen else heading("Usage:")]
    if len(usage) + 7 > screen:
        lines.extend(_example(usage, screen))
    for paragraph in [p for p in text.strip().split("\n\n") if p.strip()]:
        lines.append("")
        lines.extend(wrap(" ".join(paragraph.split()), screen))
    for title, entries in (("Arguments", arguments), ("Options", options),
                           ("Commands", commands)):
        if entries:
            lines.extend(["", heading(f"{title}:")])
            lines.extend(_entries(entries, screen, wrap))
    if examples:
        lines.extend(["", heading("Examples:")])
        for example in examples:
            lines.extend(_example(example, screen))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _entries(entries: Sequence[Entry], screen: int, wrap) -> list[str]:
    names = min(max(len(e.name) for e in entries), NAMES_MAX)
    indent = 2 + names + 2
    if screen - indent < 24:  # too narrow for two columns: every text below its name
        names, indent = NAMES_MAX + 1, 6
    lines = []
    for entry in entries:
        said = entry.text.strip()
        if entry.required:
            said += " [required]"
        elif entry.default not in (None, ""):
            said += f" [default: {entry.default}]"
        body = wrap(" ".join(said.split()), screen - indent) if said.strip() else []
        if len(entry.name) <= names and body:
            lines.append(f"  {entry.name:<{names}}  {body[0]}")
            body = body[1:]
        else:
            lines.extend("  " + part for part in _long_name(entry.name, screen - 2))
        lines.extend(" " * indent + part for part in body)
    return lines


def _long_name(name: str, room: int) -> list[str]:
    """An option's name and metavar, wider than the screen (a long list of choices): broken
    after a ``|`` or a space, never inside a word."""
    if len(name) <= room:
        return [name]
    parts, line = [], ""
    for piece in name.replace("|", "|\0").replace(" ", " \0").split("\0"):
        if line and len(line) + len(piece) > room:
            parts.append(line.rstrip())
            line = "    "
        line += piece
    return parts + [line.rstrip()]


def _example(example: str, screen: int) -> list[str]:
    """A command line, two spaces in; wider than the screen, continued with `` \\`` at a space."""
    room = screen - 4  # the indent, and the room for " \\"
    if len(example) + 2 <= screen:
        return ["  " + example]
    lines, line = [], ""
    for word in example.split(" "):
        if line and len(line) + 1 + len(word) > room:
            lines.append(line + " \\")
            line = "    " + word
        else:
            line = f"{line} {word}" if line else "  " + word
    return lines + [line]
