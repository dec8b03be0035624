"""docs/reference/settings.md#config-files: the site and user files, their precedence, ``config show``.

Each test points the site and user config directories at temp dirs of its own (platformdirs
honours XDG_CONFIG_DIRS and XDG_CONFIG_HOME). The shared mode has tests of its own
(test_shared.py, test_shared_e2e.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import snapshot
from runkit import refused_unchanged

BIN = Path(sys.executable).with_name("sessionctl")


class Files:
    def __init__(self, root: Path):
        self.site = root / "site" / "sessionctl" / "config.toml"
        self.user = root / "user" / "sessionctl" / "config.toml"
        for path in (self.site, self.user):
            path.parent.mkdir(parents=True)

    def write(self, which: str, text: str | bytes) -> Path:
        path = getattr(self, which)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture
def files(tmp_path, monkeypatch) -> Files:
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "site"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user"))
    return Files(tmp_path)


def shown(cli, *args, env=None) -> dict:
    """``config show --json``'s settings: {key: (value, origin)}."""
    result = cli(*args, "config", "show", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    return {k: (v["value"], v["origin"]) for k, v in data["settings"].items()}


def refused(result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


# -- precedence -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key, site, user, variable, flag", [
    ("db", "/srv/site.db", "/srv/user.db", "/srv/env.db", "/srv/flag.db"),
    ("tz", "Asia/Tokyo", "Europe/Berlin", "America/New_York", "Australia/Sydney"),
    ("lock_timeout", 1, 2.5, "3", None),
    ("smtp_timeout", 4, 5, "6", None),
    ("smtp", "smtp://site.example", "smtp://user.example", "smtp://env.example", None),
    ("mail_from", "site@example.edu", "user@example.edu", "env@example.edu", None),
])
def test_flag_beats_environment_beats_user_file_beats_site_file_beats_default(
        cli, files, monkeypatch, key, site, user, variable, flag):
    name = f"SESSIONCTL_{key.upper()}"
    monkeypatch.delenv(name, raising=False)
    env = {name: None}
    default = shown(cli, env=env)[key]
    assert default[1].startswith("default")

    literal = json.dumps(site)
    site_path = files.write("site", f"# the site's\n\n{key} = {literal}\n")
    assert shown(cli, env=env)[key] == (site, f"{site_path}, line 3")

    user_path = files.write("user", f"{key} = {json.dumps(user)}\n")
    assert shown(cli, env=env)[key] == (user, f"{user_path}, line 1")

    value = float(variable) if key.endswith("timeout") else variable
    assert shown(cli, env={name: variable})[key] == (value, name)
    if flag is not None:
        assert shown(cli, f"--{key}", flag, env={name: variable})[key] == (flag, f"--{key}")


def test_color_flag_then_no_color_and_force_color_then_files(cli, files):
    env = {"NO_COLOR": None, "FORCE_COLOR": None}
    assert shown(cli, env=env)["color"] == ("auto", "default")
    site = files.write("site", 'color = "always"\n')
    assert shown(cli, env=env)["color"] == ("always", f"{site}, line 1")
    user = files.write("user", 'color = "never"\n')
    assert shown(cli, env=env)["color"] == ("never", f"{user}, line 1")
    assert shown(cli, env={"FORCE_COLOR": "1", "NO_COLOR": None})["color"] == ("always", "FORCE_COLOR")
    assert shown(cli, env={"NO_COLOR": "1", "FORCE_COLOR": "1"})["color"] == ("never", "NO_COLOR")
    assert shown(cli, "--color", "always", env={"NO_COLOR": "1"})["color"] == ("always", "--color")


def test_pager_no_pager_then_variable_then_files_then_pager_then_default(cli, files):
    env = {"SESSIONCTL_PAGER": None, "PAGER": None}
    assert shown(cli, env=env)["pager"] == ("less -FRX", "default")
    assert shown(cli, env={**env, "PAGER": "more"})["pager"] == ("more", "PAGER")
    site = files.write("site", 'pager = "most"\n')
    # like git's core.pager, the files win over the generic PAGER
    assert shown(cli, env={**env, "PAGER": "more"})["pager"] == ("most", f"{site}, line 1")
    user = files.write("user", 'pager = "less -S"\n')
    assert shown(cli, env=env)["pager"] == ("less -S", f"{user}, line 1")
    assert shown(cli, env={"SESSIONCTL_PAGER": "", "PAGER": None})["pager"] == ("", "SESSIONCTL_PAGER")
    assert shown(cli, "--no-pager", env=env)["pager"] == (None, "--no-pager")


# -- the files are used ----------------------------------------------------------------------------


