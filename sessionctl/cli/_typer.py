"""The one place that reaches past Typer's public API.

typer 0.28 vendors click as ``typer._click`` (earlier and later releases use the ``click``
package); its exception classes are what a failed parse raises, ``ParamType`` is the base of
a parameter type that parses and completes itself (slot and request ids, course codes), and
``CompletionItem`` is one candidate a shell is offered. ``tests/test_cli.py`` pins
this: a bad option must raise these very classes.

``detected_shell`` is Typer's (private) shell detection. ``operands`` reads what a group left
after its own options (the command name and the rest),
which click keeps in a private attribute; Typer's own group and completion read it the same way.
"""

try:
    from typer._click import exceptions
    from typer._click.shell_completion import CompletionItem
    from typer._click.types import ParamType
except ImportError:  # pragma: no cover - a Typer built on the click package
    from click import exceptions
    from click.shell_completion import CompletionItem
    from click.types import ParamType

__all__ = ["CompletionItem", "ParamType", "detected_shell", "exceptions", "operands"]


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
