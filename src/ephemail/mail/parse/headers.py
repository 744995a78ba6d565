"""The header block of one MIME entity, read in one pass over its lines.

The block ends at the first empty line. A line that is neither a header nor a continuation
is skipped when a header follows it in the same block (a broken `Fro :x` first line must not
turn every header below it into body text, as it did with the stdlib parser); otherwise the
body starts there. Only the first value of each header is kept, unfolded, cut to
MAX_HEADER_CHARS, as an ASCII string with 8-bit bytes as lone surrogates (text.header_str).
"""

from __future__ import annotations

import re

from ephemail.mail.parse.limits import MAX_HEADER_CHARS, MAX_HEADER_LINES
from ephemail.mail.parse.text import header_str

_HEADER = re.compile(rb"([!-9;-~]+):")  # a field name: printable ASCII but ":" and space
_BLANK_LINE = re.compile(rb"\n\r?\n")
_BARE_CR = re.compile(rb"\r(?!\n)")


def bare_cr_as_lf(raw: bytes) -> bytes:
    """A lone CR ends a line too (as in the stdlib parser). Same length, so offsets found in
    the result hold in the original, from which payloads are cut with their bytes intact."""
    if raw.count(b"\r") == raw.count(b"\r\n"):
        return raw
    return _BARE_CR.sub(b"\n", raw)


def read_head(raw: bytes, start: int, limit: int) -> tuple[dict[str, str], int]:
    """(first value of each header by lowercase name, where the body starts).

    Looks at raw[start:limit] only; the body starts after the empty line, at the first line
    that begins the body, or at `limit`.
    """
    if raw.startswith(b"\n", start) or raw.startswith(b"\r\n", start):
        return {}, start + (1 if raw[start] == 10 else 2)  # no headers: an empty first line
    blank = _BLANK_LINE.search(raw, start, limit)
    head_end = blank.start() + 1 if blank else limit  # just after the last header line's \n
    body_start = blank.end() if blank else limit
    lines = raw[start:head_end].split(b"\n", MAX_HEADER_LINES)[:MAX_HEADER_LINES]
    last_header = len(lines) - 1  # the last line that is a header: usually the last one
    while last_header >= 0 and _kind(lines[last_header]) != _FIELD:
        last_header -= 1
    headers: dict[str, list[str]] = {}
    current: list[str] | None = None
    size = offset = 0
    for index, line in enumerate(lines):
        kind = _kind(line)
        if kind == _OTHER and index > last_header:
            return _joined(headers), start + offset  # the body starts on this line
        offset += len(line) + 1
        if kind == _CONTINUATION:
            if current is not None and size < MAX_HEADER_CHARS:
                current.append(header_str(line.rstrip(b"\r")))
                size += len(line)
            continue
        current = None
        if kind != _FIELD:
            continue  # a broken line with headers after it: skipped, with its continuation
        name, _, value = line.rstrip(b"\r").partition(b":")
        key = header_str(name).lower()
        if key not in headers:
            current = headers[key] = [header_str(value.lstrip(b" \t"))]
            size = len(value)
    return _joined(headers), body_start


_FIELD, _CONTINUATION, _ENVELOPE, _OTHER = range(4)


def _kind(line: bytes) -> int:
    if line[:1] in (b" ", b"\t"):
        return _CONTINUATION
    if _HEADER.match(line):
        return _FIELD
    if line.startswith(b"From ") or line.rstrip(b"\r") == b"":
        return _ENVELOPE  # an mbox "From " line or an empty last line: neither
    return _OTHER


def _joined(headers: dict[str, list[str]]) -> dict[str, str]:
    return {key: "".join(parts)[:MAX_HEADER_CHARS] for key, parts in headers.items()}
