"""Store objects → the contract's JSON dicts. The one place field names are spelled."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ephemail.core.time import iso_utc, now_epoch, received_at
from ephemail.store.models import Mailbox, StoredMessage


def mailbox_data(box: Mailbox, token: str) -> dict[str, Any]:
    return {
        "id": box.id,
        "email": box.address,
        "domain": box.domain,
        "expire_at": iso_utc(box.expire_at),
        "expires_in_seconds": max(0, box.expire_at - now_epoch()),
        "created_at": iso_utc(box.created_at),
        "email_token": token,
    }


def attachment_url(base: str, message_id: str, name: str) -> str:
    """`base` is where this reader's message routes live (key routes or token routes)."""
    return f"{base}/{message_id}/attachments/{quote(name, safe='')}"


def message_data(message: StoredMessage, base: str) -> dict[str, Any]:
    return {
        "is_seen": message.is_seen,
        "subject": message.subject,
        "from": message.from_name,
        "from_email": message.from_email,
        "to": message.to,
        "receivedAt": received_at(message.received_at),
        "id": message.id,
        "html": message.is_html,
        "content": message.content,
        "attachments": [
            {
                "name": a.name,
                "extension": a.extension,
                "size": a.size,
                "url": attachment_url(base, message.id, a.name),
            }
            for a in message.attachments
        ],
    }


def listing_item(message: StoredMessage, base: str, content_chars: int) -> dict[str, Any]:
    """A message as a listing carries it: a body longer than `content_chars` is cut there and
    flagged (extension); the whole body is at `GET /api/messages/{id}`."""
    data = message_data(message, base)
    if len(message.content) > content_chars:
        data["content"] = message.content[:content_chars]
        data["content_truncated"] = True
    return data


def content_disposition(name: str) -> str:
    """RFC 6266: an ASCII fallback plus `filename*` for the real (possibly non-ASCII) name."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    value = f'attachment; filename="{fallback or "attachment"}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value
