"""Meeting links made for an approval (docs/reference/meeting-rooms-and-hooks.md): a course's or
the config's ``link_template``, else ``link_command``, a real executable written by each test.

The store is the ``world`` of conftest.py (ada teaches MATH101, alan and kat are enrolled); the
config files are the test's own (``XDG_CONFIG_HOME``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import future, iso, snapshot
from test_lifecycle import refused

TOKEN = r"[A-Za-z0-9_-]{22}"


def ok(world, *args, user="root", env=None):
    result = world(*args, "--json", user=user, env=env)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return json.loads(result.stdout)


def pending(world, hours=24, student="alan", course="MATH101", **slot_options):
    extra = [x for k, v in slot_options.items() for x in (f"--{k}", v)]
    [made] = ok(world, "slot", "add", "--course", course, "--start", iso(future(hours)),
                "--duration", "1h", *extra, user="ada")
    return ok(world, "request", "send", str(made["id"]), user=student)["id"]


def config(tmp_path: Path, text: str) -> dict:
    """A user config file holding ``text``; the environment that reads it."""
    folder = tmp_path / "xdg" / "sessionctl"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(text, encoding="utf-8")
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def script(tmp_path: Path, body: str, name: str = "make-link") -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(0o755)
    return path


# -- link_template -----------------------------------------------------------------------------


def test_a_course_template_makes_each_approval_its_own_room(world):
    ok(world, "course", "set", "MATH101", "--link-template",
       "https://jitsi.example.edu/{course}-{slot}-{request}-{date}-{token}", user="ada")
    first, second = pending(world, 24), pending(world, 30, student="kat")
    links = [ok(world, "request", "approve", str(r), user="ada")["link"] for r in (first, second)]
    date = future(24).strftime("%Y-%m-%d")
    assert re.fullmatch(rf"https://jitsi\.example\.edu/MATH101-\d+-{first}-{date}-{TOKEN}", links[0])
    assert links[0].rsplit("-", 1)[1] != links[1].rsplit("-", 1)[1]  # a fresh token each time
    shown = ok(world, "request", "show", str(first), user="alan")
    assert shown["link"] == links[0]  # stored on the request


def test_the_link_made_is_kept_when_the_booking_moves(world):
    ok(world, "course", "set", "MATH101", "--link-template", "https://j.example.edu/{token}",
       user="ada")
    booking = pending(world)
    link = ok(world, "request", "approve", str(booking), user="ada")["link"]
    [other] = ok(world, "slot", "add", "--course", "MATH101", "--start", iso(future(50)),
                 "--duration", "1h", user="ada")
    moved = ok(world, "request", "move", str(booking), "--to", str(other["id"]), user="ada")
    assert moved["link"] == link and moved["id"] != booking


def test_a_given_link_and_the_slots_link_come_before_any_template(world):
    ok(world, "course", "set", "MATH101", "--link-template", "https://j.example.edu/{token}",
       user="ada")
    given = ok(world, "request", "approve", str(pending(world)), "--link", "https://x.example/1",
               user="ada")
    assert given["link"] == "https://x.example/1"
    on_slot = ok(world, "request", "approve", str(pending(world, 30, link="https://slot.example/s")),
                 user="ada")
    assert on_slot["link"] == "https://slot.example/s"


def test_the_courses_template_comes_before_the_configs(world, tmp_path):
    env = config(tmp_path, 'link_template = "https://site.example.edu/{course}/{token}"\n')
    made = ok(world, "request", "approve", str(pending(world)), user="ada", env=env)
    assert re.fullmatch(rf"https://site\.example\.edu/MATH101/{TOKEN}", made["link"])
    ok(world, "course", "set", "MATH101", "--link-template", "https://own.example.edu/{token}",
       user="ada")
    made = ok(world, "request", "approve", str(pending(world, 30, student="kat")), user="ada",
              env=env)
    assert made["link"].startswith("https://own.example.edu/")


def test_an_auto_approval_gets_a_link_from_the_template(world):
    ok(world, "course", "set", "MATH101", "--auto-approve", "--link-template",
       "https://j.example.edu/{request}", user="ada")
    request = pending(world)
    assert ok(world, "request", "show", str(request))["link"] == f"https://j.example.edu/{request}"


def test_off_turns_the_template_off(world):
    ok(world, "course", "set", "MATH101", "--link-template", "https://j.example.edu/{token}",
       user="ada")
    assert ok(world, "course", "set", "MATH101", "--link-template", "off",
              user="ada")["link_template"] is None
    assert ok(world, "request", "approve", str(pending(world)), user="ada")["link"] is None


@pytest.mark.parametrize("template, says", [
    ("https://j.example.edu/{room}", "unknown placeholder {room}"),
    ("https://j.example.edu/{0}", "unknown placeholder {0}"),
    ("https://j.example.edu/{}", "unknown placeholder {}"),
    ("https://j.example.edu/{token!r}", "{token} takes no format"),
    ("https://j.example.edu/{token:>40}", "{token} takes no format"),
    ("https://j.example.edu/{token", "malformed"),
    ("{token}", "http"),
    ("ftp://j.example.edu/{token}", "http"),
    ("javascript:alert(1)//{token}", "http"),
    ("https://j.example.edu/{token}\nX-Evil: 1", "http"),
    ("https://j.example.edu/\u202e{token}", "http"),
    ("https://j.example.edu/\u200b{token}", "http"),
    ("https://j.example.edu/" + "x" * 5000, "characters"),
    ("https://j.example.edu/" + "{token}" * 300, "longer than"),
])
def test_a_bad_template_is_refused_when_set(world, template, says):
    refused(world, 2, "course", "set", "MATH101", "--link-template", template, user="ada",
            says=(says,))


def test_only_the_courses_educator_or_an_admin_sets_its_template(world):
    refused(world, 4, "course", "set", "MATH101", "--link-template", "https://j.example/{token}",
            user="alan")


def test_a_bad_template_in_the_config_is_refused_naming_its_line(world, tmp_path):
    env = config(tmp_path, '\nlink_template = "https://j.example.edu/{room}"\n')
    request = pending(world)
    refused(world, 2, "request", "approve", str(request), user="ada", env=env,
            says=("config.toml, line 2: link_template", "{room}"))


# -- link_command ------------------------------------------------------------------------------


def test_the_command_reads_the_booking_as_json_and_prints_the_link(world, tmp_path):
    seen = tmp_path / "seen.json"
    command = script(tmp_path, f'cat > "{seen}"\necho "https://bbb.example.edu/room/42"\n')
    # names and messages reach the command only inside valid JSON
    ok(world, "user", "set", "ada", "--display", 'Dr. "Ada" \\ </script> \u2603 $(reboot)')
    request = ok(world, "request", "send", str(_slot(world)), "--message",
                 'line one\nline two "quoted" \\ \t', user="alan")["id"]
    env = config(tmp_path, f'link_command = "{command}"\n')
    made = ok(world, "request", "approve", str(request), user="ada", env=env)
    assert made["link"] == "https://bbb.example.edu/room/42"
    booking = json.loads(seen.read_text(encoding="utf-8"))
    assert booking["id"] == request and booking["status"] == "pending"
    assert booking["message"] == 'line one\nline two "quoted" \\ \t'
    assert booking["course"] == "MATH101" and booking["course_title"] == "Maths"
    assert booking["student"] == "alan" and booking["student_email"] == "alan@example.edu"
    assert booking["educator_display"].startswith('Dr. "Ada"')
    assert booking["educator_email"] == "ada@example.edu"


def _slot(world, hours=24):
    [made] = ok(world, "slot", "add", "--course", "MATH101", "--start", iso(future(hours)),
                "--duration", "1h", user="ada")
    return made["id"]


def test_the_command_runs_only_when_nothing_else_gives_a_link(world, tmp_path):
    ran = tmp_path / "ran"
    command = script(tmp_path, f'touch "{ran}"\necho https://cmd.example/x\n')
    env = config(tmp_path, f'link_command = "{command}"\n')
    ok(world, "request", "approve", str(pending(world)), "--link", "https://given.example/",
       user="ada", env=env)
    ok(world, "request", "approve", str(pending(world, 30, link="https://slot.example/")),
       user="ada", env=env)
    env = config(tmp_path, f'link_command = "{command}"\n'
                 'link_template = "https://t.example/{token}"\n')
    assert ok(world, "request", "approve", str(pending(world, 36, student="kat")), user="ada",
              env=env)["link"].startswith("https://t.example/")
    assert not ran.exists()


@pytest.mark.parametrize("body, says", [
    ("echo 'no room today' >&2\necho second >&2\nexit 3\n", "exit 3: no room today"),
    ("exit 0\n", "printed no link"),
    ("echo ftp://files.example/x\n", "not an http"),
    ("echo 'https://a.example/x y'\n", "not an http"),
    ("printf 'https://a.example/1\\nhttps://a.example/2\\n'\n", "more than one line"),
    ("head -c 5000000 /dev/zero | tr '\\0' x\n", "not an http"),
    ("head -c 5000000 /dev/zero >&2\nexit 1\n", "exit 1"),
    ("kill -9 $$\n", "signal 9"),
    ("sleep 30\n", "no answer within 1 s"),
    ("printf 'https://a.example/\\377\\376\\n'\n", "not UTF-8"),
])
def test_a_failing_command_is_exit_6_and_changes_nothing(world, tmp_path, body, says):
    command = script(tmp_path, body)
    env = config(tmp_path, f'link_command = "{command}"\nlink_timeout = 1\n')
    stderr = refused(world, 6, "request", "approve", str(pending(world)), user="ada", env=env,
                     says=("link_command", says, "nothing was approved"))
    assert "\x00" not in stderr and len(stderr) < 1000


def test_a_command_that_is_not_executable_or_missing_is_exit_6(world, tmp_path):
    command = script(tmp_path, "echo https://a.example/\n")
    command.chmod(0o644)
    request = pending(world)
    for path in (command, tmp_path / "missing"):
        env = config(tmp_path, f'link_command = "{path}"\n')
        refused(world, 6, "request", "approve", str(request), user="ada", env=env,
                says=("cannot run",))


def test_the_command_runs_before_the_write_lock(world, tmp_path):
    """While the command runs, another writer gets through: it is not run under the lock."""
    import shutil
    import sys

    binary = shutil.which("sessionctl", path=os.path.dirname(sys.executable))
    other = _slot(world, 60)
    command = script(tmp_path, f'SESSIONCTL_USER=ada SESSIONCTL_LOCK_TIMEOUT=2 "{binary}" '
                     f'slot update {other} --notes "written meanwhile" >/dev/null || exit 1\n'
                     'echo https://made.example/ok\n')
    env = config(tmp_path, f'link_command = "{command}"\n')
    made = ok(world, "request", "approve", str(pending(world)), user="ada",
              env={**env, "SESSIONCTL_DB": str(world.db)})
    assert made["link"] == "https://made.example/ok"
    assert ok(world, "slot", "show", str(other))["notes"] == "written meanwhile"


@pytest.mark.parametrize("key", ["link_command", "hooks_dir"])
def test_a_program_must_be_named_by_an_absolute_path(world, tmp_path, key):
    env = config(tmp_path, f'{key} = "bin/x"\n')
    refused(world, 2, "config", "show", env=env, says=(f"{key} must be an absolute path",))


@pytest.mark.parametrize("value", ["0", "601", "-1", '"ten"'])
def test_a_bad_link_timeout_is_refused(world, tmp_path, value):
    env = config(tmp_path, f'link_command = "/bin/true"\nlink_timeout = {value}\n')
    refused(world, 2, "request", "approve", str(pending(world)), user="ada", env=env,
            says=("link_timeout",))


def test_there_is_no_variable_for_the_command(world, tmp_path):
    """Programs come from config files only: a variable names none (in the shared mode the
    caller's files are never read, docs/reference/shared-mode.md)."""
    ran = tmp_path / "ran"
    command = script(tmp_path, f'touch "{ran}"\necho https://x.example/\n')
    made = ok(world, "request", "approve", str(pending(world)), user="ada",
              env={"SESSIONCTL_LINK_COMMAND": str(command)})
    assert made["link"] is None and not ran.exists()


# -- the shared mode: the trust rule ----------------------------------------------------------

from test_shared import machine, seeded  # noqa: E402,F401 - the fake machine's fixtures


def test_in_the_shared_mode_the_command_must_be_the_service_accounts(seeded, tmp_path):
    m = seeded
    tools = tmp_path / "tools"
    tools.mkdir(mode=0o755)
    command = script(tools, "echo https://bbb.example.edu/shared\n")
    m.standard(f'link_command = "{command}"\n')
    command.chmod(0o775)  # writable by its group: anyone in it could run code as the service
    before = snapshot(m.db)
    result = m.run("request", "approve", "1", sudo="prof")
    assert result.exit_code == 4 and "writable by no one else" in result.stderr, result.stderr
    assert snapshot(m.db) == before
    command.chmod(0o755)
    tools.chmod(0o777)  # or its directory: anyone could replace it
    result = m.run("request", "approve", "1", sudo="prof")
    assert result.exit_code == 4, result.stderr
    assert snapshot(m.db) == before
    tools.chmod(0o755)
    assert m.ok("request", "approve", "1", "--json", sudo="prof")["link"] == \
        "https://bbb.example.edu/shared"


def test_in_the_shared_mode_a_callers_own_file_names_no_program(seeded, tmp_path):
    m = seeded
    ran = tmp_path / "ran"
    command = script(tmp_path, f'touch "{ran}"\necho https://evil.example/\n')
    mine = tmp_path / "callers" / "sessionctl"
    mine.mkdir(parents=True)
    (mine / "config.toml").write_text(f'link_command = "{command}"\n'
                                      f'hooks_dir = "{tmp_path}"\n', encoding="utf-8")
    made = m.ok("request", "approve", "1", "--json", sudo="prof",
                XDG_CONFIG_HOME=str(tmp_path / "callers"), HOME=str(tmp_path))
    assert made["link"] is None and not ran.exists()


def test_config_show_names_the_programs_and_where_they_come_from(world, tmp_path):
    env = config(tmp_path, 'link_template = "https://t.example/{token}"\nlink_command = "/bin/true"\n'
                 f'hooks_dir = "{tmp_path}"\nlink_timeout = 5\n')
    shown = ok(world, "config", "show", env=env)["settings"]
    assert shown["link_template"]["value"] == "https://t.example/{token}"
    assert shown["link_command"]["value"] == "/bin/true"
    assert shown["hooks_dir"]["value"] == str(tmp_path)
    assert shown["link_timeout"]["value"] == 5 and "line 4" in shown["link_timeout"]["origin"]
    assert shown["hook_timeout"] == {"value": 30.0, "origin": "default"}
