"""docs/reference/completion.md: Typer's scripts for bash, zsh and fish, and the installed command
answering the shell the way each script asks it, with the commands, options, course codes and
slot and request ids the acting user could list, and nothing at all on any error.

Every completion here runs the installed ``sessionctl`` in a subprocess with the environment
the shell's completion function gives it (``_SESSIONCTL_COMPLETE`` and ``COMP_WORDS`` /
``_TYPER_COMPLETE_ARGS``); real bash runs the script itself, and zsh and fish do too where they
are installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.completion import get_completion_script

from conftest import Cli, future, iso

BIN = Path(sys.executable).with_name("sessionctl")
SCRIPT_SHELLS = ("bash", "zsh", "fish")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    """root; educators ada (MATH101, CS2) and bob (PHYS1); alan in MATH101; kat in MATH101 and
    PHYS1; an old store's course with a hostile title and an invalid code, alan enrolled."""
    folder = tmp_path_factory.mktemp("completion")
    cli = Cli(folder / "store.db")

    def ok(*args, user="root"):
        result = cli(*args, "--json", user=user)
        assert result.exit_code == 0, (args, result.stderr)
        return json.loads(result.stdout)

    ok("init")
    for name, role in [("ada", "educator"), ("bob", "educator"), ("alan", "student"),
                       ("kat", "student")]:
        ok("user", "add", name, "--role", role)
    ok("course", "add", "MATH101", "--title", "Maths & more", user="ada")
    ok("course", "add", "CS2", "--title", "Programming", user="ada")
    ok("course", "add", "PHYS1", "--title", "Physics", user="bob")
    ok("course", "enroll", "MATH101", "alan", "kat", user="ada")
    ok("course", "enroll", "PHYS1", "kat", user="bob")
    math = [ok("slot", "add", "--course", "MATH101", "--start", iso(future(48 + i)), "--duration",
               "1h", user="ada")[0]["id"] for i in range(11)]
    phys = ok("slot", "add", "--course", "PHYS1", "--start", iso(future(48)), "--duration", "1h",
              user="bob")[0]["id"]
    alans = ok("request", "send", str(math[0]), user="alan")["id"]
    kats = [ok("request", "send", str(math[1]), user="kat")["id"],
            ok("request", "send", str(phys), user="kat")["id"]]
    marker = folder / "pwned"
    con = sqlite3.connect(cli.db)
    with con:  # what input checks refuse today, as an old store may hold it
        ada = con.execute("SELECT id FROM users WHERE name = 'ada'").fetchone()[0]
        alan = con.execute("SELECT id FROM users WHERE name = 'alan'").fetchone()[0]
        hostile = (f'\\$(touch {marker})"; touch {marker}; "`touch {marker}`\'\n'
                   "\u202eevil\\")
        for code, title in [("OLD", hostile), ("BAD;touch x", "Bad code")]:
            course = con.execute(
                "INSERT INTO courses (code, title, educator_id, created_at) "
                "VALUES (?, ?, ?, '2026-01-01 00:00:00')", (code, title, ada)).lastrowid
            con.execute("INSERT INTO enrollments (course_id, student_id, created_at) "
                        "VALUES (?, ?, '2026-01-01 00:00:00')", (course, alan))
    con.close()
    return {"db": cli.db, "math": math, "phys": phys, "alans": alans, "kats": kats,
            "marker": marker, "cli": cli}


