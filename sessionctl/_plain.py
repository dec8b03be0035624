"""Plain records for the classes every command loads, without ``dataclasses``; and ``Later``,
a module imported when first used.

``@dataclass`` writes each class's methods as source and compiles them when the module is
imported, paid by every start-up (benchmarks/README.md#why-the-code-is-shaped-as-it-is). These classes write their ``__init__`` by hand (as
fast as the generated one) and take equality, ``repr`` and, when frozen, immutability and a hash
from the bases here, which read the field names from ``_fields``: the behaviour of the
dataclasses they replace, with no code compiled at import.
"""

from __future__ import annotations


class Record:
    """Fields named in order by ``_fields``; ``==`` compares them (same class only), ``repr``
    shows them, and a record is unhashable, as a (non-frozen) dataclass."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({shown})"


class FrozenError(AttributeError):
    """Assigning to a field of a frozen record."""


class Frozen(Record):
    """A record whose fields cannot change after ``__init__`` (which sets them through
    ``self.__dict__``), hashable by its fields."""

    __slots__ = ()

    def __setattr__(self, name: str, value) -> None:
        raise FrozenError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:
        return hash(self._values())


def replace(record: Record, **changes):
    """A copy of ``record`` with ``changes`` (``dataclasses.replace``)."""
    return type(record)(**{**{name: getattr(record, name) for name in record._fields}, **changes})


class Later:
    """A module (the domain's, the output's, timeparse) imported when a command first uses it,
    not when the command's module loads: ``CMD --help`` then never loads the store, peewee or
    the tables it does not need
    (docs/architecture.md#the-speed-tricks-fenced)."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        import importlib

        return getattr(importlib.import_module(self._name), attr)
