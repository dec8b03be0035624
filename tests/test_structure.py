"""The house's own rules, read from the code (docs/architecture.md): imports run one way (no
cycle), a run keeps nothing in a module global, every prepared query is declared in one module,
and Peewee is held to the major version whose internals the prepared queries use."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import peewee
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sessionctl"


def modules() -> dict[str, Path]:
    """sessionctl's modules by dotted name (a package by its own name)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The sessionctl modules ``name`` imports, at the top or inside a function alike: ``from
    a import b`` is an import of ``a.b`` when that is a module, else of ``a``. (A package's own
    ``__init__``, which Python runs before any module in it, is not counted as imported by
    its modules: only what a module names.) ``Later("a.b")`` (_plain.py: a module imported
    when first used) is an import of ``a.b``."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            for alias in node.names:
                whole = f"{base}.{alias.name}"
                found.add(whole if whole in known else base)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Later":
            found.update(arg.value for arg in node.args if isinstance(arg, ast.Constant))
    return {m for m in found if m in known and m != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_no_module_of_sessionctl_imports_itself_back():
    found = graph()
    assert "sessionctl.domain.requests" in found["sessionctl.cli.request"]  # the walk sees imports
    assert "sessionctl.store.queries" in found["sessionctl.domain.transitions"]
    assert cycles(found) == []


def test_the_walk_finds_a_cycle_where_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_layers_point_one_way():
    """The domain never imports the CLI or the output; the store never imports the domain; the
    vocabulary and the error classes import nothing of sessionctl (docs/architecture.md#the-layers)."""
    for name, imported in graph().items():
        if name.startswith("sessionctl.domain"):
            assert not {m for m in imported if m.startswith(("sessionctl.cli", "sessionctl.output"))}, name
        if name.startswith("sessionctl.store"):
            assert not {m for m in imported if m.startswith("sessionctl.domain")}, name
    for leaf in ("sessionctl.statuses", "sessionctl.errors", "sessionctl.store.edge"):
        assert graph()[leaf] == set(), leaf


# What a module may keep at its top level and still hold nothing of a run: constants, tables
# of constants, and these process-wide caches of what does not change between runs (query
# text, a parsed file keyed by its identity, a loaded function).
CACHES = {
    ("sessionctl.store.prepared", "_MADE"),  # every prepared query, for prime()
    ("sessionctl.store.queries", "_SWAPS"),  # one prepared compare-and-swap per set of columns
    ("sessionctl.configfile", "_cache"),  # a config file as read, by path and file identity
    ("sessionctl.columns", "_rich_cell_len"),  # rich.cells.cell_len once loaded
    ("sessionctl.store._peewee", "_hidden"),  # driver names hidden while peewee is imported
}


MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "add",
            "discard", "popitem"}


def test_no_module_keeps_a_runs_state_in_a_global():
    """No ``global`` statement anywhere, no module-level name bound to a mutable value (a list,
    dict or set, or a call that makes one) but constant tables in capitals and the known
    caches, and no module-level name changed in place (``NAME[…] = …``, ``NAME.append(…)``)
    but the known caches."""
    mutable_calls = {"list", "dict", "set", "defaultdict", "OrderedDict", "Counter", "StringIO",
                     "ContextVar", "local"}
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Global, ast.Nonlocal))], name
        held = set()
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = node.value
                mutable = isinstance(value, (ast.List, ast.Dict, ast.Set, ast.ListComp,
                                             ast.DictComp, ast.SetComp)) or (
                    isinstance(value, ast.Call) and getattr(value.func, "id",
                                                            getattr(value.func, "attr", None))
                    in mutable_calls)
                for target in targets:
                    label = getattr(target, "id", None)
                    if not (mutable and label) or (name, label) in CACHES or label.startswith("__"):
                        continue
                    assert label.isupper(), f"{name}.{label} is a mutable module global"
                    held.add(label)  # a constant table: it must never change
        for node in ast.walk(tree):
            changed = None
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                for target in getattr(node, "targets", None) or [node.target]:
                    if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                        changed = target.value.id
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in MUTATORS and isinstance(node.func.value, ast.Name)):
                changed = node.func.value.id
            assert changed not in held, f"{name}.{changed} is changed in place"


def test_the_state_check_finds_what_it_looks_for(tmp_path, monkeypatch):
    """The check above fails on the shapes per-run state took before (a list changed in
    place, a global rebound)."""
    for code in ("_AHEAD = [0]\ndef f():\n    _AHEAD[0] = 1\n",
                 "_depth = 0\ndef f():\n    global _depth\n    _depth = 1\n",
                 "OPTIONS = {}\ndef f(x):\n    OPTIONS.update(x)\n"):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        (folder / "sessionctl").mkdir(parents=True)
        (folder / "sessionctl" / "__init__.py").write_text(code)
        monkeypatch.setattr(sys.modules[__name__], "PACKAGE", folder / "sessionctl")
        monkeypatch.setattr(sys.modules[__name__], "ROOT", folder)
        with pytest.raises(AssertionError):
            test_no_module_keeps_a_runs_state_in_a_global()


def test_every_prepared_query_is_declared_in_one_module():
    for name, path in modules().items():
        if name in ("sessionctl.store.queries", "sessionctl.store.prepared"):
            continue
        assert "Prepared(" not in path.read_text(encoding="utf-8"), name


def test_no_model_default_is_a_callable_a_prepared_query_would_freeze():
    """A prepared insert records the SQL Peewee writes once, with the defaults Peewee adds by
    itself: a callable default (``default=datetime.now``) would be called once and its value
    replayed in every later row (store/prepared.py)."""
    from sessionctl.store.models import MODELS

    for model in MODELS:
        for field in model._meta.sorted_fields:
            assert not callable(field.default), f"{model.__name__}.{field.name}"
        assert not any(callable(d) for d in model._meta.defaults.values()), model.__name__


def test_peewee_is_held_to_the_major_version_the_prepared_queries_were_written_for():
    """store/prepared.py reads Peewee's private ``ctx._sql`` and ``ctx._values``: a new major
    version must be a deliberate step (pyproject.toml pins it)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pinned = re.search(r'"peewee>=(\d+)\.[^"]*,<(\d+)"', text)
    assert pinned, "pyproject.toml must pin peewee to one major version"
    low, high = int(pinned.group(1)), int(pinned.group(2))
    assert high == low + 1
    assert int(peewee.__version__.split(".")[0]) == low
