"""Live reading: wait for a message, and a mailbox's events as Server-Sent Events.

Both subscribe to the mailbox on the event bus before they read what the database already
holds, so nothing committed in between is missed; then they sleep until the bus wakes them
(no polling). Event ids are message receipt sequences (events/history.py): an event other
than message.received repeats the id of the last message the stream told, so resuming
with `Last-Event-ID` replays exactly the messages the reader has not seen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import orjson

from ephemail.api.context import ApiContext
from ephemail.api.errors import ApiError
from ephemail.api.outage import is_outage
from ephemail.api.reading import MAILBOX_NOT_FOUND, Reader, message_reading, messages_base
from ephemail.core.ids import is_message_id
from ephemail.events import ENDINGS, Event, Overflowed, Subscription
from ephemail.events.history import messages_since
from ephemail.events.model import KEY_REVOKED, MAILBOX_RENAMED, MESSAGE_RECEIVED
from ephemail.store import mailboxes

log = logging.getLogger("ephemail.api")
WAIT_MIN, WAIT_MAX = 1, 120
INVALID = "The given data was invalid."


def wait_timeout(raw: str | None) -> int:
    if raw is None:
        return 30
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not WAIT_MIN <= value <= WAIT_MAX:
        raise ApiError(
            422, INVALID, {"timeout": [f"must be a whole number of seconds, {WAIT_MIN}–{WAIT_MAX}"]}
        )
    return value


async def since_seq(ctx: ApiContext, mailbox_id: int, since: str | None) -> int:
    """`since`: an event id (digits) or a message id of this mailbox; 0 when absent."""
    if since is None or since == "":
        return 0
    if since.isdigit() and len(since) <= 20:
        return int(since)
    if is_message_id(since):
        seq = await ctx.reads.seq_of(mailbox_id, since)
        if seq is not None:
            return seq
    raise ApiError(422, INVALID, {"since": ["is not an event id or a message of this mailbox"]})


@dataclass(frozen=True)
class Filters:
    sender: str | None = None
    subject: str | None = None

    def match(self, event: Event) -> bool:
        data = event.data
        if self.sender:
            who = f"{data.get('from', '')} {data.get('from_email', '')}".casefold()
            if self.sender.casefold() not in who:
                return False
        subject = str(data.get("subject", "")).casefold()
        return not self.subject or self.subject.casefold() in subject


async def wait_for_message(
    ctx: ApiContext, user_id: int, mailbox_id: int, since: int, filters: Filters, timeout: float
) -> bytes:
    """The first message after `since` that matches, read like `GET /api/messages/{id}`."""
    deadline = time.monotonic() + timeout
    with ctx.events.subscribe(mailbox_id) as sub:
        backlog = await messages_since(ctx.reads, mailbox_id, since)
        while True:
            for event in backlog:
                if event.kind == MESSAGE_RECEIVED and event.seq > since and filters.match(event):
                    try:
                        return await message_reading(
                            ctx, str(event.data["id"]), messages_base(ctx), Reader(user_id=user_id)
                        )
                    except ApiError as exc:  # deleted since: wait for the next one
                        if exc.status_code != 404:
                            raise
                if event.kind in ENDINGS:
                    raise ApiError(404, MAILBOX_NOT_FOUND)
            remaining = deadline - time.monotonic()
            try:
                got = await sub.next(remaining) if remaining > 0 else None
            except Overflowed:  # a burst passed us by: read it from the database instead
                sub.overflowed = False
                backlog = await messages_since(ctx.reads, mailbox_id, since)
                continue
            if got is None:
                raise ApiError(408, "No matching message arrived before the timeout.")
            backlog = [got]


def sse_frame(event: Event, event_id: int) -> bytes:
    data = orjson.dumps({"type": event.kind, **event.data})
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, event.kind.encode(), data)


def last_event_id(raw: str | None) -> int | None:
    if raw is None:
        return None
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) <= 20 else None


def open_stream(ctx: ApiContext, user_id: int) -> Callable[[], None] | ApiError:
    """Count a stream against its owner and this process: the one-shot release that uncounts
    it (safe to call more than once), or the refusal to answer when a limit is reached."""
    limits = ctx.streams
    if limits.open.get(user_id, 0) >= limits.per_user:
        return ApiError(
            429, f"Too many open event streams for this account (at most {limits.per_user})."
        )
    if limits.opened >= limits.total:
        return ApiError(503, "This server holds all the event streams it can; try again shortly.")
    limits.open[user_id] = limits.open.get(user_id, 0) + 1
    limits.opened += 1
    released = False

    def release() -> None:
        nonlocal released
        if released:
            return
        released = True
        limits.opened -= 1
        left = limits.open.get(user_id, 1) - 1
        if left > 0:
            limits.open[user_id] = left
        else:
            limits.open.pop(user_id, None)

    return release


async def mailbox_events(
    ctx: ApiContext,
    release: Callable[[], None],
    mailbox_id: int,
    resume: int | None,
    *,
    end_on_rename: bool,
    key_hash: str | None = None,
) -> AsyncIterator[bytes]:
    """The stream's bytes: missed messages first, then events as they come, heartbeats in
    between, a last event when the mailbox ends (or the key that opened it is revoked).
    The caller has counted it (open_stream)."""
    sub = ctx.events.subscribe(mailbox_id)
    if key_hash is not None:
        ctx.streams.by_key.setdefault(key_hash, set()).add(sub)
    try:
        async for chunk in _stream_body(ctx, sub, mailbox_id, resume, end_on_rename):
            yield chunk
    except Exception as exc:
        if not is_outage(exc):
            raise
        # The store went away mid-stream: end it cleanly; the client resumes with its
        # Last-Event-ID once the store is back.
        log.warning("event stream ended: a store is unreachable (%s)", exc)
    finally:
        sub.close()
        release()
        if key_hash is not None:
            opened = ctx.streams.by_key.get(key_hash, set())
            opened.discard(sub)
            if not opened:
                ctx.streams.by_key.pop(key_hash, None)


async def _stream_body(
    ctx: ApiContext, sub: Subscription, mailbox_id: int, resume: int | None, end_on_rename: bool
) -> AsyncIterator[bytes]:
    async with ctx.engine.connect() as conn:
        box = await mailboxes.get_by_id(conn, mailbox_id)
    if box is None:
        return
    last = resume or 0
    told: set[str] = set()
    yield b": stream of " + box.address.encode() + b"\nretry: 2000\n\n"
    if resume is not None:
        for event in await messages_since(ctx.reads, mailbox_id, resume):
            told.add(str(event.data["id"]))
            last = max(last, event.seq)
            yield sse_frame(event, last)
    while True:
        left = box.expire_at - time.time()
        if left <= 0:
            ending = Event("mailbox.expired", mailbox_id, {"mailbox": box.address})
            yield sse_frame(ending, last)
            return
        try:
            got = await sub.next(min(ctx.streams.heartbeat, left))
        except Overflowed:
            return  # too slow: the reader resumes with its Last-Event-ID
        if got is None:
            yield b": heartbeat\n\n"
            continue
        event = got
        if event.kind == MESSAGE_RECEIVED:
            if str(event.data.get("id")) in told:
                continue
            last = max(last, event.seq)
        elif "mailbox" not in event.data:
            event = Event(event.kind, mailbox_id, {"mailbox": box.address, **event.data})
        yield sse_frame(event, last)
        if event.kind in ENDINGS or (end_on_rename and event.kind == MAILBOX_RENAMED):
            return
        if event.kind == KEY_REVOKED:
            return


def key_revoked(ctx: ApiContext, event: Event) -> None:
    """A key was revoked (on any node): drop it from the key cache, end its streams here."""
    key_hash = str(event.data.get("key", ""))
    ctx.auth.forget(key_hash)
    for sub in ctx.streams.by_key.pop(key_hash, set()):
        sub.push(Event(KEY_REVOKED, sub.mailbox_id, {}))
