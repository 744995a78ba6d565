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
    lines = raw[start:head_end].split(b"\n", MAX_HEADER_LINES)
    kinds = [_kind(line) for line in lines[:MAX_HEADER_LINES]]
    last_header = max((i for i, kind in enumerate(kinds) if kind == "header"), default=-1)
    headers: dict[str, list[str]] = {}
    current: list[str] | None = None
    size = 0
    offset = start
    for index, (line, kind) in enumerate(zip(lines, kinds, strict=False)):
        if kind == "other" and index > last_header:
            return _joined(headers), offset  # the body starts on this line
        offset += len(line) + 1
        if kind == "continuation":
            if current is not None and size < MAX_HEADER_CHARS:
                current.append(header_str(line.rstrip(b"\r")))
                size += len(line)
            continue
        current = None
        if kind != "header":
            continue  # a broken line with headers after it: skipped, with its continuation
        name, _, value = line.rstrip(b"\r").partition(b":")
        key = header_str(name).lower()
        if key not in headers:
            current = headers[key] = [header_str(value.lstrip(b" \t"))]
            size = len(value)
    return _joined(headers), body_start


def _kind(line: bytes) -> str:
    if line[:1] in (b" ", b"\t"):
        return "continuation"
    if line.startswith(b"From ") or line.rstrip(b"\r") == b"":
        return "envelope"  # an mbox "From " line: neither header nor body
    return "header" if _HEADER.match(line) else "other"


def _joined(headers: dict[str, list[str]]) -> dict[str, str]:
    return {key: "".join(parts)[:MAX_HEADER_CHARS] for key, parts in headers.items()}
