"""Bytes and header strings made into clean text: charsets, raw 8-bit bytes, control chars.

Header values are kept as ASCII strings in which every 8-bit byte is a lone surrogate
(`surrogateescape`), so no byte is lost before we know how to decode it.
"""

from __future__ import annotations

import codecs
import re

from ephemail.mail.parse.limits import MAX_CHARSET

# Labels Python lacks, or widens: mail tools write cp1252 and GB18030 under narrower labels.
_CHARSET_LABELS = {
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "x-mac-cyrillic": "mac-cyrillic",
    "x-mac-roman": "mac-roman",
}
_CHARSET_WIDER = {
    "ascii": "utf-8",
    "iso8859-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
}
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")
SURROGATE = re.compile("[\ud800-\udfff]")
_BREAKS_TO_SPACES = str.maketrans("\t\r\n\v\f", "     ")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # Cc without \t \n \v \f \r


def header_str(data: bytes) -> str:
    """Header bytes as the parser keeps them: ASCII, 8-bit bytes as lone surrogates."""
    return data.decode("ascii", "surrogateescape")


def as_bytes(text: str) -> bytes:
    """The inverse of header_str, for text that may also hold real non-ASCII characters."""
    return text.encode("utf-8", "surrogateescape")


def codec(charset: str | None) -> str:
    """A text codec for a declared charset; UTF-8 when unknown, missing or not text."""
    label = (charset or "").strip().strip("\"'").lower()
    if not label or len(label) > MAX_CHARSET:
        return "utf-8"
    try:
        info = codecs.lookup(_CHARSET_LABELS.get(label, label))
    except Exception:
        return "utf-8"
    if not getattr(info, "_is_text_encoding", True):
        return "utf-8"  # e.g. "zlib" or "base64": codecs, but not charsets
    return _CHARSET_WIDER.get(info.name, info.name)


def decode_bytes(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(codec(charset), "replace")
    except Exception:
        return data.decode("utf-8", "replace")


def text_from_8bit(text: str) -> str:
    """Undeclared 8-bit header bytes (lone surrogates) read as UTF-8, else as cp1252: the
    two encodings such headers are written in."""

    def decode(match: re.Match[str]) -> str:
        data = match.group().encode("utf-8", "surrogateescape")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252", "replace")

    return _ESCAPED_BYTES.sub(decode, text)


def clean_line(text: str) -> str:
    """One line of text: no control characters, no lone surrogates.

    Line breaks and tabs become spaces; every other control character (Unicode category Cc,
    which is exactly U+0000–U+001F and U+007F–U+009F) goes. A table and a regex instead of a
    loop over characters: they run at C speed on every header shown. Printable ASCII, most
    headers, has nothing to replace: only its spaces at the ends go."""
    if text.isascii() and text.isprintable():
        return text.strip()
    text = SURROGATE.sub("\ufffd", text_from_8bit(text))
    return _CONTROL.sub("", text.translate(_BREAKS_TO_SPACES)).strip()