def test_the_store_zone_and_colour_come_from_the_files(cli, files, tmp_path, monkeypatch):
    monkeypatch.delenv("SESSIONCTL_DB")
    monkeypatch.delenv("SESSIONCTL_TZ")
    store = tmp_path / "from-site.db"
    files.write("site", f'db = "{store}"\ntz = "Asia/Tokyo"\n')
    files.write("user", 'tz = "Europe/Berlin"\ncolor = "always"\n')
    env = {"SESSIONCTL_DB": None, "SESSIONCTL_TZ": None, "NO_COLOR": None}
    assert cli("init", env=env).exit_code == 0
    assert store.exists()
    assert cli("user", "add", "ada", "--role", "educator", env=env).exit_code == 0
    assert cli("course", "add", "M1", "--title", "M", user="ada", env=env).exit_code == 0
    added = cli("slot", "add", "--course", "M1", "--start", "tomorrow 10:00", "--duration", "1h",
                user="ada", env=env)
    assert added.exit_code == 0, added.stderr
    listed = cli("slot", "list", user="ada", env=env).stdout
    assert "Europe/Berlin" in listed and "\x1b[32m" in listed  # the user file's zone and colour
    slots = cli("slot", "list", "--json", user="ada", env=env).stdout
    assert "\x1b" not in slots
    start = datetime.fromisoformat(json.loads(slots)[0]["start"].replace("Z", "+00:00"))
    assert start.astimezone(ZoneInfo("Europe/Berlin")).hour == 10


def test_an_smtp_url_from_a_file_is_the_one_notify_send_uses(world, files):
    files.write("site", 'smtp = "ftp://mail.example.edu"\n')
    refused(world("notify", "send", env={"SESSIONCTL_SMTP": None}), 2, "ftp:")


def test_lock_timeout_from_a_file_is_the_one_used(cli, files):
    files.write("user", "lock_timeout = 0.5\n")
    assert shown(cli, env={"SESSIONCTL_LOCK_TIMEOUT": None})["lock_timeout"][0] == 0.5


def test_config_show_needs_no_store(cli, tmp_path):
    result = cli("config", "show")
    assert result.exit_code == 0, result.stderr
    assert not cli.db.exists()
    for needle in ("db", "lock_timeout", "identity", "site file:", "user file:", "mode: personal"):
        assert needle in result.stdout


# -- malformed files: exit 2, naming the file and the line -------------------------------------------


@pytest.mark.parametrize("text, line, needle", [
    ('db = "/srv/a.db"\ntz = \n', 2, "invalid value"),
    ('db = "/srv/a.db"\n\ncolour = "never"\n', 3, "unknown key 'colour'"),
    ('tz = "UTC"\nlock_timeout = "ten"\n', 2, "lock_timeout must be a number"),
    ('smtp_timeout = 0\n', 1, "smtp_timeout must be a number of seconds above 0"),
    ('lock_timeout = 86400\n', 1, "up to 3600"),
    ('lock_timeout = true\n', 1, "not true/false"),
    ('db = 5\n', 1, "db must be a string"),
    ('\n\n[db]\npath = "x"\n', 3, "db must be a string"),
    ('mail_from = ["a", "b"]\n', 1, "mail_from must be a string"),
    ('color = "sometimes"\n', 1, "color must be auto, always or never"),
    ('tz = "Mars/Olympus"\n', 1, "unknown time zone"),
    ('mail_from = "a@example.edu\\r\\nBcc: all@example.edu"\n', 1, "line break"),
    ('pager = """less\n-R"""\n', 1, "line break"),
    ('db = "relative/store.db"\n', 1, "absolute path"),
    ('db = "mysql://host/db"\n', 1, "absolute path"),
    ('pager = "less \'-R"\n', 1, "cannot split"),
    ('a.b.c = 1\n', 1, "unknown key 'a'"),
    ('"db" = "/x.db"\n"db" = "/y.db"\n', 2, "line 2"),
])
def test_a_malformed_user_file_is_a_usage_error_naming_file_and_line(world, files, text, line, needle):
    path = files.write("user", text)
    before = snapshot(world.db)
    for args in (("slot", "list"), ("config", "show")):
        result = world(*args)
        refused(result, 2, str(path), needle)
        assert f"line {line}" in result.stderr, result.stderr
    assert snapshot(world.db) == before


def test_invalid_utf8_names_its_line(cli, files):
    path = files.write("site", b'tz = "UTC"\n# caf\xe9\n')
    refused(cli("config", "show"), 2, f"{path}, line 2", "UTF-8")


def test_site_only_keys_in_the_user_file_are_refused(cli, files):
    for key in ("identity = \"sudo\"", "account = \"svc\"", "command = \"/usr/bin/sessionctl\""):
        path = files.write("user", key + "\n")
        refused(cli("config", "show"), 2, f"{path}, line 1", "only in the site file")


