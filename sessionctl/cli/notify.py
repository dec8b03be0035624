"""sessionctl notify …"""

import os
from typing import Annotated, Optional

import typer

from sessionctl import render
from sessionctl.cli.common import Json

app = typer.Typer(help="E-mail notifications.", no_args_is_help=True)


@app.command("send")
def send(
    ctx: typer.Context,
    smtp: Annotated[Optional[str], typer.Option(
        "--smtp", metavar="URL", envvar="SESSIONCTL_SMTP", show_envvar=False,
        help="smtp://[USER@]HOST[:PORT][?starttls=1] or smtps://… (default: SESSIONCTL_SMTP).",
    )] = None,
    sender: Annotated[Optional[str], typer.Option(
        "--from", metavar="ADDR", envvar="SESSIONCTL_MAIL_FROM", show_envvar=False,
        help="From address, 'addr' or 'Name <addr>' (default: SESSIONCTL_MAIL_FROM, else sessionctl@this host).",
    )] = None,
    as_json: Json = False,
) -> None:
    """For cron: e-mail every queued notification through SMTP (admins); marked sent once accepted."""
    from sessionctl.domain import mail  # only this command pays for it

    target = mail.smtp_target(smtp, password=os.environ.get("SESSIONCTL_SMTP_PASSWORD"),
                              timeout=os.environ.get("SESSIONCTL_SMTP_TIMEOUT"))
    outcome = mail.send(ctx.obj.context(), target, mail.sender(sender))
    for refused in outcome.refusals:
        render.warning(f"the mail server refused notification {refused.notification} for "
                       f"{refused.address}: {refused.reply}; it stays queued")
    render.counts(outcome.counts(), as_json)
