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
           "detected_shell", "exceptions", "operands"]


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


def command_of(sub, name: str, root, *, group: bool, finish=lambda command: command):
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
        built.commands = Commands(infos, lambda command: finish(main.get_command_from_info(
            infos[command], pretty_exceptions_short=root.pretty_exceptions_short,
            rich_markup_mode=root.rich_markup_mode)))
        return built
    [info] = [c for c in sub.registered_commands if c.name == name]
    return finish(main.get_command_from_info(info, pretty_exceptions_short=root.pretty_exceptions_short,
                                             rich_markup_mode=root.rich_markup_mode))


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
