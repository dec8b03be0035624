"""``sessionctl notify send`` against a real SMTP server (aiosmtpd on a free loopback port).

The outbox contract (issue 4): a notification is marked sent only after the server accepted
it; a connection failure or a refusal leaves it queued; a stable Message-ID per notification;
users without an address are marked undeliverable (and stay in the inbox). Everything runs
on SQLite and, with SESSIONCTL_TEST_PG set, on PostgreSQL; the end-to-end tests run the
installed command as its own process.
"""

from __future__ import annotations

import email
import email.policy

import json
import re
import subprocess
import time
from datetime import timedelta

import pytest

from conftest import Clock, future, snapshot
from runkit import built_store, built_template  # noqa: F401 (fixtures)
from runkit import closed_port, proc, refused_plainly
from cronkit import BIN, MailServer, Sessions, free_port, run, run_json
from sessionctl.domain import courses, users
from sessionctl.store import open_store

H = timedelta(hours=1)
LINK = "https://meet.example.edu/ada-alan"
FROM = "Sessions <sessions@example.edu>"
MESSAGE_ID = re.compile(r"^<notification-(\d+)\.[0-9a-f]{32}@sessionctl>$")


@pytest.fixture
def db(backend_db, monkeypatch):
    for key in ("SESSIONCTL_SMTP", "SESSIONCTL_SMTP_PASSWORD", "SESSIONCTL_MAIL_FROM",
                "SESSIONCTL_SMTP_TIMEOUT", "SSL_CERT_FILE"):
        monkeypatch.delenv(key, raising=False)
    return backend_db


@pytest.fixture
def booked(world):
    """Sessions on the world store, booked on the real clock (the commands run as processes)."""
    store = open_store(str(world.db))
    yield Sessions(store, Clock(future(hours=0)))
    store.close()


def states(db) -> dict[int, str]:
    """notification id → mail_state."""
    rows = snapshot(db)["notifications"]
    return {row[0]: row[8] for row in rows}


def queued(db) -> set[int]:
    return {n for n, state in states(db).items() if state == "queued"}


def send(db, url, *extra, user="root", **env):
    return run("notify", "send", "--smtp", url, *extra, user=user, db=db,
               SESSIONCTL_MAIL_FROM=FROM, **env)


