"""Every command has help text and appears in README's command reference; every page and
section of docs/ that the code and tests cite exists.

The reference between the markers in README.md is generated from the command tree, like
sqlite-utils does with cog. After changing a command's help, refresh it with:

    UPDATE_README=1 python -m pytest tests/test_docs.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from typer.main import get_command
from typer.testing import CliRunner

from sessionctl.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- commands:start -->", "<!-- commands:end -->"


def leaves(command=None, path=("sessionctl",)):
    command = command or get_command(app)
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path, command
        return
    for name in sorted(subcommands, key=lambda n: (bool(getattr(subcommands[n], "commands", None)), n)):
        yield from leaves(subcommands[name], path + (name,))



def signature(path, command) -> str:
    parts = []
    for param in command.params:
        if param.name in ("help",) or getattr(param, "hidden", False):  # the late global options
            continue
        if param.param_type_name == "argument":
            parts.append(param.metavar or param.name.upper())
        elif param.is_flag:
            pair = [param.opts[0], *param.secondary_opts[:1]]
            parts.append(f"[{'|'.join(pair)}]")
        else:
            metavar = param.metavar or "VALUE"
            text = f"{param.opts[0]} {metavar}"
            parts.append(text if param.required else f"[{text}]")
    return " ".join((*path, *parts))


def reference() -> str:
    lines = ["| command | what it does |", "|---|---|"]
    for path, command in leaves():
        summary = (command.help or "").strip().split("\n")[0]
        usage = signature(path, command).replace("|", "\\|")
        lines.append(f"| `{usage}` | {summary} |")
    return "\n".join(lines)


def test_every_command_has_help_text():
    runner = CliRunner()
    for path, command in leaves():
        assert (command.help or "").strip(), f"{' '.join(path)} has no help text"
        result = runner.invoke(app, [*path[1:], "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0, path
        assert (command.help or "").split()[0] in result.stdout


def test_readme_command_reference_is_current():
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text, "README.md lacks the command reference markers"
    head, rest = text.split(START, 1)
    current, tail = rest.split(END, 1)
    current = current.strip()
    expected = reference()
    if os.environ.get("UPDATE_README") == "1" and current != expected:
        README.write_text(f"{head}{START}\n{expected}\n{END}{tail}", encoding="utf-8")
        current = expected
    assert current == expected, "README command reference is stale: run UPDATE_README=1 pytest tests/test_docs.py"
    for path, _ in leaves():
        assert f"`{' '.join(path)}" in current


# -- the project explains itself: every page and section the code and tests cite exists ----------

DOCS = ROOT / "docs"
CITED = re.compile(r"(?<![\w/.-])((?:docs/[\w/.-]+|README|benchmarks/README)\.md)(?:#([\w-]+))?")


def anchors(page: Path) -> set[str]:
    """The sections of a Markdown page as links name them (GitHub's slugs of its headings,
    outside code blocks)."""
    found, fence = set(), False
    for line in page.read_text(encoding="utf-8").split("\n"):
        if line.startswith("```"):
            fence = not fence
        elif not fence and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def citations():
    for folder in ("sessionctl", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
                for page, section in CITED.findall(line):
                    yield f"{path.relative_to(ROOT)}:{number}", page, section


def test_every_cited_page_and_section_of_the_docs_exists():
    seen = list(citations())
    assert len(seen) > 50  # the walk finds them
    for where, page, section in seen:
        path = ROOT / page
        assert path.is_file(), f"{where} cites {page}, which does not exist"
        if section:
            assert section in anchors(path), f"{where} cites {page}#{section}, which has no such section"


def test_no_code_or_test_cites_documents_outside_the_repository():
    for folder in ("sessionctl", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"\b(SPEC|DESIGN) \u00a7", text), path


def test_the_docs_link_only_to_pages_and_sections_that_exist():
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        for target, section in re.findall(r"\]\(([^)#\s]*)(?:#([\w-]+))?\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            linked = (page.parent / target).resolve() if target else page
            if linked.is_dir():
                linked = linked / "README.md"
            assert linked.exists(), f"{page.relative_to(ROOT)} links to {target}"
            if section and linked.suffix == ".md":
                assert section in anchors(linked), f"{page.relative_to(ROOT)} links to {target}#{section}"
