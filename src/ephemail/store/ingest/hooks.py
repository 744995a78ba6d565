"""The webhook outbox rows of received mail, written inside the commit that stores the mail.

Why here: a message and the outbox rows that announce it commit together, so a crash can
lose neither one without the other, and no second process has to find out later what it
missed. The cost per commit is one indexed look-up of the webhooks of the users the batch
names (`ix_webhooks_user`); with no webhook for them nothing more is written. Plain DB-API
calls only, like rows.py: the commit process imports this.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from typing import TYPE_CHECKING, Any

import orjson

from ephemail.core.time import received_at as received_at_text

if TYPE_CHECKING:
    from sqlalchemy import Connection

MESSAGE_RECEIVED = "message.received"
SUBJECT_CHARS = 500  # as the live events cut them (events/model.py)
NAME_CHARS = 200

OUTBOX_INSERT = (
    "INSERT INTO webhook_outbox (webhook_id, event_id, event_type, payload, created_ms, "
    "attempts, next_attempt_ms, claimed_until_ms) VALUES ({})"
)
_HOOKS_SQLITE = "SELECT id, user_id, mailbox_id, events FROM webhooks WHERE user_id IN ({})"
_HOOKS_PG = "SELECT id, user_id, mailbox_id, events FROM webhooks WHERE user_id = ANY($1::bigint[])"


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def wants(events: str, kind: str) -> bool:
    """Whether a hook's comma list of event types takes `kind`."""
    return kind in events.split(",")


def received_payload(message: dict[str, Any]) -> str:
    """The `data` of a message.received event: what the live stream says of it."""
    return orjson.dumps(
        {
            "mailbox": message["to_address"],
            "id": message["id"],
            "from": message["from_name"][:NAME_CHARS],
            "from_email": message["from_email"][:320],
            "subject": message["subject"][:SUBJECT_CHARS],
            "receivedAt": received_at_text(message["received_at"]),
        }
    ).decode()


def outbox_values(hooks: list[Any], messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """One row per (matching hook, message): an account hook takes every mailbox of its
    user, a mailbox hook its own mailbox."""
    if not hooks:
        return []
    now_ms = int(time.time() * 1000)
    rows: list[tuple[Any, ...]] = []
    for message in messages:
        event_id = ""
        for hook_id, user_id, mailbox_id, events in hooks:
            if user_id != message["user_id"] or not wants(events, MESSAGE_RECEIVED):
                continue
            if mailbox_id is not None and mailbox_id != message["mailbox_id"]:
                continue
            event_id = event_id or new_event_id()
            payload = received_payload(message)
            rows.append((hook_id, event_id, MESSAGE_RECEIVED, payload, now_ms, 0, now_ms, 0))
    return rows


def write_outbox_sqlite(db: sqlite3.Connection, messages: list[dict[str, Any]]) -> int:
    """Inside the commit's open transaction; the number of outbox rows written."""
    users = sorted({m["user_id"] for m in messages})
    if not users:
        return 0
    hooks = db.execute(_HOOKS_SQLITE.format(",".join("?" * len(users))), users).fetchall()
    rows = outbox_values(hooks, messages)
    if rows:
        db.executemany(OUTBOX_INSERT.format(",".join("?" * 8)), rows)
    return len(rows)


def write_outbox_pg(conn: Connection, messages: list[dict[str, Any]]) -> int:
    """PostgreSQL's writer (through `run_sync`), inside its transaction."""
    users = sorted({m["user_id"] for m in messages})
    if not users:
        return 0
    hooks = list(conn.exec_driver_sql(_HOOKS_PG, (users,)))
    rows = outbox_values(hooks, messages)
    if rows:
        marks = ", ".join(f"${i}" for i in range(1, 9))
        conn.exec_driver_sql(OUTBOX_INSERT.format(marks), rows)
    return len(rows)
