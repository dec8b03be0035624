"""Top-level commands: init, whoami, demo, sweep, remind, inbox, agenda, help."""

from typing import Annotated, Optional

import typer

from sessionctl.cli.common import NUMBER, Json, Later, Quiet, Wide
from sessionctl.errors import UsageError

tables = Later("sessionctl.output.tables")

app = typer.Typer()  # the root's own commands: the root builds each when used (COMMANDS)


def init(
    ctx: typer.Context,
    identity: Annotated[Optional[str], typer.Option(
        "--identity", metavar="login|sudo|database",
        help="database: every person their own PostgreSQL login, the server guarding every "
             "row (run once by the DBA); login or sudo: turn that back.")] = None,
    admin: Annotated[Optional[str], typer.Option(
        "--admin", metavar="NAME", help="With --identity database: the first admin.")] = None,
    as_json: Json = False,
) -> None:
    """Create (or migrate) the store; the first caller becomes admin. Idempotent."""
    from sessionctl.domain import users

    app_ = ctx.obj
    if identity == "database" and not app_.location.startswith(("postgresql://", "postgres://")):
        raise UsageError("init --identity database needs a PostgreSQL store",
                         hint="set db to postgresql://HOST/DB (see docs/reference/database-mode.md)")
    if identity not in (None, "login", "sudo", "database"):
        raise UsageError(f"--identity must be login, sudo or database, not {identity!r}")
    if admin is not None and identity != "database":
        raise UsageError("--admin goes with --identity database")
    store = app_.store(create=True)
    data = {"store": store.location, "admin": None}
    if identity is not None:
        data.update(users.set_identity(store, identity, admin, now=app_.now()))
    elif store.identity != "database":  # there the DBA names the first admin
        view, promoted = users.register_first_admin(store, app_.actor_name(), now=app_.now())
        data["admin"] = view.name if promoted else None
    data["schema"] = store.version()
    tables.initialized(data, as_json)


def whoami(ctx: typer.Context, as_json: Json = False) -> None:
    """Show who you are acting as (registered or not), and which store."""
    from sessionctl.domain import users

    app_ = ctx.obj
    store, name = app_.store(), app_.actor_name()
    view, unread = users.lookup(store, name)
    tables.whoami(name, view, store.location, as_json, unread=unread)


def sweep(ctx: typer.Context, as_json: Json = False, quiet: Quiet = False) -> None:
    """For cron: complete ended sessions, expire pending requests whose slot started."""
    from sessionctl.domain import requests

    done = requests.sweep(ctx.obj.context())
    if not quiet:
        tables.counts(done, as_json)


def remind(
    ctx: typer.Context,
    within: Annotated[str, typer.Option(
        "--within", metavar="DURATION", help="Remind of sessions starting within this time from now, e.g. 24h."
    )],
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """For cron: remind student and educator of approved sessions starting soon, once each."""
    from sessionctl.domain import reminders

    app_ = ctx.obj
    done = reminders.remind(app_.context(), app_.duration(within))
    if not quiet:
        tables.counts(done, as_json)


def inbox(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include notifications already read.")] = False,
    unread: Annotated[bool, typer.Option("--unread", help="Only the unread ones (the default; not with --all).")] = False,
    peek: Annotated[bool, typer.Option("--peek", help="Do not mark shown notifications read.")] = False,
    wide: Wide = False,
    as_json: Json = False,
) -> None:
    """Your notifications, newest first; shown unread ones become read unless --peek."""
    from sessionctl.domain import inbox as inbox_domain

    if all_ and unread:
        from sessionctl.errors import UsageError

        raise UsageError("--all and --unread cannot be given together",
                         hint="--unread shows the unread ones only, --all every one")
    c = ctx.obj.context()
    shown = inbox_domain.inbox(c, everything=all_)
    tables.notifications(shown, c.tz, as_json, wide=wide)
    if not peek:  # only once they were written: output that failed leaves them unread
        inbox_domain.mark_read(c, shown)


def agenda(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", metavar="N", click_type=NUMBER, help="How many days, today included.")] = 7,
    as_json: Json = False,
) -> None:
    """What is ahead for you, by day: your sessions and requests, or your slots and who booked them."""
    from sessionctl.domain import agenda as agenda_domain

    c = ctx.obj.context()
    tables.agenda(agenda_domain.agenda(c, days), c.tz, as_json, days)


def demo(
    ctx: typer.Context,
    db: Annotated[Optional[str], typer.Option(
        "--db", metavar="PATH", help="Where to build the demo store (default: a new temp dir). Must not exist."
    )] = None,
) -> None:
    """Build a throwaway store and walk through the whole educator/student workflow."""
    from sessionctl.cli.demo import run_demo

    if db is not None:
        ctx.obj.settings.caller_path("--db", db, hint="leave out --db: the demo builds its store "
                                     "in a new temp dir")
    tz = ctx.obj.display_zone()
    ctx.obj.settings.lock_timeout  # a malformed setting is refused before the transcript starts
    return run_demo(ctx, db, tz, keep=ctx.obj.settings.shared is None)


def help_(
    ctx: typer.Context,
    command: Annotated[Optional[list[str]], typer.Argument(
        metavar="[COMMAND]...", help="A command, or a group and one of its commands (slot add).",
        show_default=False)] = None,
) -> None:
    """Show the help of sessionctl or of a command: the same as COMMAND --help."""
    from sessionctl.output import terminal

    current, said = ctx.find_root(), []
    for name in command or []:
        get = getattr(current.command, "get_command", None)
        found = get(current, name) if get is not None else None
        if found is None:
            import difflib

            from sessionctl.errors import UsageError

            names = list(getattr(current.command, "commands", None) or ())
            close = difflib.get_close_matches(name, names, n=1)
            where = " ".join(["sessionctl", *said])
            raise UsageError(f"no such command: {where} {name}"
                             + (f"; did you mean '{close[0]}'?" if close else ""),
                             hint=f"see '{where} --help'")
        said.append(name)
        current = type(current)(found, info_name=name, parent=current)
    terminal.write(current.get_help() + "\n")


app.command("init")(init)
app.command("whoami")(whoami)
app.command("demo")(demo)
app.command("sweep")(sweep)
app.command("remind")(remind)
app.command("inbox")(inbox)
app.command("agenda")(agenda)
app.command("help")(help_)
