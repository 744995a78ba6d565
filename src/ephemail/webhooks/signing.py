"""The signature a receiver checks: HMAC-SHA256 over `f"{timestamp}.{body}"` with the hook's
secret, sent as `Ephemail-Signature: t=<unix seconds>,v1=<hex>` (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Ephemail-Signature"
EVENT_ID_HEADER = "Ephemail-Event-Id"
EVENT_TYPE_HEADER = "Ephemail-Event-Type"
ATTEMPT_HEADER = "Ephemail-Delivery-Attempt"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """The receiver's side, as the docs give it: the right MAC, and not older than
    `tolerance` seconds (a replayed request fails)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))
