"""Links of a message, sorted by what they are for: verify, reset, magic sign-in, other,
unsubscribe.

A link is classified by its anchor text first (what the reader is told it does), then, for
a plain-text link, the words just before it on its line (or the line above), then the words
of its URL, percent-decoded once, so a tracking redirect that carries its target in a
parameter (`…/click?u=https%3A%2F%2Fapp%2Fverify…`) is classified by that target. The URL
itself is returned exactly as received.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from ephemail.mail.extract.html import MAX_LINKS, MAX_URL, HtmlLink
from ephemail.mail.extract.words import LINK_WORDS

# In text: a URL runs to the first space or a character that cannot end one unquoted.
_TEXT_URL = re.compile(r"https?://[^\s<>\"'\]\[{}|\\^`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)'\"»>"
ORDER = ("verify", "reset", "magic", "other", "unsubscribe")
_LEAD_CHARS = 120  # of the text before a plain-text link read for its meaning


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    text: str
    kind: str


def kind_of(words: str) -> str | None:
    """The first kind whose phrases occur in these words (lowercase), or None."""
    low = words.lower()
    for kind, phrases in LINK_WORDS.items():
        if any(p in low for p in phrases):
            return kind
    return None


def classify(url: str, anchor: str, lead: str = "") -> str:
    return kind_of(anchor) or kind_of(lead) or kind_of(unquote(url)) or "other"


def text_links(text: str) -> list[tuple[str, str]]:
    """(url, words before it) of each http(s) URL in a plain text."""
    found: list[tuple[str, str]] = []
    for match in _TEXT_URL.finditer(text):
        url = match.group().rstrip(_TRAILING)[:MAX_URL]
        line_start = text.rfind("\n", max(0, match.start() - _LEAD_CHARS), match.start()) + 1
        lead = text[line_start : match.start()]
        if not any(c.isalpha() for c in lead) and line_start > 0:
            above = text.rfind("\n", max(0, line_start - 1 - _LEAD_CHARS), line_start - 1) + 1
            lead = text[above : line_start - 1]
        found.append((url, lead))
        if len(found) >= MAX_LINKS:
            break
    return found


def _usable(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def sorted_links(html_links: list[HtmlLink], plain: list[tuple[str, str]]) -> list[Link]:
    """Each URL once (its first, with anchor text where HTML gave one), by kind."""
    chosen: dict[str, Link] = {}
    for item in html_links:
        if _usable(item.url) and item.url not in chosen:
            chosen[item.url] = Link(item.url, item.text, classify(item.url, item.text))
    for url, lead in plain:
        if _usable(url) and url not in chosen:
            chosen[url] = Link(url, "", classify(url, "", lead))
    rank = {kind: n for n, kind in enumerate(ORDER)}
    return sorted(chosen.values(), key=lambda link: rank[link.kind])
