"""sessionctl config …"""

import typer

from sessionctl.cli.common import Json, Later

tables = Later("sessionctl.output.tables")

app = typer.Typer(help="The settings in effect and the config files they come from.",
                  no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context, as_json: Json = False) -> None:
    """Print every effective setting and where it came from (passwords masked)."""
    tables.config(ctx.obj.settings.explain(), as_json)
