"""sessionctl user …"""

from typing import Annotated, List, Optional

import typer

from sessionctl.cli.common import Json, Later, Wide

tables = Later("sessionctl.output.tables")
users = Later("sessionctl.domain.users")

app = typer.Typer(help="Register users and change their details (admins).", no_args_is_help=True)

Display = Annotated[Optional[str], typer.Option("--display", metavar="TEXT", help="Display name.")]
Email = Annotated[Optional[str], typer.Option("--email", metavar="ADDR", help="E-mail address ('' clears it).")]
Tz = Annotated[Optional[str], typer.Option("--tz", metavar="ZONE", help="Home zone, an IANA name ('' clears it).")]
Name = Annotated[Optional[str], typer.Argument(metavar="[NAME]", help="The user (default: you).")]


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Login name of the new user.")],
    role: Annotated[str, typer.Option("--role", metavar="admin|educator|student", help="The user's role.")],
    display: Display = None,
    email: Email = None,
    tz: Tz = None,
    as_json: Json = False,
) -> None:
    """Register a user (admin only)."""
    tables.user(users.add_user(ctx.obj.context(), name, role, display, email, tz), as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    role: Annotated[Optional[str], typer.Option("--role", metavar="ROLE", help="Only this role.")] = None,
    wide: Wide = False,
    as_json: Json = False,
) -> None:
    """List users (admins and educators)."""
    tables.users(users.list_users(ctx.obj.context(), role), as_json, wide=wide)


@app.command("show")
def show(ctx: typer.Context, name: Name = None, as_json: Json = False) -> None:
    """Show one user (yourself, or anyone for an admin)."""
    tables.user(users.show_user(ctx.obj.context(), name), as_json)


@app.command("set")
def set_(
    ctx: typer.Context,
    name: Name = None,
    display: Display = None,
    email: Email = None,
    tz: Tz = None,
    role: Annotated[Optional[str], typer.Option("--role", metavar="ROLE", help="New role (admin only).")] = None,
    busy: Annotated[Optional[List[str]], typer.Option(
        "--busy", metavar="SOURCE", help="A calendar whose events block slots: an ICS URL, file or vdir (repeatable; '' clears).")] = None,
    as_json: Json = False,
) -> None:
    """Change a user's details: your own, or anyone's (and roles) for an admin."""
    given = {k: v for k, v in dict(display=display, email=email, tz=tz, role=role, busy=busy).items() if v is not None}
    app_ = ctx.obj
    c = app_.context()
    tables.user(users.set_user(c, name, restricted=app_.restricted(), **given), as_json)
