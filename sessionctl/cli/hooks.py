"""sessionctl hooks …"""

from typing import Annotated

import typer

from sessionctl.cli.common import Json, Later
from sessionctl.output import terminal

tables = Later("sessionctl.output.tables")

app = typer.Typer(help="Event hooks: programs that receive each booking's events.",
                  no_args_is_help=True)

# ``--quiet`` here is this command's own; issue 18 makes one for every cron command.
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success (warnings still go to stderr).")]


@app.command("run")
def run(ctx: typer.Context, as_json: Json = False, quiet: Quiet = False) -> None:
    """For cron: give each event since the last run to its hook in hooks_dir (admins); failed ones are retried later."""
    from sessionctl.domain import hooks

    settings = ctx.obj.settings
    directory, _ = settings.program("hooks_dir", site_only=ctx.obj.database_mode())
    outcome = hooks.run(ctx.obj.context(), directory, settings.hook_timeout,
                        settings.vet_program if settings.shared is not None else None)
    for path in outcome.ignored:
        terminal.warning(f"{path} is not executable: ignored (chmod +x it to make it a hook)")
    for failure in outcome.failures:
        terminal.warning(failure.text())
    if not quiet:
        tables.counts(outcome.counts(), as_json)