def test_sudo_mode_in_a_site_file_that_is_not_the_fixed_one_is_refused(cli, files):
    path = files.write("site", 'identity = "sudo"\naccount = "nobody"\n')
    refused(cli("whoami"), 4, f"{path}, line 1", "/etc/xdg/sessionctl/config.toml")


def test_identity_login_is_the_personal_mode(cli, files):
    files.write("site", 'identity = "login"\n')
    assert shown(cli)["identity"][0] == "login"
    assert cli("init").exit_code == 0


def test_a_bom_and_comments_are_fine(cli, files):
    files.write("user", '\ufeff# my settings\ntz = "UTC" # where I am\n')
    assert shown(cli, env={"SESSIONCTL_TZ": None})["tz"][0] == "UTC"


# -- hostile files at the config path ----------------------------------------------------------------


def test_a_directory_fifo_symlink_loop_or_huge_file_is_refused(cli, files):
    path = files.user
    path.mkdir()
    refused(cli("config", "show"), 2, str(path), "is a directory")
    path.rmdir()
    os.mkfifo(path)
    refused(cli("config", "show"), 2, str(path), "not a regular file")  # and it did not block
    path.unlink()
    path.symlink_to(path.name)
    refused(cli("config", "show"), 2, str(path), "symbolic links")
    path.unlink()
    path.write_bytes(b"#" * (2**20 + 1))
    refused(cli("config", "show"), 2, str(path), "larger than 1 MiB")
    path.unlink()
    path.symlink_to("/dev/zero")
    refused(cli("config", "show"), 2, str(path), "not a regular file")
    path.unlink()
    path.symlink_to(path.parent / "missing.toml")  # a dangling link: no file, like none
    assert cli("config", "show").exit_code == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_refused(cli, files):
    path = files.write("user", 'tz = "UTC"\n')
    path.chmod(0)
    refused(cli("config", "show"), 2, str(path), "Permission denied")


# -- passwords ------------------------------------------------------------------------------------


def test_config_show_masks_every_password(cli, files):
    files.write("user", 'db = "postgresql://svc:db-secret@db.example.edu/sessions"\n'
                        'smtp = "smtp://mailer:smtp-secret@mail.example.edu:587?starttls=1"\n')
    env = {"SESSIONCTL_DB": None, "SESSIONCTL_SMTP_PASSWORD": "env-secret"}
    for args in (("config", "show"), ("config", "show", "--json")):
        result = cli(*args, env=env)
        assert result.exit_code == 0, result.stderr
        for secret in ("db-secret", "smtp-secret", "env-secret"):
            assert secret not in result.stdout + result.stderr
    settings = shown(cli, env=env)
    assert settings["db"][0] == "postgresql://svc:***@db.example.edu/sessions"
    assert settings["smtp"][0] == "smtp://mailer:***@mail.example.edu:587?starttls=1"
    assert settings["smtp_password"] == ("***", "SESSIONCTL_SMTP_PASSWORD")


def test_values_nested_thousands_deep_are_a_malformed_file(cli, files):
    path = files.write("user", "x = " + "[" * 5000 + "]" * 5000 + "\n")
    refused(cli("config", "show"), 2, str(path), "nested too deep")


def test_a_password_in_the_query_string_is_masked_too(cli, files):
    """libpq takes ``?password=`` (and ``sslpassword``) in the URL's query as well."""
    files.write("user", 'db = "postgresql://svc@db.example.edu/sessions?sslmode=require'
                        '&password=q-secret&SSLPASSWORD=k-secret"\n')
    result = cli("config", "show", env={"SESSIONCTL_DB": None})
    assert result.exit_code == 0, result.stderr
    assert "q-secret" not in result.stdout and "k-secret" not in result.stdout
    assert shown(cli, env={"SESSIONCTL_DB": None})["db"][0] == (
        "postgresql://svc@db.example.edu/sessions?sslmode=require&password=***&SSLPASSWORD=***")


def test_whoami_and_init_never_print_a_query_string_password(location):
    if not location.startswith("postgresql://"):
        pytest.skip("a server URL")
    from typer.testing import CliRunner

    from sessionctl.cli import app

    url = location + "?password=not-needed-but-secret"
    env = {"SESSIONCTL_DB": url, "SESSIONCTL_USER": "root", "SESSIONCTL_TZ": "UTC",
           "NO_COLOR": "1"}
    for args in (["init"], ["whoami"], ["whoami", "--json"]):
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        assert "not-needed-but-secret" not in result.stdout + result.stderr
        assert "password=***" in result.stdout


# -- cost -----------------------------------------------------------------------------------------------


