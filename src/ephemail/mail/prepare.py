"""One received message → its rows: parsed, compressed and hashed, one copy per recipient.

Runs in the worker that took the message (on its loop when small, in a thread when large:
delivery.py decides), so the node's one writer only inserts. Parsing is mail's business, so
it happens here, before the store sees the message.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence

import zstandard

from ephemail.core.ids import new_message_id
from ephemail.core.time import now_epoch
from ephemail.mail.extract.html import rough_text
from ephemail.mail.parse import parse_message
from ephemail.store.ingest import Rows
from ephemail.store.ingest.rows import SEARCH_BODY_CHARS, SEARCH_TEXT
from ephemail.store.models import Recipient

_seq_lock = threading.Lock()
_last_seq = 0


def next_seq() -> int:
    """Receipt order, also across processes and nodes: the wall clock in ns, never the same
    twice in this process.

    A counter started at import starts from the same value in every forked worker of
    `serve --workers N` (and from the start time on each node), so a mailbox's mail was
    ordered by how much each process had taken, not by when it came, and event ids that
    resume by `seq` went wrong across nodes.
    """
    global _last_seq
    with _seq_lock:  # large messages are prepared in threads
        _last_seq = max(_last_seq + 1, time.time_ns())
        return _last_seq


# Messages up to this size are prepared right on the event loop (~0.1 ms for 1 KiB): a thread
# hop costs more than that. Larger ones go to a thread so one big message cannot stall others.
# The bound is the parser's worst case: at 4 KiB its costliest input (64 tiny named parts,
# docs/reliability.md "Parser bounds") takes a few ms; at 64 KiB it would take ~50 ms.
INLINE_PREPARE_BYTES = 4 * 1024

_local = threading.local()


def _compress(raw: bytes) -> bytes:
    """zstd, with one compressor per thread (a compressor must not be shared across threads)."""
    compressor: zstandard.ZstdCompressor | None = getattr(_local, "zstd", None)
    if compressor is None:
        compressor = _local.zstd = zstandard.ZstdCompressor(level=3)
    return compressor.compress(raw)


def unpack(packed: bytes) -> bytes:
    """The bytes received, from their stored (zstd) form."""
    decompressor: zstandard.ZstdDecompressor | None = getattr(_local, "unzstd", None)
    if decompressor is None:
        decompressor = _local.unzstd = zstandard.ZstdDecompressor()
    return decompressor.decompress(packed)


def _search_text(content: str, is_html: bool) -> str:
    """The body as the search index takes it: its text, cut (the tags of HTML dropped)."""
    if is_html:
        return rough_text(content[: SEARCH_BODY_CHARS * 2])[:SEARCH_BODY_CHARS]
    return content[:SEARCH_BODY_CHARS]


def prepare(envelope_from: str, recipients: Sequence[Recipient], raw: bytes) -> Rows:
    """Parse, compress and hash one message into its rows (one copy per recipient)."""
    rows = Rows()
    parsed = parse_message(raw, envelope_from or None)
    packed = _compress(raw)
    digest = hashlib.sha256(raw).hexdigest()
    now = now_epoch()
    search = _search_text(parsed.content, parsed.is_html)
    for rcpt in recipients:
        message_id = new_message_id()
        rows.messages.append(
            {
                "id": message_id,
                "mailbox_id": rcpt.mailbox_id,
                "user_id": rcpt.user_id,
                "seq": next_seq(),
                "to_address": rcpt.address,
                "envelope_from": envelope_from[:320],
                "subject": parsed.subject,
                "from_name": parsed.from_name,
                "from_email": parsed.from_email[:320],
                "is_html": parsed.is_html,
                "content": parsed.content,
                "size": len(raw),
                "is_seen": False,
                "received_at": now,
                SEARCH_TEXT: search,
            }
        )
        rows.raws.append({"message_id": message_id, "data": packed, "sha256": digest})
        for position, part in enumerate(parsed.attachments):
            rows.files.append(
                {
                    "message_id": message_id,
                    "position": position,
                    "name": part.name,
                    "extension": part.extension,
                    "content_type": part.content_type,
                    "content_id": part.content_id,
                    "size": len(part.data),
                    "data": part.data,
                }
            )
        rows.lives[rcpt.mailbox_id] = rcpt.life_secret
    return rows
