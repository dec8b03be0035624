"""The rules. Pure Python over the store: no Typer, no Rich, no printing."""
