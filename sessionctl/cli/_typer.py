"""The one place that reaches past Typer's public API.

typer 0.28 vendors click as ``typer._click`` (earlier and later releases use the ``click``
package); its exception classes are what a failed parse raises, and ``ParamType`` is the base
of a parameter type that parses itself (slot and request ids). ``tests/test_cli.py`` pins
this: a bad option must raise these very classes.
"""

try:
    from typer._click import exceptions
    from typer._click.types import ParamType
except ImportError:  # pragma: no cover - a Typer built on the click package
    from click import exceptions
    from click.types import ParamType

__all__ = ["ParamType", "exceptions"]