def importtime(tmp_path, env_extra) -> str:
    env = {**os.environ, "SESSIONCTL_DB": str(tmp_path / "none.db"), "SESSIONCTL_USER": "x",
           **env_extra}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "sessionctl", "config", "show"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_without_a_config_file_the_toml_parser_is_never_imported(tmp_path):
    empty = tmp_path / "empty"
    assert "tomllib" not in importtime(tmp_path, {"XDG_CONFIG_HOME": str(empty),
                                                  "XDG_CONFIG_DIRS": str(empty)})
    user = tmp_path / "user" / "sessionctl"
    user.mkdir(parents=True)
    (user / "config.toml").write_text('tz = "UTC"\n', encoding="utf-8")
    assert "tomllib" in importtime(tmp_path, {"XDG_CONFIG_HOME": str(tmp_path / "user"),
                                              "XDG_CONFIG_DIRS": str(empty)})


def test_the_installed_command_reads_the_files(tmp_path):
    user = tmp_path / "user" / "sessionctl"
    user.mkdir(parents=True)
    (user / "config.toml").write_text(f'db = "{tmp_path}/x.db"\nlock_timeout = 7\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "user"), XDG_CONFIG_DIRS=str(tmp_path / "none"),
               SESSIONCTL_USER="grace")
    result = subprocess.run([str(BIN), "config", "show", "--json"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["settings"]["db"]["value"] == f"{tmp_path}/x.db"
    assert data["settings"]["lock_timeout"] == {"value": 7.0, "origin": f"{user}/config.toml, line 2"}
    assert data["files"][1] == {"layer": "user", "path": f"{user}/config.toml", "found": True}


@pytest.mark.parametrize("home", ["/home/grace", "/home/grace/", "/"])
def test_the_default_locations_are_platformdirs_own(monkeypatch, home):
    """The shortcut that spares most commands importing platformdirs gives its answer."""
    import platformdirs

    from sessionctl.configfile import personal_files

    for name in ("XDG_CONFIG_HOME", "XDG_CONFIG_DIRS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", home)
    expected = (os.path.join(platformdirs.site_config_dir("sessionctl"), "config.toml"),
                os.path.join(platformdirs.user_config_dir("sessionctl"), "config.toml"))
    assert personal_files() == expected


@pytest.mark.parametrize("raw", ["٣", "1_0", "1e1", "0x10", "+5", "-0", "nan", "5.", ".5", "1" * 20])
def test_a_lock_timeout_is_written_in_ascii_digits(cli, raw):
    result = cli("whoami", env={"SESSIONCTL_LOCK_TIMEOUT": raw})
    assert result.exit_code == 2 and result.stdout == ""
    assert "SESSIONCTL_LOCK_TIMEOUT must be a number of seconds" in result.stderr


# -- found by the third attack pass: mail_from checked as notify send checks it, a HOME that is not UTF-8 ---

@pytest.mark.parametrize("sender", ["a@example.edu, b@evil.example", "bad <<", "not an address",
                                    "a@example.edu\u202e"])
def test_config_show_checks_mail_from_like_notify_send(world, files, sender):
    refused_unchanged(world, ["config", "show"], 2, "error: SESSIONCTL_MAIL_FROM: ",
            env={"SESSIONCTL_MAIL_FROM": sender})
    path = files.write("user", f'mail_from = "{sender}"\n')
    if "\u202e" not in sender:  # the file refuses that one itself
        refused_unchanged(world, ["config", "show", "--json"], 2, f"error: {path}, line 1: invalid ")
    assert world("config", "show", env={"SESSIONCTL_MAIL_FROM": "Sessions <s@example.edu>"}).exit_code == 0


def test_a_home_that_is_not_utf8_is_a_usage_error(tmp_path):
    for env in ({"HOME": "/tmp/\udcff"}, {"HOME": str(tmp_path), "XDG_DATA_HOME": "/tmp/\udcfe"}):
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("SESSIONCTL_", "XDG_DATA"))}
        environ.update(SESSIONCTL_USER="root", **env)
        for args in (["whoami"], ["init"]):
            result = subprocess.run([sys.executable, "-m", "sessionctl", *args], capture_output=True,
                                    text=True, env=environ, timeout=60)
            name = "XDG_DATA_HOME" if "XDG_DATA_HOME" in env else "HOME"
            assert (result.returncode, result.stderr) == (2, f"error: {name} is not valid UTF-8\n")
    assert os.listdir(tmp_path) == []


def test_config_show_hides_the_password_of_a_url_a_slash_short(world):
    shown = world("config", "show", env={"SESSIONCTL_SMTP": "smtp:/user:TopSecret@mail.example.edu"})
    assert shown.exit_code == 0 and "TopSecret" not in shown.stdout
    assert "smtp:/user:***@mail.example.edu" in shown.stdout
