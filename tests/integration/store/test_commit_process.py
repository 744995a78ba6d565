"""The node's commit process: one SQLite writer for every worker, and what happens without it."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ephemail.store import accounts, mailboxes
from ephemail.store.bootstrap import bootstrap
from ephemail.store.db import create_engine, migrate_async
from ephemail.store.ingest import commit_process, frames
from ephemail.store.ingest.rows import Rows
from ephemail.store.models import Mailbox
from tests.support.cli import ok, process_group, serve
from tests.support.ports import free_port

ADMIN = "admin@localhost.localdomain"


@dataclass
class Served:
    proc: subprocess.Popen[str]
    smtp_port: int
    data_dir: Path

    def group(self) -> list[tuple[int, str]]:
        """(pid, command line) of every live process in the server's process group."""
        return process_group(self.proc.pid)

    def commit_processes(self) -> list[int]:
        return [pid for pid, cmd in self.group() if "ephemail.store.ingest.commit_process" in cmd]


@contextmanager
def served(tmp_path: Path, *args: str) -> Iterator[Served]:
    """`ephemail serve` in its own process group, answering SMTP; killed if a test fails."""
    port = free_port()
    proc = serve(tmp_path, *args, smtp_port=port, http_port=free_port())
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
                    if smtp.noop()[0] == 250:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("ephemail serve did not answer SMTP")
        yield Served(proc, port, tmp_path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)


def _stored(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "ephemail.db") as db:
        count: int = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    return count


def _send(port: int, address: str, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail("a@example.org", [address], f"Subject: {subject}\r\n\r\nhi\r\n".encode())


def test_two_workers_store_through_one_commit_process_and_stop_cleanly(tmp_path: Path) -> None:
    with served(tmp_path, "--workers", "2") as server:
        assert len(server.commit_processes()) == 1
        boxes = [ok(tmp_path, "mailbox", "create", ADMIN).splitlines()[0] for _ in range(4)]
        with ThreadPoolExecutor(8) as pool:  # connections spread over both workers
            list(pool.map(lambda i: _send(server.smtp_port, boxes[i % 4], f"m{i}"), range(80)))
        assert _stored(tmp_path) == 80
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0
        time.sleep(0.2)
        assert server.group() == []  # the commit process left with the workers
    with sqlite3.connect(tmp_path / "ephemail.db") as db:
        counts = [row[0] for row in db.execute("SELECT message_count FROM mailboxes")]
    assert sorted(counts) == [20, 20, 20, 20]


def test_without_its_commit_process_a_worker_refuses_mail_and_exits(tmp_path: Path) -> None:
    with served(tmp_path) as server:
        address = ok(tmp_path, "mailbox", "create", ADMIN).splitlines()[0]
        _send(server.smtp_port, address, "before")
        (pid,) = server.commit_processes()
        os.kill(pid, signal.SIGKILL)
        try:
            _send(server.smtp_port, address, "after")
        except smtplib.SMTPResponseException as exc:  # 451 at DATA, or 421 once it knows
            assert 400 <= exc.smtp_code < 500
        except smtplib.SMTPRecipientsRefused as exc:
            assert all(400 <= code < 500 for code, _ in exc.recipients.values())
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            pass  # the worker noticed first and is already closing its connections
        else:
            pytest.fail("a mail was accepted with no commit process to store it")
        assert server.proc.wait(timeout=30) != 0  # so a supervisor restarts the service
        output = server.proc.stdout.read() if server.proc.stdout else ""
        assert "commit process is gone" in output
    assert _stored(tmp_path) == 1


def _message(message_id: str, box: Mailbox) -> Rows:
    rows = Rows()
    rows.messages.append(
        {
            "id": message_id,
            "mailbox_id": box.id,
            "user_id": box.user_id,
            "seq": time.time_ns(),
            "to_address": box.address,
            "envelope_from": "a@example.org",
            "subject": message_id,
            "from_name": "",
            "from_email": "a@example.org",
            "is_html": False,
            "content": "hi",
            "size": 2,
            "is_seen": False,
            "received_at": 0,
        }
    )
    rows.raws.append({"message_id": message_id, "data": b"hi", "sha256": "0" * 64})
    rows.lives[box.id] = box.life_secret
    rows.cap = 1000
    return rows


def _answers(sock: socket.socket, count: int) -> list[tuple[object, object]]:
    buffer = bytearray()
    answers: list[tuple[object, object]] = []
    while len(answers) < count:
        data = sock.recv(1 << 16)
        assert data, "the commit process hung up"
        buffer += data
        answers += frames.unframe(buffer)
    return answers


async def test_requests_waiting_together_share_a_commit_and_a_bad_one_fails_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "commit.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrate_async(url)
    engine = create_engine(url)
    try:
        first = await bootstrap(engine, "ephemail.test")
        assert first is not None
        async with engine.begin() as conn:
            user = await accounts.require_user(conn, first.admin_email)
            box = await mailboxes.create_mailbox(conn, user)
    finally:
        await engine.dispose()
    ours, theirs = socket.socketpair()

    def run() -> None:
        commit_process.serve(commit_process.open_database(str(path), "NORMAL"), [theirs])

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert _answers(ours, 1)[0][0] == frames.READY
        # Both requests are in the socket before the process reads: one transaction.
        ours.sendall(frames.frame(_message("a" * 46, box)) + frames.frame(_message("b" * 46, box)))
        (ok_a, (commit_a, outcome_a)), (ok_b, (commit_b, outcome_b)) = _answers(ours, 2)
        assert ok_a and ok_b and commit_a == commit_b
        assert outcome_a.stored == ["a" * 46] and outcome_b.stored == ["b" * 46]
        # The middle one reuses an id already stored: it fails, its neighbours do not.
        ours.sendall(
            frames.frame(_message("c" * 46, box))
            + frames.frame(_message("a" * 46, box))
            + frames.frame(_message("d" * 46, box))
        )
        answers = _answers(ours, 3)
        assert [ok for ok, _ in answers] == [True, False, True]
        assert "UNIQUE" in str(answers[1][1])
        # A reader's seen mark rides the same transaction as the mail beside it, answered
        # in its place with no outcome.
        ours.sendall(
            frames.frame(frames.MarkSeen(("a" * 46, "c" * 46)))
            + frames.frame(_message("e" * 46, box))
        )
        (ok_seen, (commit_seen, nothing)), (ok_e, (commit_e, outcome_e)) = _answers(ours, 2)
        assert ok_seen and ok_e and nothing is None and commit_seen == commit_e
        assert outcome_e.stored == ["e" * 46]
    finally:
        ours.close()
        thread.join(timeout=30)
    assert not thread.is_alive()  # it ends when its last worker hangs up
    with sqlite3.connect(path) as db:
        seen = {row[0][0]: row[1] for row in db.execute("SELECT id, is_seen FROM messages")}
        (count,) = db.execute("SELECT message_count FROM mailboxes").fetchone()
    assert seen == {"a": 1, "b": 0, "c": 1, "d": 0, "e": 0} and count == 5


def test_frames_split_anywhere_are_read_whole() -> None:
    data = b"".join(frames.frame(n) for n in (1, "two", {"three": 3}))
    for cut in range(len(data) + 1):
        buffer = bytearray(data[:cut])
        got = frames.unframe(buffer)
        buffer += data[cut:]
        got += frames.unframe(buffer)
        assert got == [1, "two", {"three": 3}] and not buffer
