"""The database mode through the CLI (docs/reference/database-mode.md): ``init --identity``, who is
acting (the connection's login, whatever the config says), and the workflow as each login.

The store is built and converted as in tests/test_database_mode.py (its ``World``); here every
command runs as ``sessionctl`` with a person's own login in the URL and no SESSIONCTL_USER.
"""

from __future__ import annotations

import json

import pytest

from conftest import PG_SERVER, Cli, future, iso, snapshot
from test_database_mode import PASSWORD, converted, world  # noqa: F401 (fixtures)
from test_shared import machine  # noqa: F401 (a fixture: the shared mode, faked in-process)

pytestmark = pytest.mark.skipif(not PG_SERVER, reason="SESSIONCTL_TEST_PG is not set (.ci/run sets it)")


def as_login(w, who: str, *args: str, env: dict | None = None):
    """``sessionctl ARGS`` connected as ``who``'s own login, without SESSIONCTL_USER."""
    return Cli(w.url_of(who))(*args, env={"SESSIONCTL_USER": None, **(env or {})})


def test_init_identity_database_needs_postgresql_and_an_admin(tmp_path):
    db = tmp_path / "store.db"
    refused = Cli(db)("init", "--identity", "database", "--admin", "root")
    assert refused.exit_code == 2 and "PostgreSQL" in refused.stderr and refused.stdout == ""
    assert not db.exists()
    Cli(db)("init")
    before = snapshot(db)
    for args, said in [(("--identity", "database", "--admin", "root"), "PostgreSQL"),
                       (("--identity", "ldap"), "login, sudo or database"),
                       (("--admin", "root"), "--identity database")]:
        refused = Cli(db)("init", *args)
        assert refused.exit_code == 2 and said in refused.stderr, (args, refused.stderr)
    assert snapshot(db) == before
    back = Cli(db)("init", "--identity", "login", "--json")  # nothing to turn back: a no-op
    assert back.exit_code == 0 and '"turned_back": false' in back.stdout
    assert snapshot(db) == before


def test_each_person_acts_as_their_own_login_whatever_the_config_says(converted):
    w = converted
    for who, role in [("root", "admin"), ("ada", "educator"), ("alan", "student")]:
        shown = as_login(w, who, "whoami", "--json")
        assert shown.exit_code == 0, shown.stderr
        assert '"name": "%s"' % w.name[who] in shown.stdout and role in shown.stdout
    same = as_login(w, "alan", "whoami", env={"SESSIONCTL_USER": w.name["alan"]})
    assert same.exit_code == 0  # naming oneself is fine
    before = snapshot(w.url)
    for args in (("request", "approve", str(w.request["kat-s2"])), ("inbox",), ("whoami",)):
        other = as_login(w, "alan", *args, env={"SESSIONCTL_USER": w.name["ada"]})
        assert other.exit_code == 4 and other.stdout == "", other
        assert "database mode" in other.stderr and w.name["alan"] in other.stderr
        assert "Traceback" not in other.stderr
    assert snapshot(w.url) == before


def test_logins_that_are_nobody_in_the_store_are_refused_clearly(converted):
    w = converted
    with w.superuser() as con:
        con.execute(f'CREATE ROLE "stray_{w.suffix}" LOGIN PASSWORD \'{PASSWORD}\'')
        con.execute(f'CREATE ROLE "gone_{w.suffix}" NOLOGIN PASSWORD \'{PASSWORD}\' '
                    "IN ROLE sessionctl_student")
        con.execute(f'ALTER ROLE "{w.name["kat"]}" NOLOGIN')  # kat's login revoked
        con.execute(f'REVOKE sessionctl_student FROM "{w.name["lin"]}"')  # lin in no group
    before = snapshot(w.url)
    for who, code, said in [(f"stray_{w.suffix}", 4, "not a user of this store"),
                            ("lin", 4, "not a user of this store"),
                            ("kat", 6, "not permitted to log in"),
                            (f"gone_{w.suffix}", 6, "not permitted to log in"),
                            (f"nobody_{w.suffix}", 6, "does not exist")]:
        for args in (("request", "list"), ("request", "send", str(w.slot["s2"]))):
            result = as_login(w, who, *args)
            assert result.exit_code == code and said in result.stderr, (who, args, result.stderr)
            assert result.stdout == "" and "Traceback" not in result.stderr
    assert snapshot(w.url) == before


