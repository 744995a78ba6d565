"""The store's records: what the repositories and reads hand to mail, api and the CLI.

One home for every type, so a module that needs a `User` or a `Recipient` does not have to
import the repository that loads it. Plain frozen dataclasses, no database code.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Plan:
    id: int
    name: str
    monthly_quota: int
    mailbox_lifetime: int
    max_mailboxes: int
    domain_types: tuple[str, ...]
    max_lifetime_seconds: int = 0  # from creation, once extended; below the lifetime: none

    @property
    def max_lifetime(self) -> int:
        """How long a mailbox may live from its creation: never less than the lifetime."""
        return max(self.max_lifetime_seconds, self.mailbox_lifetime)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    timezone: str
    is_admin: bool
    disabled: bool
    plan: Plan


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    id: int
    prefix: str
    created_at: int
    revoked_at: int | None
    last_used_at: int | None = None


@dataclass(frozen=True, slots=True)
class Domain:
    id: int
    name: str
    type: str
    owner_id: int | None


@dataclass(frozen=True, slots=True)
class Mailbox:
    id: int
    user_id: int
    address: str
    domain: str
    created_at: int
    expire_at: int
    message_count: int
    life_secret: str = field(repr=False)  # what its email token seals; new at every rename


@dataclass(frozen=True, slots=True)
class Recipient:
    """What SMTP receipt needs to know about a live mailbox."""

    mailbox_id: int
    user_id: int
    address: str
    message_count: int
    life_secret: str  # the mailbox life RCPT saw: mail is stored in that life or not at all


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    name: str
    extension: str
    size: int


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: str
    mailbox_id: int
    to: str
    subject: str
    from_name: str
    from_email: str
    is_html: bool
    content: str
    is_seen: bool
    received_at: int
    attachments: tuple[AttachmentInfo, ...]


@dataclass(frozen=True, slots=True)
class AttachmentData:
    name: str
    content_type: str
    data: bytes
