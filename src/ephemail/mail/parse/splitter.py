"""Which line is whose delimiter, for the open multiparts of one message.

Each open multipart searches for its boundary (bytes.find, in a lowered copy so that case
does not matter) only forward from where it last looked, so the input is scanned at most
once per nesting level; a heap yields the nearest candidate line, and two dicts tell in O(1)
whose delimiter a line is: the innermost exact match first, then the innermost match
ignoring case. So boundaries that are prefixes of one another (`a--` inside `a`) stay apart.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ephemail.mail.parse.limits import MAX_DELIMITER_PREFIXES

if TYPE_CHECKING:
    from ephemail.mail.parse.tree import Entity

NONE = 1 << 62  # "no candidate": past the end of any input
_ENDS = frozenset(b" \t\r\n")


@dataclass(slots=True, eq=False)
class Open:
    """A multipart whose delimiter lines are being looked for."""

    entity: Entity
    boundary: bytes
    level: int  # its place in the stack of open multiparts
    next_at: int = -1  # where b"\n--" + boundary (any case) occurs next; NONE if nowhere
    closed: bool = False
    current: Entity | None = None  # the part being read
    children: list[Entity] = field(default_factory=list)


class Splitter:
    def __init__(self, raw: bytes) -> None:
        self.lowered = raw.lower()
        self.stack: list[Open] = []
        self._heap: list[tuple[int, bool, int, Open]] = []  # (at, probe?, id, level)
        self._exact: dict[bytes, list[Open]] = {}
        self._folded: dict[bytes, list[Open]] = {}
        self.skipped = 0  # occurrences of a boundary that no delimiter line can start with
        self.exhausted = False  # too many of them: the split stops where it is

    def push(self, entity: Entity, boundary: bytes, position: int) -> None:
        level = Open(entity, boundary, len(self.stack))
        self.stack.append(level)
        self._exact.setdefault(boundary, []).append(level)
        self._folded.setdefault(boundary.lower(), []).append(level)
        self._search(level, position)

    def pop_to(self, level: int) -> list[Open]:
        """Close every multipart above `level`; they are returned innermost first."""
        closed = self.stack[level + 1 :][::-1]
        del self.stack[level + 1 :]
        for item in closed:
            item.closed = True
            self._exact[item.boundary].pop()
            self._folded[item.boundary.lower()].pop()
        return closed

    def nearest(self, position: int) -> int:
        """The start (its "\n") of the nearest candidate line at or after position - 1."""
        while self._heap and not self.exhausted:
            at, probe, _, level = self._heap[0]
            if level.closed or level.next_at != at:
                heapq.heappop(self._heap)
            elif probe or at < position - 1:
                heapq.heappop(self._heap)
                self._search(level, max(position, at + 2) if probe else position)
            else:
                return at
        return NONE

    def _search(self, level: Open, position: int) -> None:
        """Look for the level's next delimiter, but no further than its parent's next one:
        a nested multipart ends there anyway, so no level scans past its parent's part (a
        thousand nested multiparts whose boundary never comes would each scan to the end).
        If the parent's candidate proves no delimiter, a probe entry resumes the search."""
        start = max(0, position - 1)
        key = b"\n--" + level.boundary.lower()
        limit, parent_at = len(self.lowered), NONE
        if level.level > 0:
            parent = self.stack[level.level - 1]
            if parent.next_at < start:
                self._search(parent, position)
            parent_at = parent.next_at
            limit = min(limit, parent_at + len(key))
        found = self.lowered.find(key, start, limit)
        while found >= 0 and not self._delimiter_end(found + len(key)):
            self.skipped += 1  # `--a0` for boundary `a`: not even shaped like a delimiter
            if self.skipped > MAX_DELIMITER_PREFIXES:
                self.exhausted = True
                return
            found = self.lowered.find(key, found + 1, limit)
        if found >= 0:
            level.next_at = found
            heapq.heappush(self._heap, (found, False, id(level), level))
        elif parent_at != NONE:
            level.next_at = parent_at  # sorted after the parent's own entry at the same place
            heapq.heappush(self._heap, (parent_at, True, id(level), level))
        else:
            level.next_at = NONE

    def _delimiter_end(self, after: int) -> bool:
        """Whether what follows `--boundary` can end a delimiter line: `--`, a blank, the line
        end or the input's end."""
        data = self.lowered
        return after >= len(data) or data[after] in _ENDS or data.startswith(b"--", after)

    def which(self, text: bytes) -> tuple[Open | None, bool]:
        """(the open multipart whose delimiter a line's text is, is it the closing one?)."""
        for table, key in ((self._exact, text), (self._folded, text.lower())):
            separator = table.get(key)
            closing = table.get(key[:-2]) if key.endswith(b"--") else None
            inner = separator[-1] if separator else None
            outer = closing[-1] if closing else None
            if inner is not None and (outer is None or inner.level >= outer.level):
                return inner, False
            if outer is not None:
                return outer, True
        return None, False
