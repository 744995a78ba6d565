"""Real SMTP clients against our front: Postfix's smtp-source, and Postfix itself relaying to
us through a transport map, in plain text and over STARTTLS (a private instance on loopback,
its own configuration and queue under the test's directory, started and stopped by the test).

Debian's `postfix` package provides both (`make test` installs it); the Postfix instance
needs root, as Postfix's master does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from email.utils import make_msgid
from pathlib import Path

import pytest

from tests.support import Running, make_settings, serving
from tests.support.certs import write_certificate
from tests.support.ci import ON_CI
from tests.support.ports import free_port
from tests.support.smtp import SMTP_SOURCE, listed, live_box, needs_smtp_source

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTFIX_DAEMONS = Path("/usr/lib/postfix/sbin")

# Skipped without Postfix on a laptop; under CI it runs (and fails if it is missing).
needs_postfix = pytest.mark.skipif(
    not ON_CI and (not os.access(POSTFIX, os.X_OK) or os.geteuid() != 0),
    reason="a private Postfix instance needs the postfix package and root",
)


async def maillog_with(path: Path, lines: dict[str, int], timeout: float = 30) -> str:
    """Postfix's log once it holds each line as often as `lines` says: Postfix logs a delivery
    after our reply (which follows the commit, so the mail can be listed first), through a
    logger process of its own."""
    deadline = time.monotonic() + timeout
    while True:
        log = path.read_text(errors="replace") if path.exists() else ""
        if all(log.count(line) >= n for line, n in lines.items()) or time.monotonic() > deadline:
            return log
        await asyncio.sleep(0.1)


async def wait_for(svc: Running, key: str, box: str, count: int, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        subjects = [m["subject"] for m in await listed(svc, key, box)]
        if len(subjects) >= count or time.monotonic() > deadline:
            return subjects
        await asyncio.sleep(0.25)


@needs_smtp_source
@pytest.mark.parametrize("mode", ["reused", "new"], ids=["one session", "a session each"])
async def test_smtp_source_messages_are_all_stored(running: Running, mode: str) -> None:
    box, key = await live_box(running)
    args = [SMTP_SOURCE, "-m", "200", "-s", "5", "-l", "2048", "-f", "sender@example.org"]
    args += ["-t", box, "-S", "via smtp-source"]
    if mode == "reused":
        args.append("-d")  # the next message over the same connection
    done = await asyncio.create_subprocess_exec(
        *args,
        f"127.0.0.1:{running.smtp_port}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(done.communicate(), 120)
    assert done.returncode == 0, (out, err)
    subjects = await wait_for(running, key, box, 200, 10)
    assert len(subjects) == 200
    assert set(subjects) == {"via smtp-source"}


MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = {daemons}
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-ephemail-test
maillog_file = {log}
maillog_file_prefixes = {root}
myhostname = relay.example.net
mydomain = example.net
myorigin = $myhostname
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = {domain}
transport_maps = texthash:{transport}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_tls_security_level = {tls}
smtp_tls_loglevel = 1
smtpd_tls_security_level = none
smtputf8_enable = yes
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
"""


@contextlib.contextmanager
def postfix_relaying(tmp_path: Path, svc: Running, tls: str = "none") -> Iterator[int]:
    """A private Postfix on 127.0.0.1:<free port> relaying the service's default domain to
    it, with `tls` as its client's TLS level (none, may, encrypt); yields Postfix's port."""
    root = tmp_path / "postfix"
    conf = root / "conf"
    conf.mkdir(parents=True)
    # Postfix's daemons open the queue and data directories as the postfix user, but pytest
    # keeps its temporary root private (0700, re-tightened by every pytest run): so these two
    # live in a directory of their own that the postfix user can reach, removed afterwards.
    spool = Path(tempfile.mkdtemp(prefix="ephemail-postfix-test-"))
    spool.chmod(0o711)
    queue, data = spool / "queue", spool / "data"
    queue.mkdir()
    data.mkdir()
    shutil.chown(data, "postfix", "postfix")
    listen = free_port()
    domain = svc.settings.default_domain
    (conf / "transport").write_text(f"{domain} smtp:[127.0.0.1]:{svc.smtp_port}\n")
    (conf / "master.cf").write_text(MASTER_CF.format(listen=f"127.0.0.1:{listen}"))
    (conf / "main.cf").write_text(
        MAIN_CF.format(
            queue=queue,
            data=data,
            daemons=POSTFIX_DAEMONS,
            log=root / "maillog",
            root=root,
            domain=domain,
            transport=conf / "transport",
            tls=tls,
        )
    )
    started = subprocess.run(
        [POSTFIX, "-c", str(conf), "start"], capture_output=True, text=True, timeout=60
    )
    assert started.returncode == 0, started.stdout + started.stderr
    pid_file = queue / "pid" / "master.pid"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (root / "maillog").read_text()
                time.sleep(0.1)
        yield listen
    finally:
        stopped = subprocess.run(
            [POSTFIX, "-c", str(conf), "stop"], capture_output=True, text=True, timeout=60
        )
        if stopped.returncode != 0 and pid_file.exists():  # stop only the master we started
            os.kill(int(pid_file.read_text().split()[0]), 9)
        shutil.rmtree(spool, ignore_errors=True)


