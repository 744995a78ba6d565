"""Full-text search queries: the words of `q`, as each backend's query language wants them.

Words are runs of letters and digits (anything else separates them), lowercased, each
matched as a prefix, all required: `q=verif acme` finds "Verify your Acme account".
Only words reach the database, never the query syntax of FTS5 or `to_tsquery`.
"""

from __future__ import annotations

import re

MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 16
_WORD = re.compile(r"[^\W_]+")


def query_words(q: str) -> list[str]:
    """The words of a query, lowercased, at most MAX_QUERY_WORDS."""
    return _WORD.findall(q.lower())[:MAX_QUERY_WORDS]


def fts5_query(words: list[str]) -> str:
    """SQLite FTS5: every word as a quoted prefix (`"verif"* "acme"*`)."""
    return " ".join(f'"{w}"*' for w in words)


def tsquery(words: list[str]) -> str:
    """PostgreSQL `to_tsquery('simple', …)`: every word as a prefix, all required."""
    return " & ".join(f"{w}:*" for w in words)
