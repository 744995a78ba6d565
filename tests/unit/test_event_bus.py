"""The bus's promises to a reader, with no sockets: its mailbox only, in order, and a reader
that falls too far behind is told so (its stream then ends) instead of growing a buffer."""

from __future__ import annotations

import pytest

from ephemail.events import Event, LocalBus, Overflowed
from ephemail.events.model import KEY_REVOKED, MESSAGE_DELETED, decode


async def test_a_subscriber_gets_its_mailbox_events_in_order() -> None:
    bus = LocalBus()
    with bus.subscribe(1) as mine, bus.subscribe(2) as other:
        bus.publish_soon([Event(MESSAGE_DELETED, 1, {"id": str(i)}) for i in range(3)])
        got = [await mine.next(1) for _ in range(3)]
        assert [e.data["id"] for e in got if e] == ["0", "1", "2"]
        assert await other.next(0.05) is None
    assert bus.subscriptions == 0  # closed subscriptions are gone


async def test_a_slow_reader_is_dropped_not_buffered_without_bound() -> None:
    bus = LocalBus(buffer=8)
    with bus.subscribe(1) as slow:
        bus.publish_soon([Event(MESSAGE_DELETED, 1, {"id": str(i)}) for i in range(9)])
        with pytest.raises(Overflowed):
            await slow.next(1)
        assert len(slow._queue) == 0  # what it missed was let go


async def test_listeners_hear_their_kind_and_bad_wire_data_is_ignored() -> None:
    bus = LocalBus()
    heard: list[str] = []
    bus.listen(KEY_REVOKED, lambda e: heard.append(e.data["key"]))
    await bus.publish(Event(KEY_REVOKED, 0, {"key": "abc"}))
    assert heard == ["abc"]
    for raw in (b"", b"[]", b'{"k":"nope","m":1,"d":{},"s":0}', b'{"k":"key.revoked"}'):
        assert decode(raw) is None
    event = Event(MESSAGE_DELETED, 5, {"id": "x"}, 9)
    assert decode(event.encode()) == event
