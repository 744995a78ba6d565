"""Receipt order ("newest first") holds across the forked workers of `serve --workers N`."""

from __future__ import annotations

import multiprocessing

from ephemail.mail.prepare import prepare
from ephemail.store.models import Recipient

RECIPIENT = Recipient(1, 1, "a@example.org", 0, "life")
RAW = b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"


def _seq_of_new_mail() -> int:
    seq: int = prepare("s@example.org", [RECIPIENT], RAW).messages[0]["seq"]
    return seq


def test_mail_a_worker_takes_later_sorts_after_mail_another_took_earlier() -> None:
    # The pool's worker is forked now, as `serve` forks its workers after the imports.
    with multiprocessing.get_context("fork").Pool(1) as worker:
        earlier = [_seq_of_new_mail() for _ in range(50)]  # mail this process took first
        later = worker.apply(_seq_of_new_mail)  # then one message through the other worker
    assert later > max(earlier)  # it lists above the older mail, not below it
    assert len(set(earlier)) == len(earlier) and earlier == sorted(earlier)
