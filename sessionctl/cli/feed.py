"""sessionctl feed … (docs/reference/calendars.md#feeds)"""

from typing import Annotated, Optional

import typer

from sessionctl.cli.common import Json, Later
from sessionctl.output import terminal

tables = Later("sessionctl.output.tables")

app = typer.Typer(help="Your calendar as a feed to subscribe to.", no_args_is_help=True)


@app.command("url")
def url(ctx: typer.Context) -> None:
    """Print your feed's secret URL (made the first time); subscribe to it in your calendar app."""
    from sessionctl.domain import feeds

    terminal.line(feeds.url(ctx.obj.context(), ctx.obj.settings.feed_base))


@app.command("reset")
def reset(ctx: typer.Context) -> None:
    """Give your feed a new secret URL; the old one stops working at the next feed write."""
    from sessionctl.domain import feeds

    terminal.line(feeds.url(ctx.obj.context(), ctx.obj.settings.feed_base, reset=True))


@app.command("write")
def write(
    ctx: typer.Context,
    directory: Annotated[Optional[str], typer.Argument(
        metavar="[DIR]", help="Where to write (default: feed_dir; the shared mode uses only feed_dir).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success (for cron).")] = False,
    as_json: Json = False,
) -> None:
    """For cron: write every user's feed as DIR/TOKEN.ics (admins); only changed files are rewritten."""
    from sessionctl.domain import feeds

    where = ctx.obj.settings.feed_dir(directory)
    counts = feeds.write(ctx.obj.context(), where)
    if not quiet:
        tables.counts(counts, as_json)
