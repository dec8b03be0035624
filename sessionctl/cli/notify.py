"""sessionctl notify …"""

from typing import Annotated, Optional

import typer

from sessionctl.cli.common import Json, Later, Quiet
from sessionctl.output import terminal

tables = Later("sessionctl.output.tables")

app = typer.Typer(help="E-mail notifications.", no_args_is_help=True)


@app.command("send")
def send(
    ctx: typer.Context,
    smtp: Annotated[Optional[str], typer.Option(
        "--smtp", metavar="URL",
        help="smtp://[USER@]HOST[:PORT][?starttls=1] or smtps://… (default: SESSIONCTL_SMTP).",
    )] = None,
    sender: Annotated[Optional[str], typer.Option(
        "--from", metavar="ADDR",
        help="From address, 'addr' or 'Name <addr>' (default: SESSIONCTL_MAIL_FROM, else sessionctl@this host).",
    )] = None,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """For cron: e-mail every queued notification through SMTP (admins); marked sent once accepted."""
    from sessionctl import smtp as transport  # only this command pays for mail
    from sessionctl.domain import mail
    from sessionctl.domain.checks import sender as parse_sender

    settings = ctx.obj.settings
    timeout = settings.smtp_timeout
    target = transport.target(settings.flagged("smtp", smtp), password=settings.smtp_password,
                              timeout=timeout)
    outcome = mail.send(ctx.obj.context(), transport.Transport(target),
                        parse_sender(sender or settings.mail_from), patience=timeout)
    for refusal in outcome.refusals:
        terminal.warning(refusal.text())
    if not quiet:
        tables.counts(outcome.counts(), as_json)
