"""email_token: an encrypted, authenticated name for one life of one mailbox.

The token carries the mailbox id and the mailbox's life secret (random, stored with the
mailbox, replaced at every rename), sealed with AES-GCM under a key derived from the service's
secret. A reader must also find that mailbox live with that same secret. Ids are never
reused and a secret never comes back, so a delete, a rename (or a rename back), expiry and
the purge end the token for good.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Version 1 sealed (id, address): it died with the address but came back with it. Its tokens
# no longer open.
_VERSION = b"\x02"
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_AAD = b"ephemail-email-token-v2"
_SECRET_BYTES = 16
_PAYLOAD = 8 + _SECRET_BYTES


class TokenCodec:
    """Seal and open email tokens with a key derived from the service secret."""

    def __init__(self, secret_key: str) -> None:
        key = hashlib.sha256(b"email-token:" + secret_key.encode()).digest()
        self._aead = AESGCM(key)

    def seal(self, mailbox_id: int, life_secret: str) -> str:
        """`life_secret` is the mailbox's 32 hex characters (core.ids.new_life_secret)."""
        secret = bytes.fromhex(life_secret)
        if len(secret) != _SECRET_BYTES:
            raise ValueError("a life secret is 16 bytes")
        nonce = os.urandom(12)
        payload = struct.pack(">Q", mailbox_id) + secret
        sealed = _VERSION + nonce + self._aead.encrypt(nonce, payload, _AAD)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def open(self, token: str) -> tuple[int, str] | None:
        """(mailbox id, life secret), or None for anything forged, altered or malformed."""
        if not token or len(token) > 1024 or not _ALPHABET.fullmatch(token):
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            return None
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
            return None  # another spelling of the same bytes is an altered token
        if len(raw) != 1 + 12 + _PAYLOAD + 16 or raw[:1] != _VERSION:
            return None
        try:
            payload = self._aead.decrypt(raw[1:13], raw[13:], _AAD)
        except InvalidTag:
            return None
        (mailbox_id,) = struct.unpack(">Q", payload[:8])
        return mailbox_id, payload[8:].hex()
