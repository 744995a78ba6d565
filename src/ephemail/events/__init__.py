"""Live events: what happened to a mailbox (or a key), told after the commit to every process.

model.py is the event; bus.py the interface and the one-process backend; redis_bus.py and
pg_bus.py reach every node; history.py reads what a reader missed from the database.
`make_bus` chooses like the quota backend does.
"""

from __future__ import annotations

from ephemail.events.bus import EventBus, LocalBus, Overflowed, Subscription
from ephemail.events.model import ENDINGS, Event
from ephemail.store.sqlite_setup import sqlite_database

__all__ = ["ENDINGS", "Event", "EventBus", "LocalBus", "Overflowed", "Subscription", "make_bus"]


def make_bus(database_url: str, *, redis_url: str, redis_prefix: str) -> EventBus:
    """Redis when configured; else PostgreSQL's NOTIFY on PostgreSQL; else this process."""
    if redis_url:
        from ephemail.events.redis_bus import RedisBus

        return RedisBus(redis_url, redis_prefix)
    if sqlite_database(database_url) is None:
        from ephemail.events.pg_bus import PgNotifyBus

        return PgNotifyBus(database_url)
    return LocalBus()
