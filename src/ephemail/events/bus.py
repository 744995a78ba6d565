"""The bus interface: publish after commit, and each process hands events to its subscribers.

Every backend only moves encoded events between processes; what a process does with an event
that arrives is the same everywhere (`_dispatch`): give it to the subscriptions of its
mailbox, and to the listeners of its kind (the key cache listens for key.revoked). A backend
that reaches other processes delivers to this one through the same path, so the order a
subscriber sees is the order the transport gives.

A subscription holds a bounded buffer: a reader that does not keep up is marked overflowed
and dropped by its stream rather than slowing anyone else or growing without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable

from ephemail.core.tasks import cancel_and_wait
from ephemail.events.model import Event, decode

log = logging.getLogger("ephemail.events")

Listener = Callable[[Event], None]
SUBSCRIPTION_BUFFER = 256  # events waiting for one reader before it is dropped
OUTBOX_LIMIT = 100_000  # events waiting to be published; past it the oldest are dropped


class Overflowed(Exception):
    """The reader fell more than its buffer behind; its stream must end (it may resume)."""


class Subscription:
    """The events of one mailbox for one reader, from subscribe until close."""

    def __init__(self, bus: EventBus, mailbox_id: int, limit: int) -> None:
        self.mailbox_id = mailbox_id
        self._bus = bus
        self._limit = limit
        self._queue: deque[Event] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False

    def push(self, event: Event) -> None:
        if len(self._queue) >= self._limit:
            self.overflowed = True
            self._queue.clear()
        else:
            self._queue.append(event)
        self._ready.set()

    async def next(self, timeout: float) -> Event | None:
        """The next event, or None after `timeout` seconds without one."""
        if not self._queue and not self.overflowed:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        if self.overflowed:
            raise Overflowed
        return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class EventBus(ABC):
    """publish() after the commit; subscribe() per reader; listen() per kind."""

    name = "bus"

    def __init__(self, buffer: int = SUBSCRIPTION_BUFFER) -> None:
        self._buffer = buffer
        self._subscribers: dict[int, set[Subscription]] = {}
        self._listeners: dict[str, list[Listener]] = {}
        self._outbox: deque[Event] = deque(maxlen=OUTBOX_LIMIT)
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect; fail here rather than at the first event."""
        await self._connect()
        self._sender = asyncio.create_task(self._send_outbox())

    async def _connect(self) -> None:  # noqa: B027 - a backend without connections has none
        """The backend's connections."""

    async def close(self) -> None:
        """Send what is waiting (briefly), then let go of connections."""
        await cancel_and_wait(self._sender)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flush(), 2.0)
        await self._disconnect()

    async def _disconnect(self) -> None:  # noqa: B027
        """Release the backend's connections."""

    def publish_soon(self, events: list[Event]) -> None:
        """Publish in order without making the caller wait (an SMTP `250` must not wait for
        Redis); call only after the commit."""
        if events:
            self._outbox.extend(events)
            self._wake.set()

    async def _send_outbox(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        while self._outbox:
            event = self._outbox.popleft()
            try:
                await self.publish(event)
            except Exception:
                log.exception("could not publish %s", event.kind)

    @abstractmethod
    async def publish(self, event: Event) -> None:
        """Send to every process of the deployment, this one included. Call only after the
        transaction that made the event true has committed."""

    async def publish_all(self, events: list[Event]) -> None:
        """Publish, and never fail the caller: the change is committed whatever the bus does."""
        for event in events:
            try:
                await self.publish(event)
            except Exception:
                log.exception("could not publish %s", event.kind)

    def subscribe(self, mailbox_id: int) -> Subscription:
        sub = Subscription(self, mailbox_id, self._buffer)
        self._subscribers.setdefault(mailbox_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subscribers.get(sub.mailbox_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subscribers[sub.mailbox_id]

    def end_streams(self) -> None:
        """Shutting down: every reader is told its subscription is over, so open streams end
        now (their clients resume elsewhere with Last-Event-ID) rather than hold the stop."""
        self.interrupt()

    def interrupt(self) -> None:
        """The transport lost events, or may have (its connection dropped, or came back):
        every reader is treated as overflowed. A stream ends and its client resumes with
        Last-Event-ID (the database replays what it missed); a wait reads the database
        again. Nothing is missed silently."""
        for subs in self._subscribers.values():
            for sub in subs:
                sub.overflowed = True
                sub._ready.set()

    def listen(self, kind: str, listener: Listener) -> None:
        self._listeners.setdefault(kind, []).append(listener)

    @property
    def subscriptions(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def _dispatch(self, event: Event) -> None:
        for sub in tuple(self._subscribers.get(event.mailbox_id, ())):
            sub.push(event)
        for listener in self._listeners.get(event.kind, ()):
            try:
                listener(event)
            except Exception:
                log.exception("listener for %s failed", event.kind)

    def _dispatch_raw(self, raw: bytes | str) -> None:
        event = decode(raw)
        if event is None:
            log.warning("ignored a malformed event")
        else:
            self._dispatch(event)


class LocalBus(EventBus):
    """One process: an event reaches its subscribers directly."""

    name = "local"

    async def publish(self, event: Event) -> None:
        self._dispatch(event)

    def publish_soon(self, events: list[Event]) -> None:
        for event in events:
            self._dispatch(event)