@pytest.fixture
def postfix_relay(tmp_path: Path, running: Running) -> Iterator[int]:
    with postfix_relaying(tmp_path, running) as port:
        yield port


@needs_postfix
async def test_postfix_relays_through_a_transport_map_to_us(
    running: Running, postfix_relay: int, tmp_path: Path
) -> None:
    box, key = await live_box(running)
    local, domain = box.split("@")
    subjects = [f"through postfix {n}" for n in range(3)]

    def submit() -> dict[str, tuple[int, bytes]]:
        refused: dict[str, tuple[int, bytes]] = {}
        with smtplib.SMTP("127.0.0.1", postfix_relay, timeout=30) as smtp:
            for subject in subjects:
                raw = (
                    f"From: Relay Sender <sender@example.org>\r\nSubject: {subject}\r\n"
                    f"Message-ID: {make_msgid()}\r\n\r\nrelayed body\r\n"
                ).encode()
                # One to a live mailbox (by a plus-tag alias) and one to nobody: Postfix takes
                # both, we accept one and refuse the other with 550 at RCPT.
                refused.update(
                    smtp.sendmail(
                        "sender@example.org", [f"{local}+pf@{domain}", f"ghost@{domain}"], raw
                    )
                )
        return refused

    assert await asyncio.to_thread(submit) == {}  # Postfix queued everything
    stored = await wait_for(running, key, box, len(subjects), 60)
    sent, refused = "status=sent (250 2.0.0 OK queued as", "said: 550 5.1.1 No such mailbox here"
    log = await maillog_with(
        tmp_path / "postfix" / "maillog", {sent: len(subjects), refused: len(subjects)}
    )
    assert sorted(stored) == subjects, log[-3000:]
    # Postfix saw our 250 with its queue id for the live box, and 550 for the ghost.
    assert log.count(sent) == len(subjects), log[-3000:]
    assert log.count(refused) == len(subjects), log[-3000:]


@needs_postfix
async def test_postfix_that_requires_tls_delivers_to_us_over_starttls(tmp_path: Path) -> None:
    # Large providers send with STARTTLS whenever it is offered; a Postfix told to encrypt
    # (or defer the mail) is the strictest of them. It does not check the certificate.
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, key, _ = write_certificate(certs, "mx.ephemail.test")
    async with serving(make_settings(tmp_path, tls_cert=cert, tls_key=key)) as svc:
        box, api_key = await live_box(svc)
        with postfix_relaying(tmp_path, svc, tls="encrypt") as relay:

            def submit() -> dict[str, tuple[int, bytes]]:
                raw = b"From: <sender@example.org>\r\nSubject: relayed over tls\r\n\r\nbody\r\n"
                with smtplib.SMTP("127.0.0.1", relay, timeout=30) as smtp:
                    return smtp.sendmail("sender@example.org", [box], raw)

            assert await asyncio.to_thread(submit) == {}
            stored = await wait_for(svc, api_key, box, 1, 60)
            tls = f"TLS connection established to 127.0.0.1[127.0.0.1]:{svc.smtp_port}"
            sent = "status=sent (250 2.0.0 OK queued as"
            log = await maillog_with(tmp_path / "postfix" / "maillog", {tls: 1, sent: 1})
    assert stored == ["relayed over tls"], log[-3000:]
    assert tls in log, log
    assert sent in log, log
