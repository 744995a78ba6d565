"""email_token: an encrypted, authenticated name for one mailbox.

The token carries the mailbox id and its address, sealed with AES-GCM under a key derived
from the service's secret. A reader must also find that mailbox live under that address,
so the token dies with a delete, a rename (the address changes) or expiry.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_AAD = b"ephemail-email-token-v1"


class TokenCodec:
    """Seal and open email tokens with a key derived from the service secret."""

    def __init__(self, secret_key: str) -> None:
        key = hashlib.sha256(b"email-token:" + secret_key.encode()).digest()
        self._aead = AESGCM(key)

    def seal(self, mailbox_id: int, address: str) -> str:
        nonce = os.urandom(12)
        payload = struct.pack(">Q", mailbox_id) + address.encode()
        sealed = _VERSION + nonce + self._aead.encrypt(nonce, payload, _AAD)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def open(self, token: str) -> tuple[int, str] | None:
        """(mailbox id, address), or None for anything forged, altered or malformed."""
        if not token or len(token) > 1024 or not _ALPHABET.fullmatch(token):
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            return None
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
            return None  # another spelling of the same bytes is an altered token
        if len(raw) < 1 + 12 + 16 + 8 or raw[:1] != _VERSION:
            return None
        try:
            payload = self._aead.decrypt(raw[1:13], raw[13:], _AAD)
        except InvalidTag:
            return None
        (mailbox_id,) = struct.unpack(">Q", payload[:8])
        try:
            address = payload[8:].decode()
        except UnicodeDecodeError:
            return None
        return mailbox_id, address
