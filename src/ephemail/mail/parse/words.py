"""RFC 2047 encoded words (`=?charset?Q?text?=`), decoded in one linear pass.

Our own decoder rather than `email.header.decode_header`: it decodes words whose text holds
raw 8-bit bytes in their declared charset (mail tools write those), joins adjacent words of
one charset before decoding (so a character split across two words survives), and its
pattern cannot backtrack: the encoded text stops at the first `?`, so every character is
looked at by at most one attempt.
"""

from __future__ import annotations

import binascii
import re

from ephemail.mail.parse.text import as_bytes, decode_bytes, text_from_8bit

_WORD = re.compile(r"=\?([^?\s]{1,40})\?([bBqQ])\?([^?]*)\?=")  # 40: MAX_CHARSET
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def decode_words(value: str) -> str:
    """The text of a header value: encoded words decoded, other 8-bit bytes read as text."""
    if "=?" not in value:
        return text_from_8bit(value)
    out: list[str] = []
    pending: list[bytes] = []  # decoded bytes of adjacent words in one charset
    pending_charset = ""
    position = 0
    for match in _WORD.finditer(value):
        between = value[position : match.start()]
        charset = match.group(1).partition("*")[0].lower()  # RFC 2231 adds "*language"
        adjacent = position > 0 and pending and not between.strip(" \t\r\n")
        if not (adjacent and charset == pending_charset):
            if pending:
                out.append(decode_bytes(b"".join(pending), pending_charset))
                pending = []
            if not adjacent:
                out.append(text_from_8bit(between))
        pending.append(_word_bytes(match.group(2), match.group(3)))
        pending_charset = charset
        position = match.end()
    if pending:
        out.append(decode_bytes(b"".join(pending), pending_charset))
    out.append(text_from_8bit(value[position:]))
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes:
    data = as_bytes(text)
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    return decode_base64(data)


def decode_base64(data: bytes) -> bytes:
    """Like the stdlib, but broken base64 yields the bytes that could be read, not nothing."""
    try:
        return binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        pass
    cleaned = _NOT_BASE64.sub(b"", data)
    extra = len(cleaned) % 4
    cleaned = cleaned[:-1] if extra == 1 else cleaned + b"=" * ((4 - extra) % 4)
    try:
        return binascii.a2b_base64(cleaned)
    except (binascii.Error, ValueError):
        return b""
