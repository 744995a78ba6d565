"""HTML → the text a reader sees and the links they can click, in one linear pass.

A small tokeniser of our own, not the stdlib's `html.parser`: on Python 3.11 that one
rescans unclosed constructs from their start, so `<a <a <a …` or `<!--<!--…` take
quadratic time (40 KB of `<a ` took a minute). Here every `<` is settled by one forward
search (`str.find`) that either finds its end or ends the document, so each character is
looked at a bounded number of times. It knows what extraction needs and no more: tags and
their `href`/`alt`, comments and declarations (skipped), the raw text of `<style>` and
`<script>` (dropped, so CSS colours like `#123456` never look like codes), character
references (`html.unescape`), and block elements (a line break, so a code in its own box
stays apart from its neighbours). No regular expression looks at the markup.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

# Elements whose text nobody reads; their content is skipped up to the closing tag.
_RAW_HIDDEN = ("style", "script", "title", "template", "noscript", "xmp")
# Elements that start a new line of text.
_BLOCKS = frozenset(
    {
        "address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "footer", "form",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
        "pre", "section", "table", "tbody", "td", "th", "thead", "tr", "ul", "center",
    }
)  # fmt: skip
MAX_ANCHOR = 300  # characters of anchor text kept per link
MAX_LINKS = 500  # links kept per message
MAX_URL = 4096  # characters of an href kept
# Markup read per body: codes and links sit near the top, and this bounds one request's cost
# (about a second for a megabyte of the costliest input, nested empty tags).
MAX_HTML_CHARS = 1024 * 1024
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_SPACE = " \t\n\r\f/"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-:")
_OPENERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?/")


@dataclass(frozen=True, slots=True)
class HtmlLink:
    url: str
    text: str


@dataclass(frozen=True, slots=True)
class HtmlContent:
    text: str
    links: list[HtmlLink]


def _attributes(tag: str) -> dict[str, str]:
    """name → value of a start tag's inside (after its name), by hand: one pass."""
    found: dict[str, str] = {}
    i, n = 0, len(tag)
    while i < n:
        while i < n and tag[i] in _SPACE:
            i += 1
        start = i
        while i < n and tag[i] not in _SPACE and tag[i] != "=":
            i += 1
        name = tag[start:i].translate(_ASCII_LOWER)
        while i < n and tag[i] in " \t\n\r\f":
            i += 1
        value = ""
        if i < n and tag[i] == "=":
            i += 1
            while i < n and tag[i] in " \t\n\r\f":
                i += 1
            if i < n and tag[i] in "\"'":
                end = tag.find(tag[i], i + 1)
                end = n if end < 0 else end
                value, i = tag[i + 1 : end], end + 1
            else:
                start = i
                while i < n and tag[i] not in " \t\n\r\f":
                    i += 1
                value = tag[start:i]
        if name and name not in found:
            found[name] = html.unescape(value)
        if i == start:  # nothing consumed: step over whatever stopped us
            i += 1
    return found


def _tag_end(markup: str, i: int) -> int:
    """Index of the `>` closing the tag at `i`, outside quotes; -1 when there is none."""
    n = len(markup)
    while i < n:
        gt = markup.find(">", i)
        if gt < 0:
            return -1
        dq, sq = markup.find('"', i, gt), markup.find("'", i, gt)
        quote = min(q for q in (dq, sq, gt) if q >= 0)
        if quote == gt:
            return gt
        close = markup.find(markup[quote], quote + 1)
        if close < 0:
            return -1
        i = close + 1
    return -1


class _Reader:
    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.links: list[HtmlLink] = []
        self.href: str | None = None
        self.anchor: list[str] = []
        self.anchor_len = 0

    def text(self, data: str) -> None:
        data = html.unescape(data) if "&" in data else data
        self.pieces.append(data)
        if self.href is not None:
            self.anchor_text(data)

    def anchor_text(self, data: str) -> None:
        if self.anchor_len < MAX_ANCHOR:
            self.anchor.append(data[: MAX_ANCHOR - self.anchor_len])
            self.anchor_len += len(self.anchor[-1])

    def close_anchor(self) -> None:
        if self.href is not None and len(self.links) < MAX_LINKS:
            self.links.append(HtmlLink(self.href, " ".join("".join(self.anchor).split())))
        self.href, self.anchor, self.anchor_len = None, [], 0

    def tag(self, name: str, inside: str, closing: bool) -> None:
        if name in _BLOCKS:
            self.pieces.append("\n")
        if name == "a":
            self.close_anchor()
            if not closing:
                href = _attributes(inside).get("href", "").strip()
                self.href = href[:MAX_URL] if href else None
        elif name == "img" and not closing and self.href is not None:
            alt = _attributes(inside).get("alt", "")
            if alt:
                self.anchor_text(f" {alt} ")


def read_html(markup: str) -> HtmlContent:
    """The visible text and the `<a href>` links of an HTML body, in document order."""
    markup = markup[:MAX_HTML_CHARS]
    lower = markup.translate(_ASCII_LOWER)  # same length: only A–Z change
    reader = _Reader()
    n, i = len(markup), 0
    while i < n:
        lt = markup.find("<", i)
        if lt < 0:
            reader.text(markup[i:])
            break
        if lt > i:
            reader.text(markup[i:lt])
        i = _markup(markup, lower, lt, reader)
    reader.close_anchor()
    return HtmlContent("".join(reader.pieces), reader.links)


def _opens(markup: str, lt: int) -> bool:
    """Whether the `<` at `lt` starts markup (a tag, a comment, a declaration)."""
    return lt + 1 < len(markup) and markup[lt + 1] in _OPENERS


def _markup(markup: str, lower: str, lt: int, reader: _Reader) -> int:
    """Read the construct at `<` (markup[lt]); the index after it."""
    n = len(markup)
    if markup.startswith("<!--", lt):
        end = markup.find("-->", lt + 4)
        return n if end < 0 else end + 3
    if markup.startswith(("<!", "<?"), lt):
        end = markup.find(">", lt + 2)
        return n if end < 0 else end + 1
    closing = markup.startswith("</", lt)
    start = lt + 2 if closing else lt + 1
    stop = start
    while stop < n and markup[stop] in _NAME_CHARS:
        stop += 1
    if stop == start:  # a `<` that opens nothing is text, up to the next `<` that does
        nxt = markup.find("<", lt + 1)
        while nxt >= 0 and not _opens(markup, nxt):
            nxt = markup.find("<", nxt + 1)
        reader.text(markup[lt:] if nxt < 0 else markup[lt:nxt])
        return n if nxt < 0 else nxt
    name = lower[start:stop]
    end = _tag_end(markup, stop)
    if end < 0:
        return n  # an unclosed tag swallows the rest, as browsers do at the end of input
    reader.tag(name, markup[stop:end], closing)
    if not closing and name in _RAW_HIDDEN:
        close = lower.find(f"</{name}", end + 1)
        if close < 0:
            return n
        after = markup.find(">", close)
        return n if after < 0 else after + 1
    return end + 1


def rough_text(markup: str) -> str:
    """The text between tags, for the search index: cheap (two `str.find` per tag), so
    ingest stays fast. Unlike read_html it keeps style text and entities as they are."""
    pieces: list[str] = []
    i, n = 0, len(markup)
    while i < n:
        lt = markup.find("<", i)
        if lt < 0:
            pieces.append(markup[i:])
            break
        pieces.append(markup[i:lt])
        gt = markup.find(">", lt)
        if gt < 0:
            break
        i = gt + 1
        pieces.append(" ")
    return "".join(pieces)