def env_for(db, user: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SESSIONCTL_", "_SESSIONCTL_", "_TYPER_", "COMP_"))}
    env.update(SESSIONCTL_DB=str(db), SESSIONCTL_USER=user, SESSIONCTL_TZ="UTC")
    env.update(extra)
    return env


def ask(shell: str, line: str, user: str, db, **extra) -> subprocess.CompletedProcess:
    """Run sessionctl as ``shell``'s completion function does for the text ``line``."""
    env = env_for(db, user, _SESSIONCTL_COMPLETE=f"complete_{shell}", **extra)
    if shell == "bash":  # "${COMP_WORDS[*]}" and the index of the word under the cursor
        env.update(COMP_WORDS=line, COMP_CWORD=str(len(line.split(" ")) - 1))
    else:  # zsh: "${words[1,$CURRENT]}"; fish: (commandline -cp)
        env.update(_TYPER_COMPLETE_ARGS=line)
        if shell == "fish":
            env.update(_TYPER_COMPLETE_FISH_ACTION="get-args")
    return subprocess.run([str(BIN)], env=env, capture_output=True, text=True, timeout=60)


def values(shell: str, line: str, user: str, db, **extra) -> list[str]:
    """The candidates the shell would offer; asserts the run was silent and successful."""
    done = ask(shell, line, user, db, **extra)
    assert (done.returncode, done.stderr) == (0, ""), (line, done.returncode, done.stderr)
    out = done.stdout
    if shell == "zsh":
        if out.strip() == "_files":  # no candidates: zsh offers files
            return []
        assert out.startswith("_arguments '*: :((") and out.rstrip().endswith("))'"), out
        return re.findall(r'^"([^"]*)"', out[len("_arguments '*: :(("):], re.M)
    return [line.split("\t")[0] for line in out.splitlines() if line]


def ids(items) -> list[str]:
    return sorted(str(i) for i in items)


# -- the scripts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", SCRIPT_SHELLS)
def test_show_completion_prints_typers_script_for_the_named_shell(shell, store):
    done = subprocess.run([str(BIN), "--show-completion", shell], env=env_for(store["db"], "alan"),
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    expected = get_completion_script(prog_name="sessionctl", complete_var="_SESSIONCTL_COMPLETE",
                                     shell=shell)
    assert done.stdout == expected + "\n"
    assert "_SESSIONCTL_COMPLETE=complete_" + shell in done.stdout


def test_the_scripts_are_the_ones_each_shell_runs():
    bash = get_completion_script(prog_name="sessionctl", complete_var="_SESSIONCTL_COMPLETE",
                                 shell="bash")
    assert "complete -o default -F _sessionctl_completion sessionctl" in bash
    assert 'COMP_WORDS="${COMP_WORDS[*]}"' in bash
    zsh = get_completion_script(prog_name="sessionctl", complete_var="_SESSIONCTL_COMPLETE",
                                shell="zsh")
    assert zsh.startswith("#compdef sessionctl") and "compdef _sessionctl_completion sessionctl" in zsh
    fish = get_completion_script(prog_name="sessionctl", complete_var="_SESSIONCTL_COMPLETE",
                                 shell="fish")
    assert fish.startswith("complete --command sessionctl --no-files")


def test_show_completion_without_a_shell_detects_the_one_it_runs_under(store):
    """Under bash (the parent process), the bash script; works with no store at all."""
    done = subprocess.run(["bash", "--norc", "-c", f"'{BIN}' --show-completion; exit $?"],
                          env=env_for(store["db"].parent / "missing.db", "nobody"),
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert "complete -o default -F _sessionctl_completion sessionctl" in done.stdout


def test_detection_falls_back_to_the_login_shell(monkeypatch):
    import typer.completion

    from sessionctl.cli import completion

    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: None)
    monkeypatch.setenv("SHELL", "/usr/bin/zsh")
    assert completion._detected("--show-completion") == "zsh"
    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "tcsh")
    monkeypatch.setenv("SHELL", "/usr/local/bin/fish")
    assert completion._detected("--show-completion") == "fish"
    monkeypatch.setenv("SHELL", "")
    assert completion._detected("--show-completion") == "tcsh"  # then refused by name


@pytest.mark.parametrize("args, message, hint", [
    (("--show-completion", "tcsh"), "no completion for the shell 'tcsh'",
     "name one of bash, zsh or fish: sessionctl --show-completion zsh"),
    (("--install-completion", "powershell"), "no completion for the shell 'powershell'",
     "name one of bash, zsh or fish: sessionctl --install-completion zsh"),
    (("--show-completion", "bash\n\u202ezsh"), "no completion for the shell 'bash\\n\\u202ezsh'",
     "name one of bash, zsh or fish: sessionctl --show-completion zsh"),
    (("--show-completion", "bash", "zsh"), "--show-completion takes at most one shell name, not 'bash zsh'",
     "sessionctl --show-completion bash|zsh|fish"),
])
def test_an_unknown_shell_is_refused(args, message, hint, cli):
    result = cli(*args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"error: {message}\nhint: {hint}\n"


def test_an_unknown_shell_as_bytes_that_are_not_utf8(store):
    done = subprocess.run([str(BIN).encode(), b"--show-completion", b"\xffsh"],
                          env=env_for(store["db"], "alan"), capture_output=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr == b"error: argument 2 ('\\xffsh') is not valid UTF-8\n"


@pytest.mark.parametrize("shell, path, rc_file, rc_line", [
    ("bash", ".bash_completions/sessionctl.sh", ".bashrc", "source '{home}/.bash_completions/sessionctl.sh'"),
    ("zsh", ".zfunc/_sessionctl", ".zshrc", "fpath+=~/.zfunc; autoload -Uz compinit; compinit"),
    ("fish", ".config/fish/completions/sessionctl.fish", None, None),
])
def test_install_completion_writes_typers_files(shell, path, rc_file, rc_line, tmp_path, store):
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run([str(BIN), "--install-completion", shell],
                          env=env_for(store["db"], "alan", HOME=str(home)),
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (f"{shell} completion installed in {home / path}\n"
                           f"it takes effect in new {shell} sessions\n")
    script = get_completion_script(prog_name="sessionctl", complete_var="_SESSIONCTL_COMPLETE",
                                   shell=shell)
    assert (home / path).read_text().strip() == script
    if rc_file:
        assert rc_line.format(home=home) in (home / rc_file).read_text().splitlines()


def test_install_completion_where_it_cannot_write_is_exit_6(tmp_path, store):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    done = subprocess.run([str(BIN), "--install-completion", "fish"],
                          env=env_for(store["db"], "alan", HOME=str(blocker)),
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (6, "")
    assert done.stderr.startswith("error: cannot install fish completion: ")
    assert len(done.stderr.splitlines()) == 1


def test_the_options_are_in_the_help(cli):
    out = cli("--help", env={"COLUMNS": "200"}).stdout
    assert "--install-completion" in out and "--show-completion" in out


# -- commands and options --------------------------------------------------------------------------


@pytest.mark.parametrize("shell", SCRIPT_SHELLS)
def test_commands_and_options_complete(shell, store):
    db = store["db"]
    assert values(shell, "sessionctl sl", "alan", db) == ["slot"]
    assert values(shell, "sessionctl slot ", "alan", db) == [
        "add", "list", "show", "update", "cancel", "delete", "calendar"]
    assert values(shell, "sessionctl slot list --c", "alan", db) == ["--course"]
    assert "--show-completion" in values(shell, "sessionctl --", "alan", db)


def test_commands_complete_without_any_store(tmp_path):
    missing = tmp_path / "none.db"
    assert values("bash", "sessionctl req", "nobody", missing) == ["request"]
    assert not missing.exists()


# -- values from the store -------------------------------------------------------------------------


@pytest.mark.parametrize("shell", SCRIPT_SHELLS)
def test_a_student_is_offered_only_their_courses_and_their_own_requests(shell, store):
    db = store["db"]
    # alan's courses: MATH101 and the old store's OLD; "BAD;touch x" is not a code anyone can type
    assert values(shell, "sessionctl course show ", "alan", db) == ["MATH101", "OLD"]
    assert values(shell, "sessionctl slot list --course ", "alan", db) == ["MATH101", "OLD"]
    assert values(shell, "sessionctl slot add --course M", "alan", db) == ["MATH101"]
    assert values(shell, "sessionctl request show ", "alan", db) == [str(store["alans"])]
    assert ids(values(shell, "sessionctl slot show ", "alan", db)) == ids(store["math"])
    assert ids(values(shell, "sessionctl request send ", "alan", db)) == ids(store["math"])


def test_what_each_role_is_offered(store):
    db, math, phys = store["db"], store["math"], store["phys"]
    assert values("bash", "sessionctl course show ", "kat", db) == ["MATH101", "PHYS1"]
    assert values("bash", "sessionctl course roster ", "bob", db) == ["PHYS1"]
    assert values("bash", "sessionctl course enroll ", "ada", db) == ["CS2", "MATH101", "OLD"]
    assert ids(values("bash", "sessionctl slot cancel ", "bob", db)) == ids([phys])
    assert ids(values("bash", "sessionctl request approve ", "bob", db)) == ids([store["kats"][1]])
    assert ids(values("bash", "sessionctl request reject ", "ada", db)) == ids(
        [store["alans"], store["kats"][0]])
    assert ids(values("bash", "sessionctl request cancel ", "kat", db)) == ids(store["kats"])
    assert ids(values("bash", "sessionctl slot show ", "root", db)) == ids([*math, phys])
    assert values("bash", "sessionctl course show ", "root", db) == ["CS2", "MATH101", "OLD", "PHYS1"]


def test_ids_complete_from_what_was_typed_newest_first(store):
    math = store["math"]
    ones = [str(i) for i in sorted(math, reverse=True) if str(i).startswith("1")]
    assert values("bash", "sessionctl slot show 1", "alan", store["db"]) == ones
    assert values("bash", "sessionctl slot show 9999", "alan", store["db"]) == []
    for typed in ("x", "-1", "١", "1.", "0x1"):
        assert values("bash", f"sessionctl slot show {typed}", "alan", store["db"]) == []


def test_descriptions_in_zsh_and_fish(store):
    zsh = ask("zsh", "sessionctl course show M", "alan", store["db"]).stdout
    assert zsh == "_arguments '*: :((\"MATH101\":\"Maths more\"))'\n"
    fish = ask("fish", f"sessionctl request show {store['alans']}", "alan", store["db"]).stdout
    start = future(48).strftime("%a %Y-%m-%d %H:%M")
    assert fish == f"{store['alans']}\tMATH101 {start} pending\n"
    slot = ask("fish", f"sessionctl slot show {store['phys']}", "kat", store["db"]).stdout
    assert slot.startswith(f"{store['phys']}\tPHYS1 ") and slot.endswith(" available\n")


def test_global_options_before_the_group_are_honoured(store, tmp_path):
    db = store["db"]
    elsewhere = tmp_path / "nothing.db"
    line = f"sessionctl --db {db} --tz Asia/Tokyo --version slot show {store['phys']}"
    done = ask("fish", line, "kat", elsewhere)
    start = future(48).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert done.stdout == f"{store['phys']}\tPHYS1 {start:%a %Y-%m-%d %H:%M} available\n"
    assert not elsewhere.exists()


def test_a_hostile_title_never_reaches_the_shell_as_code(store):
    """Typer's zsh escaping leaves a backslash alone, and zsh's _arguments evals descriptions:
    only letters, digits and a few marks pass, so no quote, $, `, ;, backslash or line break."""
    zsh = ask("zsh", "sessionctl course show O", "alan", store["db"]).stdout
    match = re.fullmatch(r"_arguments '\*: :\(\(\"OLD\":\"(.*)\"\)\)'\n", zsh)
    assert match, zsh
    assert match[1].startswith("(touch ") and len(match[1]) <= 60
    assert re.fullmatch(r"[\w .,/()#+-]*", match[1]), match[1]


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh_evaluates_the_answer_without_running_anything(store):
    """Real zsh runs the script's ``eval $(…)`` and, like _arguments, evals the list inside."""
    script = get_completion_script(prog_name="sessionctl", complete_var="_SESSIONCTL_COMPLETE",
                                   shell="zsh").replace("#compdef sessionctl", "")
    program = f"""
compdef() {{ : }}
_arguments() {{ local action=${{1#*: :}}; local -a ws; eval ws\\=\\( "${{action[3,-3]}}" \\); print -rl -- $ws }}
_files() {{ print FILES }}
{script}
words=(sessionctl course show "") CURRENT=4 _sessionctl_completion
"""
    done = subprocess.run(["zsh", "-f", "-c", program], env=env_for(store["db"], "alan"),
                          capture_output=True, text=True, timeout=60)
    assert done.stderr == "" and done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == "MATH101:Maths more"
    assert lines[1].startswith("OLD:") and not store["marker"].exists()


def test_bash_runs_the_script_and_gets_the_ids(store):
    script = get_completion_script(prog_name="sessionctl", complete_var="_SESSIONCTL_COMPLETE",
                                   shell="bash")
    program = f"""{script}
COMP_WORDS=(sessionctl request show ""); COMP_CWORD=3
_sessionctl_completion sessionctl && printf '%s\\n' "${{COMPREPLY[@]}}"
COMP_WORDS=(sessionctl course show ""); COMP_CWORD=3
_sessionctl_completion sessionctl && printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = env_for(store["db"], "kat", PATH=f"{BIN.parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.stderr == "" and done.returncode == 0
    assert done.stdout.splitlines() == [*ids(store["kats"])[::-1], "MATH101", "PHYS1"]


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
def test_fish_runs_the_script_and_gets_the_courses(store):
    script = get_completion_script(prog_name="sessionctl", complete_var="_SESSIONCTL_COMPLETE",
                                   shell="fish")
    env = env_for(store["db"], "kat", PATH=f"{BIN.parent}{os.pathsep}{os.environ['PATH']}",
                  HOME=str(store["db"].parent))
    done = subprocess.run(["fish", "--no-config", "-c", f"{script}\ncomplete -C 'sessionctl course show '"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["MATH101\tMaths more", "PHYS1\tPhysics"]


# -- silent on every error -------------------------------------------------------------------------


def silent(done: subprocess.CompletedProcess) -> bool:
    return done.returncode == 0 and done.stderr == "" and done.stdout.strip() in ("", "_files")


@pytest.mark.parametrize("shell", SCRIPT_SHELLS)
def test_no_store_means_no_candidates_and_no_store_created(shell, tmp_path):
    missing = tmp_path / "nothing.db"
    assert silent(ask(shell, "sessionctl course show ", "alan", missing))
    assert silent(ask(shell, "sessionctl slot show ", "alan", missing))
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_or_unusable_actor_gets_nothing(store):
    before = store["db"].read_bytes()
    assert silent(ask("bash", "sessionctl course show ", "zed", store["db"]))
    assert silent(ask("bash", "sessionctl request show ", "zed\n\u202e", store["db"]))
    assert store["db"].read_bytes() == before


def test_bad_settings_get_nothing(store):
    for extra in ({"SESSIONCTL_LOCK_TIMEOUT": "soon"}, {"SESSIONCTL_TZ": "Mars/Olympus"}):
        assert silent(ask("bash", "sessionctl slot show ", "alan", store["db"], **extra))
    assert silent(ask("bash", "sessionctl --db sqlite://x --tz Nope slot show ", "alan", store["db"]))
    assert silent(ask("bash", "sessionctl --db ", "alan", store["db"]))


def test_garbage_newer_and_busy_stores_get_nothing(store, tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    assert silent(ask("bash", "sessionctl course show ", "alan", garbage))
    newer = tmp_path / "newer.db"
    shutil.copy(store["db"], newer)
    con = sqlite3.connect(newer)
    con.execute("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01 00:00:00')")
    con.commit()
    con.close()
    assert silent(ask("bash", "sessionctl course show ", "alan", newer))
    busy = tmp_path / "busy.db"
    shutil.copy(store["db"], busy)
    holder = sqlite3.connect(busy, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE courses SET title = title")
    try:  # the lock timeout is a minute; completion gives up long before
        done = ask("bash", "sessionctl course show ", "alan", busy, SESSIONCTL_LOCK_TIMEOUT="60")
        assert silent(done)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_bytes_that_are_not_utf8_get_nothing(store):
    env = {k.encode(): v.encode() for k, v in env_for(store["db"], "alan").items()}
    for words, offered in ((b"sessionctl course show \xff", b""),
                           (b"sessionctl --db /tmp/\xff.db slot show ", b""),
                           (b"sessionctl \xff\xfe slot show ", b"init\nwhoami\ndemo\nsweep\nremind"
                            b"\ninbox\nagenda\nuser\ncourse\nslot\nrequest\nnotify\nhooks\nconfig")):  # not a command
        env.update({b"_SESSIONCTL_COMPLETE": b"complete_bash", b"COMP_WORDS": words,
                    b"COMP_CWORD": str(len(words.split(b" ")) - 1).encode()})
        done = subprocess.run([str(BIN)], env=env, capture_output=True, timeout=60)
        assert (done.returncode, done.stderr, done.stdout.strip()) == (0, b"", offered), words


def test_a_line_with_unbalanced_quotes_or_odd_words_gets_nothing_on_stderr(store):
    for line in ('sessionctl course show "MA', "sessionctl slot show 1\n2", "sessionctl \u202e ",
                 "sessionctl slot show " + "9" * 5000, "sessionctl slot add --start 10:00 "):
        done = ask("bash", line, "alan", store["db"])
        assert done.returncode == 0 and done.stderr == "", (line, done.stderr)


def test_an_unknown_instruction_is_silent(store):
    done = subprocess.run([str(BIN)], capture_output=True, text=True, timeout=60,
                          env=env_for(store["db"], "alan", _SESSIONCTL_COMPLETE="source_tcsh"))
    assert (done.stdout, done.stderr) == ("", "")


# -- what it costs an ordinary command -------------------------------------------------------------


def test_an_ordinary_command_never_loads_the_completion_queries(store):
    for args in (["--version"], ["slot", "list", "--json"]):
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "sessionctl", *args],
                              env=env_for(store["db"], "ada"), capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        for module in ("sessionctl.cli.completion", "sessionctl.domain.choices", "sessionctl.cli.hints"):
            assert module not in done.stderr, module
