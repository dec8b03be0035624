"""The rules. Pure Python over the store: no Typer, no Rich, no printing."""

import sessionctl.store  # noqa: F401  (loads peewee first, without its driver imports: store/_peewee.py)
