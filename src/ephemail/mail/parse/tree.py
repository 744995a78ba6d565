"""The MIME tree of a message, found in one pass over its delimiter lines.

Our own reader, not the stdlib's feed parser, which costs ~75 µs per part and tests every
body line against every open boundary (lines × depth). splitter.py finds the delimiter lines
of all open multiparts at C speed and matches each exactly, innermost first; a delimiter
that differs from the declared boundary only in case still counts; a multipart whose
closing delimiter never comes ends where its parent does. Entities refer to the input by
offsets: nothing is copied until a payload is decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ephemail.mail.parse.headers import bare_cr_as_lf, read_head
from ephemail.mail.parse.limits import (
    BYTES_PER_PART,
    MAX_BOUNDARY,
    MAX_DEPTH,
    MAX_FALSE_DELIMITERS,
    MAX_PARTS,
    MIN_PARTS,
)
from ephemail.mail.parse.params import parse_params
from ephemail.mail.parse.splitter import NONE, Open, Splitter

_BOUNDARY_LOOKAHEAD = 65_536  # bytes searched to tell which reading of a boundary is used
MIME_TYPE = re.compile(r"\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)/([!#$%&'*+.^_`|~0-9A-Za-z-]+)")


@dataclass(slots=True, eq=False)
class Entity:
    headers: dict[str, str]
    start: int  # of the body in the input
    end: int
    depth: int
    default_type: str  # text/plain, or message/rfc822 inside a digest
    declared_type: str | None
    children: list[Entity] | None = None  # a multipart that was split; None for a leaf
    too_deep: bool = False  # a multipart at MAX_DEPTH: neither split nor shown


def parse_tree(raw: bytes) -> Entity:
    """The root entity; leaves() walks it.

    A line that starts like a delimiter but is none (`--a--x` for boundary `a`) costs a
    little Python; after MAX_FALSE_DELIMITERS of them the split stops and the rest stays in
    the part it is in. After `budget` entities, likewise.
    """
    raw = bare_cr_as_lf(raw)  # for finding the structure; payloads come from the original
    budget = max(MIN_PARTS, min(MAX_PARTS, len(raw) // BYTES_PER_PART))
    root = _entity(raw, 0, len(raw), 0, "text/plain")
    boundary = _boundary(raw, root)
    if boundary is None:
        return root
    split = Splitter(raw)
    split.push(root, boundary, root.start)
    count, false_lines, position = 1, 0, root.start
    while split.stack:
        at = split.nearest(position)
        if at == NONE:
            break
        line_end = raw.find(b"\n", at + 1)
        line_end = len(raw) if line_end < 0 else line_end
        level, closing = split.which(raw[at + 3 : line_end].rstrip(b" \t\r"))
        if level is None:
            false_lines += 1
            if false_lines > MAX_FALSE_DELIMITERS:
                break
            position = at + 2
            continue
        position = line_end + 1
        before = _before_break(raw, at + 1)
        for deeper in split.pop_to(level.level):
            _finish(deeper, before)
        if level.current is not None:
            level.current.end = before
            level.current = None
        if closing or count >= budget:
            _finish(split.pop_to(level.level - 1)[0], before)
            if count >= budget:
                break
            continue
        limit = min(split.nearest(position) + 1, len(raw))
        digest = level.entity.declared_type == "multipart/digest"
        default = "message/rfc822" if digest else "text/plain"
        child = _entity(raw, min(position, len(raw)), limit, level.entity.depth + 1, default)
        count += 1
        level.current = child
        level.children.append(child)
        boundary = _boundary(raw, child)
        if boundary is not None:
            split.push(child, boundary, child.start)
        position = child.start
    end = _before_break(raw, len(raw))  # an unclosed part loses its last line break too
    for still_open in split.pop_to(-1):
        _finish(still_open, end)
    return root


def _entity(raw: bytes, start: int, limit: int, depth: int, default: str) -> Entity:
    headers, body = read_head(raw, start, limit)
    match = MIME_TYPE.match(headers.get("content-type", ""))
    declared = f"{match.group(1)}/{match.group(2)}".lower() if match else None
    return Entity(headers, body, len(raw), depth, default, declared)  # end: until a delimiter


def _boundary(raw: bytes, entity: Entity) -> bytes | None:
    """The boundary of a multipart we will split; None for anything else."""
    if entity.declared_type is None or not entity.declared_type.startswith("multipart/"):
        return None
    if entity.depth >= MAX_DEPTH:
        entity.too_deep = True
        return None
    value = entity.headers.get("content-type", "")
    candidates = [parse_params(value)[1].get("boundary", "")]
    if "(" in value:  # `boundary=(x)y`: a comment by the RFC, but senders mean "(x)y"
        candidates.insert(0, parse_params(value, comments=False)[1].get("boundary", ""))
    usable = [data for data in map(_as_boundary, candidates) if data is not None]
    start = max(0, entity.start - 1)
    for data in usable[:-1]:  # the literal reading, if its delimiter shows up soon
        if raw.find(b"\n--" + data, start, start + _BOUNDARY_LOOKAHEAD) >= 0:
            return data
    return usable[-1] if usable else None


def _as_boundary(text: str) -> bytes | None:
    data = text.encode("utf-8", "surrogateescape")
    if not data or len(data) > MAX_BOUNDARY or b"\n" in data or b"\r" in data:
        return None
    return data


def _finish(level: Open, end: int) -> None:
    if level.current is not None and level.current.end > end:
        level.current.end = end
    if level.children:
        level.entity.children = level.children  # no delimiter at all: the body is the text


def _before_break(raw: bytes, line_start: int) -> int:
    """Where a part ends: before the line break that precedes its delimiter line."""
    if raw.startswith(b"\r\n", line_start - 2):
        return line_start - 2
    if raw.startswith(b"\n", line_start - 1):
        return line_start - 1
    return line_start


def leaves(root: Entity) -> list[Entity]:
    """Leaf entities in document order; multiparts cut at MAX_DEPTH are left out."""
    found: list[Entity] = []
    stack = [root]
    while stack:
        entity = stack.pop()
        if entity.children is not None:
            stack.extend(reversed(entity.children))
        elif not entity.too_deep:
            found.append(entity)
    return found
