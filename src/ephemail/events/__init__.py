"""Live events: what happened to a mailbox (or a key), told after the commit to every process.

model.py is the event; bus.py the interface and the one-process backend; redis_bus.py and
pg_bus.py reach every node, relay_bus.py every worker of a SQLite node; history.py reads
what a reader missed from the database. `make_bus` chooses like the quota backend does.
"""

from __future__ import annotations

from ephemail.events.bus import EventBus, LocalBus, Overflowed, Subscription
from ephemail.events.model import ENDINGS, Event
from ephemail.store.ingest import MessageWriter
from ephemail.store.ingest.commit_client import CommitProcessWriter
from ephemail.store.sqlite_setup import sqlite_database

__all__ = [
    "ENDINGS",
    "Event",
    "EventBus",
    "LocalBus",
    "Overflowed",
    "Subscription",
    "announce",
    "make_bus",
]


def make_bus(
    database_url: str, *, redis_url: str, redis_prefix: str, writer: MessageWriter | None = None
) -> EventBus:
    """Redis when configured; else PostgreSQL's NOTIFY on PostgreSQL; else, on SQLite, the
    node's commit process when it serves several workers (`shared`), or this process."""
    if redis_url:
        from ephemail.events.redis_bus import RedisBus

        return RedisBus(redis_url, redis_prefix)
    if sqlite_database(database_url) is None:
        from ephemail.events.pg_bus import PgNotifyBus

        return PgNotifyBus(database_url)
    if isinstance(writer, CommitProcessWriter):
        from ephemail.events.relay_bus import RelayBus

        return RelayBus(writer)
    return LocalBus()


async def announce(
    database_url: str, events: list[Event], *, redis_url: str, redis_prefix: str
) -> bool:
    """Publish from a process that serves nothing (the CLI revoking a key). On SQLite without
    Redis, through the serving processes' local inboxes (local_inbox.py); False when none
    of them was reached."""
    bus = make_bus(database_url, redis_url=redis_url, redis_prefix=redis_prefix)
    if isinstance(bus, LocalBus):
        from ephemail.events.local_inbox import send_to_inboxes

        database = sqlite_database(database_url)
        return bool(database) and send_to_inboxes(str(database), events) > 0
    await bus.start()
    try:
        for event in events:
            await bus.publish(event)
    finally:
        await bus.close()
    return True
