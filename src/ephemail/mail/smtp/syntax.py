"""The text of SMTP: paths and parameters read from commands, replies put on the wire.

Pure functions of their input, each bounded by the command line's length limit.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ephemail.mail.smtp.events import ProtocolLimits

PARAM = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\x21-\x3c\x3e-\x7e]+))?\Z")
# `<address>` alone, with nothing in it that the general reading below would treat apart
# (a quote, a backslash, a space, a source route's leading @): nearly every real path.
PLAIN_PATH = re.compile(r' *<([^<>"\\ @][^<>"\\ ]*|)>\Z')


@lru_cache(maxsize=256)
def encoded(line: str) -> bytes:
    """A reply on the wire. Nearly all replies are the same few strings: encode each once
    (the cache keeps the recent ones; a reply naming a message id just passes through)."""
    return clean(line) + b"\r\n"


@lru_cache(maxsize=16)
def ehlo_reply(limits: ProtocolLimits, starttls: bool) -> bytes:
    """The EHLO answer, built once per configuration rather than once per connection."""
    lines = [
        limits.hostname,
        f"SIZE {limits.max_message_size}",
        "8BITMIME",
        "SMTPUTF8",
        "PIPELINING",
        "CHUNKING",
        "ENHANCEDSTATUSCODES",
    ]
    if starttls:
        lines.append("STARTTLS")
    lines.append("HELP")
    last = len(lines) - 1
    return b"".join(
        clean(f"250{' ' if i == last else '-'}{text}") + b"\r\n" for i, text in enumerate(lines)
    )


def clean(line: str) -> bytes:
    """Replies are one line of printable ASCII, whatever went into them."""
    if line.isascii() and line.isprintable():
        return line.encode()
    return bytes(c if 32 <= c < 127 else 63 for c in line.encode("ascii", "replace"))


def path_and_params(text: str) -> tuple[str, dict[str, str]] | None:
    """`<path> PARAM=value ...` → (address, {PARAM: value}); None when it is not a path.

    Lenient like most MTAs: spaces after the colon and a path without brackets are taken;
    a source route (`<@relay:user@host>`) is dropped, as RFC 5321 4.1.1.3 says.
    """
    plain = PLAIN_PATH.match(text)
    if plain is not None:
        return plain.group(1), {}
    return read_path_and_params(text)


def read_path_and_params(text: str) -> tuple[str, dict[str, str]] | None:
    """The general reading behind `path_and_params`, which agrees with it on every text."""
    text = text.lstrip(" ")
    if text.startswith("<"):
        close = closing_bracket(text)
        if close < 0:
            return None
        address, rest = text[1:close], text[close + 1 :]
        if rest and not rest.startswith(" "):
            return None
    else:
        address, _, rest = text.partition(" ")
        if not address:
            return None
    if address.startswith("@"):
        _, colon, address = address.partition(":")
        if not colon:
            return None
    if " " in address and '"' not in address:
        return None
    params: dict[str, str] = {}
    for word in rest.split():
        match = PARAM.match(word)
        if match is None:
            return None
        params[match.group(1).upper()] = match.group(2) or ""
    return address, params


def bdat_args(text: str) -> tuple[int, bool] | None:
    """`<size> [LAST]` of BDAT (RFC 3030) → (size, last); None when it is not that."""
    size, _, last = text.partition(" ")
    if not (size.isascii() and size.isdigit()) or len(size) > 20:
        return None
    if last and last.upper() != "LAST":
        return None
    return int(size), bool(last)


def closing_bracket(text: str) -> int:
    if '"' not in text and "\\" not in text:
        return text.find(">")
    quoted = False
    escaped = False
    for i, char in enumerate(text[1:], 1):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ">" and not quoted:
            return i
    return -1
