"""Content-Type and Content-Disposition: the value and its parameters, in linear time.

Our own reader, not the stdlib's: its header classes and `Message.get_params` cost time
quadratic in a value's length (`attachment(x)` and 8,000 `;` took 0.49 s). This one strips
comments in one pass, splits parameters with a pattern whose alternatives start with
different characters (no backtracking), reads at most MAX_PARAMS of them, and joins RFC 2231
continuations (`name*0*=`, `name*1*=` …) in index order.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from urllib.parse import unquote_to_bytes

from ephemail.mail.parse.limits import MAX_COMMENT_PARENS, MAX_PARAMS
from ephemail.mail.parse.text import as_bytes, decode_bytes

_QUOTED = r'"[^"\\]*(?:\\.[^"\\]*)*"?'
_COMMENT_SPLIT = re.compile(rf"({_QUOTED})|([()])|(\\.?)", re.DOTALL)
# One parameter: text up to the next `;` outside quotes. Unrolled (`a*(?:b a*)*`), so no two
# quantifiers compete for the same characters; the lookahead skips runs of `;` in C.
_CHUNK = re.compile(rf'(?=[^;])[^;"\\]*(?:(?:\\.?|{_QUOTED})[^;"\\]*)*', re.DOTALL)
_SPECIAL = re.compile(r'["(\\*]')
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_SECTION = re.compile(r"([^*]+)(?:\*([0-9]{1,3}))?(\*)?")


def strip_comments(value: str) -> str:
    """The value without `(comments)`, nested or not; quoted strings are kept whole."""
    if "(" not in value:
        return value
    out: list[str] = []
    depth = tokens = 0
    position = 0
    for match in _COMMENT_SPLIT.finditer(value):
        if depth == 0:
            out.append(value[position : match.start()])
        position = match.end()
        paren = match.group(2)
        if paren is not None:
            tokens += 1
            if tokens > MAX_COMMENT_PARENS:
                return "".join(out)  # a flood of parentheses: the rest counts as comment
        if paren == "(":
            depth += 1
        elif paren == ")" and depth:
            depth -= 1
            if depth == 0:
                out.append(" ")
        elif depth == 0:
            out.append(match.group())  # a quoted string, an escape or a lone ")"
    if depth == 0:
        out.append(value[position:])
    return "".join(out)


def unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        value = value[1:-1] if len(value) > 1 and value.endswith('"') else value[1:]
        return _unescape(value) if "\\" in value else value
    return value


def _unescape(text: str) -> str:
    """Quoted pairs (`\\x` → `x`) at C speed: escaped backslashes first, then the rest."""
    if "\x00" in text:
        return _QUOTED_PAIR.sub(lambda match: match.group(1), text)
    return text.replace("\\\\", "\x00").replace("\\", "").replace("\x00", "\\")


def parse_params(value: str, *, comments: bool = True) -> tuple[str, Mapping[str, str]]:
    """(the value before the first `;`, lowercased; {parameter name: text}). With
    comments=False, parentheses are text (some senders put them in unquoted boundaries)."""
    if not _SPECIAL.search(value):  # the common case: nothing quoted, commented or encoded
        return _simple_params(value)
    text = strip_comments(value) if comments else value
    chunks = list(itertools.islice(_CHUNK.finditer(text), MAX_PARAMS + 1))
    main = ""
    if chunks and chunks[0].start() == 0:
        main = chunks.pop(0).group().strip().lower()
    plain: dict[str, str] = {}
    sections: dict[str, list[tuple[int, bool, str]]] = {}
    for chunk in chunks[:MAX_PARAMS]:
        name, equals, raw = chunk.group().partition("=")
        name = name.strip().lower()
        if not equals or not name:
            continue
        section = _SECTION.fullmatch(name) if "*" in name else None
        if section is None or (section.group(2) is None and section.group(3) is None):
            plain.setdefault(name, unquote(raw))
            continue
        index = int(section.group(2) or 0)
        sections.setdefault(section.group(1), []).append(
            (index, section.group(3) is not None, unquote(raw))
        )
    for name, pieces in sections.items():
        plain[name] = _join_sections(pieces)  # RFC 2231 wins over a plain twin
    return main, plain


def _simple_params(value: str) -> tuple[str, Mapping[str, str]]:
    main, _, rest = value.partition(";")
    plain: dict[str, str] = {}
    for chunk in rest.split(";", MAX_PARAMS)[:MAX_PARAMS]:
        name, equals, raw = chunk.partition("=")
        name = name.strip().lower()
        if equals and name:
            plain.setdefault(name, raw.strip())
    return main.strip().lower(), plain


def _join_sections(pieces: list[tuple[int, bool, str]]) -> str:
    """RFC 2231: `charset'language'text` in the first encoded section, %XX in every one."""
    pieces.sort(key=lambda piece: piece[0])
    charset = ""
    data: list[bytes] = []
    for number, (_, encoded, text) in enumerate(pieces):
        if encoded and number == 0 and text.count("'") >= 2:
            charset, _, rest = text.partition("'")
            text = rest.partition("'")[2]
        data.append(unquote_to_bytes(as_bytes(text)) if encoded else as_bytes(text))
    return decode_bytes(b"".join(data), charset or "utf-8")
