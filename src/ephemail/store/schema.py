"""SQLAlchemy Core tables: one schema for SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.sql.schema import SchemaItem

from ephemail.core.ids import new_life_secret

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger there would not.
Id = BigInteger().with_variant(Integer(), "sqlite")
# Ids that leave the process (in API answers, tokens, CLI listings, mail in flight) must never
# name a second object, so those tables say `sqlite_autoincrement`: without it SQLite hands a
# deleted row's id to the next row. PostgreSQL sequences never go back. Attachments are found
# by (message id, name) instead, and message ids are random.
# Times are UTC epoch seconds: the contract needs whole seconds only, and integers compare
# the same way on every backend with no time-zone surprises.
Epoch = BigInteger


def _serial_id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _public_table(name: str, *items: SchemaItem) -> Table:
    """A table whose ids leave the process: keyed by `id`, never handed out twice."""
    return Table(name, metadata, _serial_id(), *items, sqlite_autoincrement=True)


def _owned_by(column: str, table: str, *, nullable: bool = False) -> Column[int]:
    """A reference to a row of `table` that goes when that row goes."""
    return Column(column, ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=nullable)


def _delivery_columns() -> list[Column[Any]]:
    """What the webhook outbox and the deliveries log both hold: the hook and the event."""
    return [
        _owned_by("webhook_id", "webhooks"),
        Column("event_id", String(40), nullable=False),
        Column("event_type", String(40), nullable=False),
    ]


plans = _public_table(
    "plans",
    Column("name", String(64), nullable=False, unique=True),
    Column("monthly_quota", BigInteger, nullable=False),
    Column("mailbox_lifetime", Integer, nullable=False),
    Column("max_mailboxes", Integer, nullable=False),
    Column("domain_types", String(64), nullable=False),  # comma list: free,premium,custom
    # How long a mailbox may live from its creation once extended; the lifetime when lower.
    Column("max_lifetime_seconds", Integer, nullable=False, server_default="0"),
)

users = _public_table(
    "users",
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(256), nullable=True),
    Column("plan_id", ForeignKey("plans.id"), nullable=False),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Epoch, nullable=False),
)

api_keys = _public_table(
    "api_keys",
    _owned_by("user_id", "users"),
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 hex
    Column("prefix", String(16), nullable=False),  # shown in listings, not secret
    Column("created_at", Epoch, nullable=False),
    Column("revoked_at", Epoch, nullable=True),
    # When the key last opened the API, to within the key cache's lifetime: noted when the
    # cache loads the key (not per request) and written with the usage counts.
    Column("last_used_at", Epoch, nullable=True),
)

domains = _public_table(
    "domains",
    Column("name", String(253), nullable=False, unique=True),
    Column("type", String(16), nullable=False),  # free | premium | custom
    _owned_by("owner_id", "users", nullable=True),
    Column("created_at", Epoch, nullable=False),
)

mailboxes = _public_table(
    "mailboxes",
    _owned_by("user_id", "users"),
    _owned_by("domain_id", "domains"),
    Column("address", String(320), nullable=False, unique=True),
    Column("created_at", Epoch, nullable=False),
    Column("expire_at", Epoch, nullable=False),
    Column("message_count", Integer, nullable=False, default=0),
    # Random, new at every create and rename: an email token seals it, so a token opens one
    # mailbox under one address and nothing after a delete, a rename (or renaming back).
    Column("life_secret", String(32), nullable=False, default=new_life_secret),
    Index("ix_mailboxes_user", "user_id"),
    Index("ix_mailboxes_expire", "expire_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(46), primary_key=True),
    _owned_by("mailbox_id", "mailboxes"),
    _owned_by("user_id", "users"),
    Column("seq", BigInteger, nullable=False),  # receipt order, for "newest first"
    Column("to_address", String(320), nullable=False),
    Column("envelope_from", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("from_name", Text, nullable=False),
    Column("from_email", String(320), nullable=False),
    Column("is_html", Boolean, nullable=False),
    Column("content", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("is_seen", Boolean, nullable=False, default=False),
    Column("received_at", Epoch, nullable=False),
    # The listing's order, `seq DESC, id`, with no sort left to do (migration 0007).
    Index("ix_messages_mailbox_order", "mailbox_id", text("seq DESC"), "id"),
    # Search (migration 0005): on PostgreSQL a `search tsvector` column with a GIN index; on
    # SQLite the FTS5 table `messages_fts` (rowid = the message's rowid). Neither is declared
    # here, as SQLAlchemy knows neither; store/search.py and the ingest writers use them.
)

message_raw = Table(
    "message_raw",
    metadata,
    Column("message_id", ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("data", LargeBinary, nullable=False),  # zstd-compressed RFC 5322 bytes
    Column("sha256", String(64), nullable=False),  # of the uncompressed bytes, for audits
)

attachments = Table(
    "attachments",
    metadata,
    _serial_id(),
    _owned_by("message_id", "messages"),
    Column("position", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("extension", String(64), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("content_id", String(255), nullable=True),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    UniqueConstraint("message_id", "name", name="uq_attachments_message_name"),
)

quota_counters = Table(
    "quota_counters",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("period", String(7), primary_key=True),  # YYYY-MM in the account's zone
    Column("used", BigInteger, nullable=False, default=0),
)

# Website sign-ins. The cookie holds a random id; only its SHA-256 is kept, so a copy of the
# database opens no session. Deleted at sign-out, password change and when the user is
# disabled; an expired row is refused and purged at the next sign-in.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    _owned_by("user_id", "users"),
    Column("created_at", Epoch, nullable=False),
    Column("expires_at", Epoch, nullable=False),
    Index("ix_web_sessions_user", "user_id"),
    Index("ix_web_sessions_expires", "expires_at"),
)

# Usage per UTC day and account, for the operator area: counted in memory by each process
# and added here every few seconds (store/usage.py), never written per request. `user_id`
# 0 holds API requests that named no account (no key, a bad one).
usage_daily = Table(
    "usage_daily",
    metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, UTC
    Column("user_id", BigInteger, primary_key=True),
    Column("messages", BigInteger, nullable=False, default=0),
    Column("api_requests", BigInteger, nullable=False, default=0),
    Column("quota_used", BigInteger, nullable=False, default=0),
)

# Webhooks (docs/webhooks.md). A mailbox-scoped hook dies with its mailbox (the cascade, and
# a rename deletes it); an account hook (mailbox_id NULL) hears of every mailbox.
webhooks = _public_table(
    "webhooks",
    _owned_by("user_id", "users"),
    _owned_by("mailbox_id", "mailboxes", nullable=True),
    Column("url", Text, nullable=False),
    Column("events", String(512), nullable=False),  # comma list of event types
    Column("secret", String(64), nullable=False),  # the HMAC key; shown once, at creation
    Column("created_at", Epoch, nullable=False),
    Index("ix_webhooks_user", "user_id"),
    Index("ix_webhooks_mailbox", "mailbox_id"),
)

# The durable outbox: one row per (hook, event) until it is delivered or given up. Written
# in the transaction that made the event true; claimed by a dispatcher with a lease.
webhook_outbox = _public_table(
    "webhook_outbox",
    *_delivery_columns(),
    Column("payload", Text, nullable=False),  # the event's `data`, JSON
    Column("created_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("claimed_until_ms", BigInteger, nullable=False, default=0),
    UniqueConstraint("webhook_id", "event_id", name="uq_webhook_outbox_event"),
    Index("ix_webhook_outbox_due", "next_attempt_ms"),
)

# What each attempt got: kept for the deliveries log, pruned by age.
webhook_deliveries = _public_table(
    "webhook_deliveries",
    *_delivery_columns(),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(200), nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("next_retry_ms", BigInteger, nullable=True),  # None: delivered or given up
    Index("ix_webhook_deliveries_hook", "webhook_id", "id"),
    Index("ix_webhook_deliveries_at", "at_ms"),
)
