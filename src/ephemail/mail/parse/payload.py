"""Part payloads: transfer encodings undone and text decoded, each in one linear pass."""

from __future__ import annotations

import binascii

from ephemail.mail.parse.text import SURROGATE, decode_bytes
from ephemail.mail.parse.tree import Entity
from ephemail.mail.parse.words import decode_base64

_UU = frozenset({"x-uuencode", "uuencode", "x-uue", "uue"})


def payload_bytes(raw: bytes, entity: Entity) -> bytes:
    """Decoded content; the raw bytes when the encoding is unknown or not one at all."""
    data = raw[entity.start : entity.end] if entity.end > entity.start else b""
    encoding = entity.headers.get("content-transfer-encoding", "").partition(";")[0]
    encoding = encoding.strip().lower()
    if encoding == "base64":
        return decode_base64(data)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    if encoding in _UU:
        return _decode_uu(data)
    return data


def _decode_uu(data: bytes) -> bytes:
    """Lines between `begin` and `end`; a broken line gives what it can (the stdlib way)."""
    out: list[bytes] = []
    started = False
    for line in data.splitlines():
        if not started:
            started = line.startswith(b"begin ")
            continue
        if line.strip() in (b"end", b"`"):
            break
        try:
            out.append(binascii.a2b_uu(line))
        except binascii.Error:
            try:  # the stdlib's workaround for encoders that add garbage
                size = (((line[0] - 32) & 63) * 4 + 5) // 3
                out.append(binascii.a2b_uu(line[:size]))
            except (binascii.Error, IndexError):
                continue
    return b"".join(out) if started else data


def body_text(raw: bytes, entity: Entity, charset: str | None) -> str:
    text = decode_bytes(payload_bytes(raw, entity), charset)
    return SURROGATE.sub("\ufffd", text).replace("\x00", "").replace("\r\n", "\n")
