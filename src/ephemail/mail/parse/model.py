"""What the parser hands the store: the fields the API shows of one message."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParsedAttachment:
    name: str
    extension: str
    content_type: str
    content_id: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    subject: str
    from_name: str
    from_email: str
    is_html: bool
    content: str
    attachments: tuple[ParsedAttachment, ...]