def counts(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def body(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def subject(message) -> str:
    """The subject as a mail client shows it: Python's parser keeps the leading space of a
    header folded right after its colon (valid RFC 5322 folding that the generator uses)."""
    return " ".join(message["Subject"].split())


def test_messages_reach_a_real_server_with_recipients_subject_times_and_link(world, booked):
    root = booked.ctx("root")
    users.set_user(root, "alan", tz="America/New_York", display="Alan Turing")
    users.set_user(root, "ada", tz="Europe/Berlin", display="Ada Lovelace")
    start = future(hours=30).replace(hour=15)  # 15 to 45 hours ahead; one day in every zone here
    request = booked.approved(start, "alan", message="Recursion, please", approve_link=LINK)
    assert run_json("remind", "--within", "48h", user="root", db=world.db) == {"reminded": 1}

    with MailServer() as server:
        first = send(world.db, server.url)
        assert (first.returncode, first.stdout, first.stderr) == (
            0, "sent: 4, failed: 0, queued: 0\n", "")
        by_rcpt = {}
        for (mail_from, rcpts), message in zip(server.envelopes, server.messages):
            assert mail_from == "sessions@example.edu" and message["From"] == FROM
            assert len(rcpts) == 1 and rcpts[0] in message["To"]
            by_rcpt.setdefault(rcpts[0], []).append(message)
        assert sorted((k, len(v)) for k, v in by_rcpt.items()) == [
            ("ada@example.edu", 2), ("alan@example.edu", 2)]

        ny = start.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
        berlin = start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
        approved, reminder = by_rcpt["alan@example.edu"]
        assert subject(approved) == f"Approved: MATH101 with Ada Lovelace, request {request}"
        assert subject(reminder) == f"Reminder: MATH101 with Ada Lovelace, request {request}"
        assert approved["To"] == "Alan Turing <alan@example.edu>"
        text = body(approved)
        end_ny, end_utc = ny + H, start + H
        assert text.startswith("Hello Alan Turing,\n\nAda Lovelace approved your request")
        assert f"When:     {ny:%a %Y-%m-%d %H:%M}-{end_ny:%H:%M} {ny:%Z} (America/New_York)\n" in text
        assert f"          {start:%a %Y-%m-%d %H:%M}-{end_utc:%H:%M} UTC\n" in text
        assert "Course:   MATH101: Maths\n" in text
        assert "Educator: Ada Lovelace <ada@example.edu>\n" in text
        assert f"Link:     {LINK}\n" in text
        assert f"Request:  {request} (sessionctl request show {request})\n" in text
        request_mail = by_rcpt["ada@example.edu"][0]
        assert subject(request_mail) == f"Requested: MATH101 with Alan Turing, request {request}"
        assert '"Recursion, please"' in body(request_mail)
        assert f"{berlin:%H:%M}" in body(by_rcpt["ada@example.edu"][1])

        ids = server.message_ids()
        assert len(set(ids)) == 4 and all(MESSAGE_ID.match(i) for i in ids)
        assert set(states(world.db).values()) == {"sent"}

        # a second run (and a third, for scripts) finds nothing to send
        second = send(world.db, server.url)
        assert (second.returncode, second.stdout, second.stderr) == (
            0, "sent: 0, failed: 0, queued: 0\n", "")
        assert counts(send(world.db, server.url, "--json")) == {"sent": 0, "failed": 0, "queued": 0}
        assert len(server.messages) == 4


def test_a_server_that_is_down_changes_nothing_and_a_later_run_delivers_each_once(world, booked):
    users.set_user(booked.ctx("root"), "eve", email="")  # an address-less user, too
    courses.enroll(booked.ctx("ada"), "MATH101", ["eve"], [])
    for hours, student in ((5, "alan"), (7, "kat"), (9, "eve")):
        booked.approved(future(hours=hours), student)
    port = free_port()
    url = f"smtp://127.0.0.1:{port}"
    before = snapshot(world.db)
    waiting = queued(world.db)
    assert len(waiting) == 6  # 3 requests to ada, 3 approvals (eve's has nowhere to go)

    down = send(world.db, url)
    assert down.returncode == 6 and down.stdout == ""
    assert down.stderr.startswith(f"error: cannot reach the mail server 127.0.0.1:{port}: ")
    assert len([ln for ln in down.stderr.splitlines() if ln.startswith("error:")]) == 1
    assert snapshot(world.db) == before

    with MailServer(port) as server:
        assert counts(send(world.db, url, "--json")) == {"sent": 5, "failed": 0, "queued": 0}
        assert counts(send(world.db, url, "--json")) == {"sent": 0, "failed": 0, "queued": 0}
    ids = server.message_ids()
    assert len(ids) == len(set(ids)) == 5
    delivered = {int(MESSAGE_ID.match(i).group(1)) for i in ids}
    assert delivered < waiting
    assert [states(world.db)[n] for n in waiting - delivered] == ["undeliverable"]


def test_quiet_sends_with_nothing_on_stdout_and_warnings_on_stderr(world, booked):
    booked.approved(future(hours=5), "alan")
    booked.approved(future(hours=7), "kat")
    with MailServer(refuse={"kat@example.edu": "550 5.1.1 no such user"}) as server:
        result = send(world.db, server.url, "-q", "--json")
        assert (result.returncode, result.stdout) == (0, "")
        [warning] = result.stderr.splitlines()
        assert warning.startswith("warning: the mail server refused notification ")
        assert len(server.messages) == 3
    with MailServer() as server:
        result = send(world.db, server.url, "--quiet")
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        assert [m["To"] for m in server.messages] == ["Kat <kat@example.edu>"]
    booked.approved(future(hours=9), "alan")  # queued again
    before = snapshot(world.db)
    failed = send(world.db, f"smtp://127.0.0.1:{closed_port()}", "--quiet")  # nobody listens: exit 6, said on stderr
    assert (failed.returncode, failed.stdout) == (6, "") and failed.stderr.startswith("error: ")
    assert snapshot(world.db) == before


@pytest.mark.parametrize("reply", ["450 4.2.1 mailbox busy, try later", "550 5.1.1 no such user"])
def test_a_refused_recipient_stays_queued_and_the_others_are_sent(world, booked, reply):
    booked.approved(future(hours=5), "alan")
    kat = booked.approved(future(hours=7), "kat")
    with MailServer(refuse={"kat@example.edu": reply}) as server:
        result = send(world.db, server.url, "--json")
        assert counts(result) == {"sent": 3, "failed": 1, "queued": 1}
        [warning] = result.stderr.splitlines()
        assert warning.startswith("warning: the mail server refused notification ")
        assert f"for kat@example.edu: {reply}; it stays queued" in warning
        assert sorted(m["To"] for m in server.messages) == [
            "Ada <ada@example.edu>", "Ada <ada@example.edu>", "Alan <alan@example.edu>"]
    [left] = queued(world.db)
    inbox = run_json("inbox", "--peek", user="kat", db=world.db)
    assert [(n["id"], n["kind"], n["request"]) for n in inbox] == [(left, "approved", kat)]

    with MailServer() as server:  # the address works again: only the queued one goes
        assert counts(send(world.db, server.url, "--json")) == {"sent": 1, "failed": 0, "queued": 0}
        [message] = server.messages
        assert message["To"] == "Kat <kat@example.edu>"
        assert MESSAGE_ID.match(message["Message-ID"]).group(1) == str(left)


def test_users_without_an_address_are_marked_undeliverable_and_keep_their_inbox(world, booked):
    users.set_user(booked.ctx("root"), "alan", email="")
    request = booked.approved(future(hours=5), "alan")
    with MailServer() as server:
        assert counts(send(world.db, server.url, "--json")) == {"sent": 1, "failed": 0, "queued": 0}
        assert [m["To"] for m in server.messages] == ["Ada <ada@example.edu>"]
        assert sorted(states(world.db).values()) == ["sent", "undeliverable"]
        # not retried: a later run has nothing to do, even once alan has an address
        users.set_user(booked.ctx("root"), "alan", email="alan@example.edu")
        assert counts(send(world.db, server.url, "--json")) == {"sent": 0, "failed": 0, "queued": 0}
        assert len(server.messages) == 1
    [note] = run_json("inbox", user="alan", db=world.db)
    assert (note["kind"], note["request"], note["read"]) == ("approved", request, False)


def test_nothing_queued_means_no_connection(world):
    """Cron every 5 minutes on a quiet store does not even contact the server."""
    url = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    result = send(world.db, url)
    assert (result.returncode, result.stdout, result.stderr) == (0, "sent: 0, failed: 0, queued: 0\n", "")


def test_a_connection_lost_midway_keeps_what_was_accepted_and_queues_the_rest(world, booked):
    for hours, student in ((5, "alan"), (7, "kat")):
        booked.pending(future(hours=hours), student)
    first, second = sorted(queued(world.db))
    # the server takes the first message, then closes the connection (421) on the second
    with MailServer(hook=lambda n: "421 4.3.2 shutting down" if n == 1 else None) as server:
        result = send(world.db, server.url)
    assert result.returncode == 6 and result.stdout == ""
    assert result.stderr.startswith("error: lost the mail server 127.0.0.1:")
    assert "after 1 of 2 messages" in result.stderr.splitlines()[0]
    assert states(world.db) == {first: "sent", second: "queued"}
    with MailServer() as again:
        assert counts(send(world.db, again.url, "--json")) == {"sent": 1, "failed": 0, "queued": 0}
    assert [MESSAGE_ID.match(m["Message-ID"]).group(1) for m in again.messages] == [str(second)]


def test_a_crash_between_accept_and_mark_resends_with_the_same_message_id(world, booked, monkeypatch):
    """In-process: the second mark fails as if the process died right after the server's 250."""
    from sessionctl.domain import mail

    for hours, student in ((5, "alan"), (7, "kat")):
        booked.pending(future(hours=hours), student)
    real, calls = mail._mark_sent, []

    def crash_on_second(ctx, notification_id, renew):
        calls.append(notification_id)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        real(ctx, notification_id, renew)

    monkeypatch.setattr(mail, "_mark_sent", crash_on_second)
    with MailServer() as server:
        crashed = world("notify", "send", "--smtp", server.url)
        assert crashed.exit_code == 1 and "power cut" in crashed.stderr
        monkeypatch.setattr(mail, "_mark_sent", real)
        again = world("notify", "send", "--smtp", server.url, "--json")
        assert json.loads(again.stdout) == {"sent": 1, "failed": 0, "queued": 0}
    ids = server.message_ids()
    assert len(ids) == 3 and ids[1] == ids[2] != ids[0]
    assert set(states(world.db).values()) == {"sent"}


def test_overlapping_runs_never_send_a_message_twice(world, booked):
    """A slow server: a second run waits for the first one's lease, then finds nothing left."""
    for hours, student in ((5, "alan"), (7, "kat"), (9, "alan")):
        booked.pending(future(hours=hours), student)
    env = {"SESSIONCTL_MAIL_FROM": FROM}
    with MailServer(delay=0.4) as server:
        args = [str(BIN), "notify", "send", "--smtp", server.url, "--json"]
        base = {**__import__("os").environ, "SESSIONCTL_DB": str(world.db),
                "SESSIONCTL_USER": "root", **env}
        runs = [subprocess.Popen(args, env=base, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(3)]
        outcomes = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in runs]
    assert [code for code, _, _ in outcomes] == [0, 0, 0], outcomes
    sent = sorted(json.loads(out)["sent"] for _, out, _ in outcomes)
    assert sent == [0, 0, 3]
    ids = server.message_ids()
    assert len(ids) == len(set(ids)) == 3


def test_a_run_that_cannot_get_the_lease_in_time_is_exit_6_and_sends_nothing(world, booked):
    booked.pending(future(hours=5), "alan")
    store = booked.store
    from sessionctl.store.edge import to_db
    from sessionctl.store.models import Lease

    with store.write():
        Lease.create(name="mail", owner="someone", expires_at=to_db(future(hours=1)))
    before = snapshot(world.db)
    with MailServer() as server:
        started = time.monotonic()
        busy = send(world.db, server.url, SESSIONCTL_LOCK_TIMEOUT="1")
        assert 1 <= time.monotonic() - started < 10
        assert busy.returncode == 6 and busy.stdout == ""
        assert busy.stderr.startswith("error: another 'sessionctl notify send' is sending")
        assert snapshot(world.db) == before and server.messages == []
        # an expired lease (its run crashed) is simply taken over
        with store.write():
            Lease.update(expires_at=to_db(future(hours=-1))).execute()
        assert counts(send(world.db, server.url, "--json")) == {"sent": 1, "failed": 0, "queued": 0}
    assert snapshot(world.db)["leases"] == []


def test_a_run_whose_lease_was_taken_over_stops(world, booked):
    """If a run outlives its lease and another run takes it, the first stops sending."""
    from sessionctl.store.models import Lease

    for hours, student in ((5, "alan"), (7, "kat")):
        booked.pending(future(hours=hours), student)
    store = booked.store

    def take_over(n):
        if n == 0:
            with store.write():
                Lease.update(owner="another run").execute()

    with MailServer(hook=take_over) as server:
        result = send(world.db, server.url)
    assert result.returncode == 6
    assert result.stderr.startswith("error: this run's claim on the outbox expired")
    assert len(server.messages) == 1 and sorted(states(world.db).values()) == ["queued", "sent"]


@pytest.mark.parametrize("args, env, user, code, says", [
    (["--smtp", "smtp://127.0.0.1:2525"], {}, "ada", 4, "only admins can run notify send"),
    (["--smtp", "smtp://127.0.0.1:2525"], {}, "alan", 4, "only admins can run notify send"),
    ([], {}, "root", 2, "no mail server given"),
    (["--smtp", "http://127.0.0.1:2525"], {}, "root", 2, "unknown SMTP URL scheme http:"),
    (["--smtp", "smtp://u:hunter2@127.0.0.1:99999"], {}, "root", 2, "malformed SMTP URL"),
    (["--smtp", "smtp://127.0.0.1:25?tls=1"], {}, "root", 2, "unknown SMTP URL parameter tls=1"),
    (["--smtp", "smtp://127.0.0.1:25?starttls=maybe"], {}, "root", 2, "use starttls=1 or starttls=0"),
    (["--smtp", "smtp://mailer@127.0.0.1:25"], {}, "root", 2, "names user 'mailer' but no password"),
    (["--smtp", "smtps://127.0.0.1?starttls=1"], {}, "root", 2, "starttls=1 is for smtp:// only"),
    (["--smtp", "smtp://127.0.0.1:25", "--from", "not an address"], {}, "root", 2, "invalid e-mail address"),
    (["--smtp", "smtp://127.0.0.1:25", "--from", "a@b.c\nBcc: x@y.z"], {}, "root", 2, "sender address contains a line break"),
    (["--smtp", "smtp://127.0.0.1:25"], {"SESSIONCTL_SMTP_TIMEOUT": "soon"}, "root", 2, "SESSIONCTL_SMTP_TIMEOUT"),
])
def test_refusals_change_nothing(world, booked, args, env, user, code, says):
    booked.pending(future(hours=5), "alan")
    before = snapshot(world.db)
    result = world("notify", "send", *args, user=user, env=env)
    assert result.exit_code == code, result.stderr
    assert result.stdout == "" and result.stderr.startswith("error: ")
    assert says in result.stderr.splitlines()[0]
    assert "hunter2" not in result.stderr
    if not args:
        assert "--smtp" in result.stderr and "SESSIONCTL_SMTP" in result.stderr
    assert snapshot(world.db) == before


def test_the_url_may_come_from_the_environment(world, booked):
    booked.pending(future(hours=5), "alan")
    with MailServer() as server:
        result = world("notify", "send", "--json", env={"SESSIONCTL_SMTP": server.url})
        assert json.loads(result.stdout) == {"sent": 1, "failed": 0, "queued": 0}
        assert server.messages[0]["From"].startswith("sessionctl@")  # the default sender


# -- TLS and login -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A private CA and a certificate for 127.0.0.1/localhost; SSL_CERT_FILE trusts the CA."""
    import ssl

    import trustme

    ca = trustme.CA()
    folder = tmp_path_factory.mktemp("tls")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context, str(folder / "ca.pem")


@pytest.fixture
def one_queued(world, booked):
    booked.pending(future(hours=5), "alan")
    return world


def test_starttls_with_a_login_delivers(one_queued, certificates):
    context, ca = certificates
    with MailServer(tls=context, logins={"mailer": "s3cret pass"}) as server:
        url = f"smtp://mailer@127.0.0.1:{server.port}?starttls=1"
        ok = send(one_queued.db, url, "--json", SSL_CERT_FILE=ca,
                  SESSIONCTL_SMTP_PASSWORD="s3cret pass")
        assert counts(ok) == {"sent": 1, "failed": 0, "queued": 0}
        assert len(server.messages) == 1


def test_a_wrong_password_is_exit_6_and_never_printed(one_queued, certificates):
    context, ca = certificates
    before = snapshot(one_queued.db)
    with MailServer(tls=context, logins={"mailer": "right"}) as server:
        url = f"smtp://mailer:wr%40ng@127.0.0.1:{server.port}?starttls=1"
        refused = send(one_queued.db, url, SSL_CERT_FILE=ca)
    assert refused.returncode == 6 and refused.stdout == ""
    assert refused.stderr.startswith(
        f"error: the mail server 127.0.0.1:{server.port} refused the login of 'mailer': 535")
    assert "wr@ng" not in refused.stderr and "wr%40ng" not in refused.stderr
    assert snapshot(one_queued.db) == before


def test_a_user_and_password_beyond_ascii_go_as_utf8_in_auth_plain(world, booked, certificates):
    """RFC 4616 PLAIN carries UTF-8; aiosmtpd's authenticator reads the bytes as UTF-8."""
    context, ca = certificates
    with MailServer(tls=context, logins={"mäiler": "pässwörd ✓"}) as server:
        where = f"127.0.0.1:{server.port}?starttls=1"
        for hours, url, env in (
                (5, f"smtp://m%C3%A4iler@{where}", {"SESSIONCTL_SMTP_PASSWORD": "pässwörd ✓"}),
                (6, f"smtp://m%C3%A4iler:p%C3%A4ssw%C3%B6rd%20%E2%9C%93@{where}", {})):
            booked.pending(future(hours=hours), "alan")
            ok = send(world.db, url, "--json", SSL_CERT_FILE=ca, **env)
            assert counts(ok) == {"sent": 1, "failed": 0, "queued": 0}, ok.stderr
        assert len(server.messages) == 2


def test_a_password_beyond_ascii_for_a_server_without_auth_plain_is_exit_2(one_queued, certificates):
    context, ca = certificates
    before = snapshot(one_queued.db)
    with MailServer(tls=context, logins={"mailer": "pässwörd"},
                    smtp={"auth_exclude_mechanism": ["PLAIN"]}) as server:
        url = f"smtp://mailer@127.0.0.1:{server.port}?starttls=1"
        refused = send(one_queued.db, url, SSL_CERT_FILE=ca, SESSIONCTL_SMTP_PASSWORD="pässwörd")
        assert server.messages == []
    assert (refused.returncode, refused.stdout) == (2, "") and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error: the SMTP user or password is not ASCII, and the mail "
                                     f"server 127.0.0.1:{server.port} does not offer AUTH PLAIN")
    assert "pässwörd" not in refused.stderr
    assert snapshot(one_queued.db) == before


def test_a_login_without_tls_explains_what_to_add(one_queued, certificates):
    context, _ = certificates
    with MailServer(tls=context, logins={"mailer": "pw"}) as server:  # AUTH only after STARTTLS
        result = send(one_queued.db, f"smtp://mailer:pw@127.0.0.1:{server.port}")
    assert result.returncode == 6
    assert "AUTH extension not supported" in result.stderr
    assert "hint: servers offer login only over TLS: add ?starttls=1 or use smtps://" in result.stderr


def test_implicit_tls_delivers_and_an_untrusted_certificate_is_exit_6(one_queued, certificates):
    context, ca = certificates
    before = snapshot(one_queued.db)
    with MailServer(tls=context, implicit=True) as server:
        url = f"smtps://127.0.0.1:{server.port}"
        untrusted = send(one_queued.db, url)
        assert untrusted.returncode == 6
        assert untrusted.stderr.startswith(
            f"error: cannot reach the mail server 127.0.0.1:{server.port}: TLS certificate check failed")
        assert snapshot(one_queued.db) == before
        assert counts(send(one_queued.db, url, "--json", SSL_CERT_FILE=ca)) == {
            "sent": 1, "failed": 0, "queued": 0}
        assert len(server.messages) == 1


def test_starttls_on_a_server_without_it_is_exit_6(one_queued):
    before = snapshot(one_queued.db)
    with MailServer() as server:
        result = send(one_queued.db, f"smtp://127.0.0.1:{server.port}?starttls=1")
    assert result.returncode == 6 and result.stdout == ""
    assert result.stderr == (f"error: cannot use the mail server 127.0.0.1:{server.port}: "
                             "STARTTLS extension not supported by server.\n")
    assert snapshot(one_queued.db) == before and server.messages == []


INJECTED = ("=?utf-8?q?Algebra=0D=0AReply-To:_boss@evil.example=0D=0AContent-Type:_text/html"
            "=0D=0A=0D=0A<a_href=3Dhttp://evil.example>log_in</a>?=")


def test_text_that_looks_like_an_encoded_word_stays_text_in_every_header(world, booked):
    """A course title or display name written as an RFC 2047 encoded word must not decode
    into header lines or a body: each header keeps one address and its own text."""
    root = booked.ctx("root")
    users.set_user(root, "alan", display=f'Zoë <boss@evil.example>, {INJECTED}')
    courses.set_course(booked.ctx("ada"), "MATH101", title=INJECTED)
    booked.approved(future(hours=30), "alan")
    sender = "=?utf-8?q?Sessions=0D=0AX-Injected:_1?= <sessions@example.edu>"
    with MailServer() as server:
        result = run("notify", "send", "--smtp", server.url, user="root", db=world.db,
                     SESSIONCTL_MAIL_FROM=sender)
        assert result.returncode == 0, result.stderr
        assert server.messages
        for message in server.messages:
            reply = message["Reply-To"]  # the other party, one address
            assert [a.addr_spec for a in reply.addresses] in (["alan@example.edu"], ["ada@example.edu"])
            assert reply.addresses[0].addr_spec != message["To"].addresses[0].addr_spec
            assert message["X-Injected"] is None
            assert message.get_content_type() in ("text/plain", "multipart/alternative")
            assert [p.get_content_type() for p in message.iter_parts()] in (
                [], ["text/plain", "text/calendar"])
            assert len(message["To"].addresses) == len(message["From"].addresses) == 1
            assert message["From"].addresses[0].addr_spec == "sessions@example.edu"
            assert message["To"].addresses[0].addr_spec in ("alan@example.edu", "ada@example.edu")
            assert "Reply-To" not in str(message["Subject"]).replace("Reply-To:_", "")
            assert "Hello " in body(message)


@pytest.mark.parametrize("names", [
    {"alan": "Zoë Émilie-Françoise de la Côte-d’Azur Wołodyjowska-Größenwahn Ñúñez",
     "ada": "日本語の名前がとても長い場合にはどうなるのでしょうか本当に長い名前です"},
    {"alan": "A" * 1000, "ada": "E" * 1999},  # no space to fold at: a line of 998 octets at most
])
def test_long_names_come_back_whole_as_rfc_2047_decodes_them(world, booked, names):
    """A long display name is folded into several encoded words; RFC 2047 readers (mail
    clients, ``email.header.decode_header``) join them without adding spaces. (Python's
    ``email.policy.default`` parser keeps the folding space between encoded words, against
    RFC 2047 section 6.2; README's choices say so.) A name without a space to fold at is
    encoded too, so no header line is longer than 998 octets and the server takes it."""
    from email.header import decode_header, make_header

    for name, display in names.items():
        users.set_user(booked.ctx("root"), name, display=display)
    booked.approved(future(hours=30), "alan")
    with MailServer() as server:
        result = run("notify", "send", "--smtp", server.url, user="root", db=world.db)
        assert result.returncode == 0 and "failed: 0" in result.stdout, result.stderr
        assert server.raw
        seen = set()
        for raw in server.raw:
            assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
            head = email.message_from_bytes(raw, policy=email.policy.compat32)
            for field in ("To", "Reply-To"):
                value = str(make_header(decode_header(head[field])))
                shown = value.rsplit(" <", 1)[0].strip('"')
                assert shown in names.values(), value
                seen.add(shown)
        assert seen == set(names.values())


@pytest.mark.parametrize("sender", ["a@example.edu, b@evil.example", "a@example.edu b@evil.example"])
def test_a_sender_of_more_than_one_address_is_refused(world, booked, sender):
    booked.approved(future(hours=30), "alan")
    before = snapshot(world.db)
    result = run("notify", "send", "--smtp", f"smtp://127.0.0.1:{free_port()}", "--from", sender,
                 user="root", db=world.db)
    assert result.returncode == 2 and result.stderr.startswith("error: invalid sender address")
    assert snapshot(world.db) == before


def test_one_recipient_whose_server_hangs_does_not_hold_back_the_others(world, booked):
    """A recipient whose RCPT TO gets no answer in time (a hanging greylister, a broken
    relay) is skipped over a new connection; everybody else's mail goes out, on every run."""
    for hours, student in ((5, "alan"), (7, "kat")):  # each: ada told, then the student
        booked.approved(future(hours=hours), student)
    for attempt in range(2):
        with MailServer(stall={"ada@example.edu": 3}) as server:
            result = send(world.db, server.url, SESSIONCTL_SMTP_TIMEOUT="1")
        assert result.returncode == 0, result.stderr
        warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        assert len(warned) == 2 and all("ada@example.edu" in line for line in warned)
        assert sorted(m["To"].addresses[0].addr_spec for m in server.messages) == (
            ["alan@example.edu", "kat@example.edu"] if attempt == 0 else [])
        assert len(queued(world.db)) == 2  # ada's, for a run that can reach her


def test_a_server_that_hangs_for_two_recipients_in_a_row_ends_the_run(world, booked):
    booked.approved(future(hours=5), "alan")  # ada told, then alan
    with MailServer(stall={"ada@example.edu": 3, "alan@example.edu": 3}) as server:
        result = send(world.db, server.url, SESSIONCTL_SMTP_TIMEOUT="1")
    assert result.returncode == 6 and "twice in a row" in result.stderr
    assert server.messages == []
    assert len(queued(world.db)) == 2


# -- found by the fuzzer: a sender beyond ASCII ---------------------------------------------------

@pytest.mark.parametrize("sender", ["José <jösé@exämple.edu>", "Ada <ädä@example.edu>"])
def test_a_non_ascii_from_address_is_refused_before_connecting(built_store, sender):
    """mail.sender() formats 'Name <addr>' with email.utils.formataddr, which raises
    UnicodeEncodeError for a non-ASCII address; this happens before any connection, with or
    without queued notifications, so no server is needed. Expected: exit 2 naming the address
    (or, if such addresses are meant to work through SMTPUTF8, exit 6 for the closed port here),
    and the queued notification stays queued."""
    before = snapshot(built_store)
    result = proc("notify", "send", "--smtp", f"smtp://127.0.0.1:{closed_port()}",
                  "--from", sender, user="root", db=built_store, env={"SESSIONCTL_SMTP_TIMEOUT": "2"})
    refused_plainly(result, {2, 6})
    assert snapshot(built_store) == before