def test_turned_back_the_client_says_who_acts_again(converted):
    w = converted
    back = Cli(w.url)("init", "--identity", "sudo", user=w.name["root"])
    assert back.exit_code == 0 and "database mode is off" in back.stdout
    assert w.json("whoami", who="ada")["name"] == w.name["ada"]
    w.cli("request", "approve", str(w.request["kat-s2"]), who="ada")
    again = Cli(w.url)("init", "--identity", "login", "--json", user=w.name["root"])
    assert again.exit_code == 0 and '"turned_back": false' in again.stdout



def groups_of(w, name: str) -> list[str]:
    with w.superuser() as con:
        return [r[0] for r in con.execute(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s ORDER BY 1", (name,))]


def test_user_add_enroll_from_csv_and_role_changes_make_and_move_logins(converted, tmp_path):
    w = converted
    tom, val = f"tom_{w.suffix}", f"val_{w.suffix}"
    made = as_login(w, "root", "user", "add", tom, "--role", "student")
    assert made.exit_code == 0, made.stderr
    assert groups_of(w, tom) == ["sessionctl_student"]
    roster = tmp_path / "roster.csv"
    roster.write_text(f"name,display\n{val},Val\n")
    enrolled = as_login(w, "ada", "course", "enroll", "MATH", "--from-csv", str(roster))
    assert enrolled.exit_code == 0, enrolled.stderr
    assert groups_of(w, val) == ["sessionctl_student"]
    moved = as_login(w, "root", "user", "set", tom, "--role", "educator")
    assert moved.exit_code == 0, moved.stderr
    assert groups_of(w, tom) == ["sessionctl_educator"]
    with w.superuser() as con:
        con.execute(f'ALTER ROLE "{tom}" PASSWORD \'{PASSWORD}\'')
        admins = con.execute("SELECT rolcreaterole FROM pg_roles WHERE rolname = %s",
                             (w.name["root"],)).fetchall()
    assert admins == [(False,)]  # the admin made logins without holding CREATEROLE
    w.name["tom"] = tom
    assert as_login(w, "tom", "whoami", "--json").exit_code == 0


def test_names_no_login_can_have_are_refused_and_nothing_changes(converted, tmp_path):
    w = converted
    with w.superuser() as con:
        con.execute(f'CREATE ROLE "dba_{w.suffix}" LOGIN CREATEDB')
    before = snapshot(w.url)
    for name, code in [("postgres", 5), (f"dba_{w.suffix}", 5), ("sessionctl_definer", 5),
                       ("x" * 64, 2), ("é" * 32, 2)]:
        refused = as_login(w, "root", "user", "add", name, "--role", "student")
        assert refused.exit_code == code, (name, refused.exit_code, refused.stderr)
        assert refused.stdout == "" and "Traceback" not in refused.stderr
        roster = tmp_path / "r.csv"
        roster.write_text(f"name\n{name}\n")
        refused = as_login(w, "ada", "course", "enroll", "MATH", "--from-csv", str(roster))
        assert refused.exit_code in (code, 4), (name, refused.exit_code, refused.stderr)
    not_allowed = as_login(w, "ada", "user", "add", f"eve2_{w.suffix}", "--role", "student")
    assert not_allowed.exit_code == 4
    assert snapshot(w.url) == before


def test_the_workflow_through_the_cli_as_each_login(converted):
    """An educator adds a slot, students book, wait, cancel and are promoted, the educator
    decides: every command as the person's own login; the server counts the seats and makes the
    system's changes; each person sees what they should, in the texts of the other modes."""
    from conftest import future, iso

    w = converted

    def run(who: str, *args: str, code: int = 0):
        result = as_login(w, who, *args)
        assert result.exit_code == code, (who, args, result.exit_code, result.stderr)
        assert "Traceback" not in result.stderr
        return result

    def json_of(who: str, *args: str):
        import json

        return json.loads(run(who, *args, "--json").stdout)

    slot = json_of("ada", "slot", "add", "--course", "MATH", "--start", iso(future(96)),
                   "--duration", "1h", "--capacity", "1")[0]["id"]
    alan = json_of("alan", "request", "send", str(slot), "--message", "please")["id"]
    assert json_of("ada", "request", "approve", str(alan))["status"] == "approved"
    lin = json_of("lin", "request", "send", str(slot), "--waitlist")
    assert lin["status"] == "waiting"
    full = run("kat", "request", "send", str(slot), code=5)
    assert "slot %d is full" % slot in full.stderr and "(1 waiting)" in full.stderr
    assert json_of("alan", "request", "cancel", str(alan), "--reason", "ill")["status"] == "cancelled"
    assert json_of("lin", "request", "show", str(lin["id"]))["status"] == "pending"
    told = json_of("lin", "inbox")
    assert any("left the waitlist and awaits approval" in n["text"] for n in told)
    assert json_of("ada", "request", "approve", str(lin["id"]))["status"] == "approved"
    assert sorted(r["id"] for r in json_of("alan", "request", "list", "--status", "all")) == sorted(
        [w.request["alan-s1"], alan])
    math = [c for c in json_of("kat", "course", "list") if c["code"] == "MATH"]
    assert math[0]["enrolled"] == 3  # every student of the course, though kat sees only hers
    taken = run("bob", "course", "add", "MATH", "--title", "Again", code=5)
    assert "already exists" in taken.stderr
    with w.superuser() as con:
        assert con.execute("SELECT booked, capacity FROM slots WHERE id = %s",
                           (slot,)).fetchall() == [(1, 1)]
        by = dict(con.execute("SELECT to_status, recorded_by FROM history WHERE request_id = %s "
                              "AND from_status = 'waiting'", (lin["id"],)).fetchall())
    assert by == {"pending": w.name["alan"]}  # the system's change, made by alan's cancel


def test_a_migration_of_a_database_mode_store_is_the_owners(converted, monkeypatch):
    """A newer release's migration lifts the guards, migrates and puts them back in one
    transaction (a table it adds is closed until rls.py has its entry); a person's login that
    tries it is exit 6, and nothing changes."""
    from sessionctl.store import migrations, open_store

    w = converted
    later = migrations.MIGRATIONS + [(99, "later", "CREATE TABLE later_table (id INTEGER PRIMARY KEY);")]
    monkeypatch.setattr(migrations, "MIGRATIONS", later)
    monkeypatch.setattr(migrations, "LATEST", 99)
    before = snapshot(w.url)
    refused = as_login(w, "alan", "request", "list")
    assert refused.exit_code == 6 and refused.stdout == "" and "Traceback" not in refused.stderr
    assert snapshot(w.url) == before
    store = open_store(w.url)  # the DBA's (here a superuser's) run of the new release
    try:
        assert store.migrate(upto=99) == 99
    finally:
        store.close()
    alan = w.connect("alan")
    assert {r[0] for r in alan.execute("SELECT id FROM requests").fetchall()} == {
        w.request["alan-s1"]}  # the policies are back
    assert alan.execute("SELECT sessionctl.my_role()").fetchall() == [("student",)]
    import psycopg

    with pytest.raises(psycopg.Error):
        alan.execute("SELECT * FROM later_table")
    shown = as_login(w, "alan", "request", "list", "--json")
    assert shown.exit_code == 0, shown.stderr


def test_the_shared_modes_site_file_and_a_database_mode_store_are_refused(converted, machine):
    """The shared mode's service account would act for everyone: exit 4, nothing changed
    (the fake machine of tests/test_shared.py: no real site file, no real accounts)."""
    w = converted
    machine.write_site('identity = "sudo"\naccount = "svc"\ncommand = "/usr/local/bin/sessionctl"\n')
    own = machine.home / ".config" / "sessionctl" / "config.toml"  # the account's: a password
    own.parent.mkdir(parents=True)
    own.write_text(f'db = "{w.url_of("alan")}"\n')
    own.chmod(0o600)
    before = snapshot(w.url)
    for sudo in ("alice", None):
        result = machine.run("request", "list", sudo=sudo)
        assert result.exit_code == 4 and result.stdout == "", (result.exit_code, result.stderr)
        assert "database mode" in result.stderr and "shared mode" in result.stderr
        assert "Traceback" not in result.stderr
    assert snapshot(w.url) == before


def test_an_educator_is_told_of_a_clash_in_a_course_they_cannot_see(converted):
    """Approving a student who has an approved session at that time in another educator's
    course: the server's clash() finds it (the educator reads none of that course's rows)."""
    from conftest import future, iso

    w = converted
    start = iso(future(120))

    def made(who, *args):
        result = as_login(w, who, *args, "--json")
        assert result.exit_code == 0, (args, result.stderr)
        import json

        return json.loads(result.stdout)

    assert as_login(w, "ada", "course", "enroll", "MATH", w.name["eve"]).exit_code == 0
    math = made("ada", "slot", "add", "--course", "MATH", "--start", start, "--duration", "1h")[0]
    phys = made("bob", "slot", "add", "--course", "PHYS", "--start", start, "--duration", "1h")[0]
    mine = made("eve", "request", "send", str(math["id"]))["id"]
    other = made("eve", "request", "send", str(phys["id"]))["id"]
    made("bob", "request", "approve", str(other))
    before = snapshot(w.url)
    clash = as_login(w, "ada", "request", "approve", str(mine))
    assert clash.exit_code == 5 and clash.stdout == "", clash.stderr
    assert f"already has approved session {other}" in clash.stderr
    assert snapshot(w.url) == before


def test_hostile_admin_names_are_refused_and_nothing_changes(converted):
    w = converted
    before = snapshot(w.url)
    for name in ("ro\not", "root\u202e", "ro\u200bot", "", "-x", "\udcff"):
        refused = Cli(w.url)("init", "--identity", "database", "--admin", name)
        assert refused.exit_code == 2 and refused.stdout == "", (name, refused.stderr)
        assert "Traceback" not in refused.stderr
    assert snapshot(w.url) == before


def test_the_cron_jobs_run_as_an_admins_login(converted):
    w = converted
    reminded = as_login(w, "root", "remind", "--within", "200h", "--json")
    assert reminded.exit_code == 0, reminded.stderr
    swept = as_login(w, "root", "sweep", "--json")
    assert swept.exit_code == 0, swept.stderr
    told = as_login(w, "alan", "inbox", "--json")
    assert told.exit_code == 0 and '"reminder"' in told.stdout, told.stdout


def test_an_educator_cancels_a_slot_with_booked_and_waiting_students(converted):
    w = converted
    done = as_login(w, "ada", "slot", "cancel", str(w.slot["s1"]), "--reason", "ill", "--json")
    assert done.exit_code == 0, done.stderr
    with w.superuser() as con:
        assert con.execute("SELECT booked, cancelled_at IS NOT NULL FROM slots WHERE id = %s",
                           (w.slot["s1"],)).fetchall() == [(0, True)]
        states = dict(con.execute("SELECT id, status FROM requests WHERE slot_id = %s",
                                  (w.slot["s1"],)).fetchall())
    assert states[w.request["alan-s1"]] == "cancelled" and states[w.request["lin-s1"]] == "cancelled"
    told = as_login(w, "lin", "inbox", "--json")
    assert told.exit_code == 0 and "cancelled slot" in told.stdout


def test_a_students_move_under_auto_approve_and_an_educators_move(converted):
    w = converted
    assert as_login(w, "ada", "course", "set", "MATH", "--auto-approve").exit_code == 0
    moved = as_login(w, "alan", "request", "move", str(w.request["alan-s1"]),
                     "--to", str(w.slot["s4"]), "--json")
    assert moved.exit_code == 0, moved.stderr
    assert '"status": "approved"' in moved.stdout
    new_id = __import__("json").loads(moved.stdout)["id"]
    back = as_login(w, "ada", "request", "move", str(new_id), "--to", str(w.slot["s2"]), "--json")
    assert back.exit_code == 0, back.stderr
    with w.superuser() as con:
        seats = dict(con.execute("SELECT id, booked FROM slots").fetchall())
        over = con.execute("SELECT count(*) FROM slots WHERE booked > capacity").fetchone()[0]
    assert seats[w.slot["s4"]] == 0 and seats[w.slot["s2"]] == 1 and over == 0
    # the seat alan left on s1 went to lin, the first on its waitlist, approved at once
    shown = as_login(w, "lin", "request", "show", str(w.request["lin-s1"]), "--json")
    assert '"status": "approved"' in shown.stdout, shown.stdout


def test_busy_sources_in_the_database_mode_are_urls_only_and_their_owners(converted, tmp_path):
    """In this mode the client fetches for a store others share: a busy source is an http(s)
    URL stored with `user set --busy`, never a file, and loopback addresses are refused
    (docs/reference/busy-times.md); the secret URLs are their owner's and the admins' alone."""
    w = converted
    calendar = tmp_path / "cal.ics"
    calendar.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
    before = snapshot(w.url)
    refused = as_login(w, "ada", "user", "set", "--busy", str(calendar))
    assert refused.exit_code == 4 and refused.stdout == "" and "Traceback" not in refused.stderr
    assert snapshot(w.url) == before
    secret = "http://127.0.0.1:9/private/s3cr3t-token/basic.ics"
    assert as_login(w, "ada", "user", "set", "--busy", secret).exit_code == 0
    before = snapshot(w.url)
    added = as_login(w, "ada", "slot", "add", "--course", "MATH", "--start", iso(future(120)),
                     "--duration", "30m")
    assert added.exit_code == 6 and "loopback, private or link-local" in added.stderr
    assert "s3cr3t-token" not in added.stderr and snapshot(w.url) == before
    for who, rows in (("alan", 0), ("bob", 0), ("ada", 1), ("root", 1)):
        seen = w.connect(who).execute("SELECT source FROM busy_sources").fetchall()
        assert len(seen) == rows, (who, seen)
    with pytest.raises(Exception, match="row-level security"):
        w.connect("bob").execute("INSERT INTO busy_sources (user_id, position, source) "
                                 "VALUES (%s, 2, 'http://x.example/')", (w.id["ada"],))


def test_feed_tokens_in_the_database_mode_are_their_owners_and_the_admins(converted):
    """A feed's token is the secret that opens someone's calendar (docs/reference/calendars.md):
    each login makes and sees its own, the admin's cron job reads them all, nobody else any."""
    w = converted
    env = {"SESSIONCTL_FEED_BASE": "https://feeds.example/"}
    mine = as_login(w, "alan", "feed", "url", env=env)
    assert mine.exit_code == 0 and mine.stdout.startswith("https://feeds.example/"), mine.stderr
    token = mine.stdout.strip().rsplit("/", 1)[1].removesuffix(".ics")
    assert as_login(w, "alan", "feed", "url", env=env).stdout == mine.stdout  # made once
    for who, seen in (("kat", []), ("ada", []), ("alan", [(token,)]), ("root", [(token,)])):
        assert w.connect(who).execute("SELECT token FROM feed_tokens").fetchall() == seen, who
    with pytest.raises(Exception, match="row-level security"):
        w.connect("kat").execute("INSERT INTO feed_tokens (user_id, token) VALUES (%s, %s)",
                                 (w.id["alan"], "0" * 40))


def test_programs_in_the_database_mode_come_from_the_site_file_alone(converted, tmp_path):
    """Everyone runs as themselves against one server: a user's own file names no
    link_command and no hooks_dir there; the site file's link_command is run
    (docs/reference/meeting-rooms-and-hooks.md#who-may-set-them)."""
    w = converted
    ran = tmp_path / "ran"
    mine = tmp_path / "mine"
    mine.write_text(f'#!/bin/sh\ntouch "{ran}"\necho https://mine.example/\n')
    mine.chmod(0o755)
    (tmp_path / "user" / "sessionctl").mkdir(parents=True)
    (tmp_path / "user" / "sessionctl" / "config.toml").write_text(
        f'link_command = "{mine}"\nhooks_dir = "{tmp_path}"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path / "user")}
    approved = as_login(w, "ada", "request", "approve", str(w.request["kat-s2"]), "--json", env=env)
    assert approved.exit_code == 0, approved.stderr
    assert '"link": null' in approved.stdout and not ran.exists()
    hooks = as_login(w, "root", "hooks", "run", env=env)
    assert hooks.exit_code == 2 and "no hooks_dir is set" in hooks.stderr
    site = tmp_path / "site" / "sessionctl"
    site.mkdir(parents=True)
    room = tmp_path / "room"
    room.write_text("#!/bin/sh\necho https://site.example/room\n")
    room.chmod(0o755)
    (site / "config.toml").write_text(f'link_command = "{room}"\n')
    sent = as_login(w, "alan", "request", "send", str(w.slot["s4"]), "--json")
    assert sent.exit_code == 0, sent.stderr
    request = str(json.loads(sent.stdout)["id"])
    made = as_login(w, "ada", "request", "approve", request, "--json",
                    env={**env, "XDG_CONFIG_DIRS": str(tmp_path / "site")})
    assert made.exit_code == 0 and '"link": "https://site.example/room"' in made.stdout, made
    assert not ran.exists()


@pytest.mark.parametrize("who", ["alan", "root"])
@pytest.mark.parametrize("identity", ["login", "database"])
def test_only_the_owner_turns_the_mode_on_or_off_said_plainly(converted, who, identity):
    """A person's login (the admin's too) running init --identity is exit 4 naming who may,
    not a permission error from half-way; nothing changes."""
    w = converted
    before = snapshot(w.url)
    extra = ("--admin", "root") if identity == "database" else ()
    refused = as_login(w, who, "init", "--identity", identity, *extra)
    assert refused.exit_code == 4 and refused.stdout == "", refused.stderr
    assert "only the store's owner" in refused.stderr and "Traceback" not in refused.stderr
    assert snapshot(w.url) == before
