"""What the API answers, as typed objects; the JSON names of the contract stay as aliases.

Unknown fields are ignored, so a newer service with more fields does not break an older
client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

ACTION_KINDS = ("verify", "reset", "magic")
"""Link kinds a sign-up or reset flow follows: verification, password reset, magic sign-in."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Domain(_Model):
    domain: str
    type: str  # "Free", "Premium" or "Custom", as the contract capitalises it
    custom: bool


class DomainList(_Model):
    requested_type: str
    allowed_types: list[str]
    domains: list[Domain]


class Mailbox(_Model):
    """A mailbox as creation, renaming and extension answer it."""

    id: int
    email: str
    domain: str
    expire_at: datetime
    expires_in_seconds: int
    created_at: datetime
    email_token: str

    @field_serializer("expire_at", "created_at")
    def _iso(self, value: datetime) -> str:
        """As the contract writes times: ISO 8601 with `+00:00`."""
        return value.isoformat()


class Attachment(_Model):
    name: str
    extension: str
    size: int
    url: str


class Message(_Model):
    """One message. `sender` is the contract's `from` (the display name, or the address)."""

    id: str
    subject: str
    sender: str = Field(alias="from")
    from_email: str
    to: str
    received_at: datetime = Field(alias="receivedAt")
    is_seen: bool
    html: bool
    content: str
    attachments: list[Attachment] = []

    @field_validator("received_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        """`receivedAt` is UTC without an offset; say so, so comparisons are right."""
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @field_serializer("received_at")
    def _contract_time(self, value: datetime) -> str:
        """Back to the contract's `YYYY-MM-DD HH:MM:SS` (UTC), so a dump by alias is the
        API's JSON again."""
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class Code(_Model):
    code: str
    context: str = ""


class Link(_Model):
    url: str
    text: str = ""
    kind: str = "other"  # verify, reset, magic, unsubscribe or other


class Extraction(_Model):
    """A message's one-time codes (best first) and links (verify/reset/magic first)."""

    id: str
    codes: list[Code] = []
    links: list[Link] = []

    @property
    def code(self) -> str | None:
        """The best code, or None when the message has none."""
        return self.codes[0].code if self.codes else None

    def link(self, kinds: tuple[str, ...] = ACTION_KINDS) -> str | None:
        """The first link of one of `kinds` (by default those a sign-up flow follows)."""
        return next((link.url for link in self.links if link.kind in kinds), None)


class Webhook(_Model):
    """A registered receiver: for the account (`email` None) or one mailbox (it dies with
    the mailbox). Event types: message.received, message.deleted, mailbox.created,
    mailbox.renamed, mailbox.deleted, mailbox.expired."""

    id: int
    url: str
    email: str | None = None
    events: list[str] = []
    created_at: datetime


class CreatedWebhook(Webhook):
    """The answer to a registration: the only one that holds the signing `secret`."""

    secret: str


class Delivery(_Model):
    """One delivery attempt: the receiver's `status_code` (None when no answer came, then
    `error` says why), and when the next attempt is due (None: delivered, or given up)."""

    event_id: str
    event_type: str
    attempt: int
    status_code: int | None = None
    error: str | None = None
    latency_ms: int
    at: datetime
    next_retry_at: datetime | None = None


@dataclass(frozen=True)
class RateLimit:
    """The `X-RateLimit-*` headers of the latest answer that carried them."""

    limit: int
    used: int
    remaining: int
    reset: datetime


@dataclass(frozen=True)
class Event:
    """One event of a mailbox's stream: `type` (message.received, message.deleted,
    mailbox.renamed, mailbox.deleted, mailbox.expired), its JSON `data`, and the `id` to
    resume from (`last_event_id`, or `since` of a wait)."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
