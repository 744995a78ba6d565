"""What a test suite wants from a sign-up mail: its one-time codes and its links.

Pure functions, no I/O: `extract(subject, text, html)` over a message's bodies, or
`extract_message(raw)` over the bytes received (parsed with mail/parse, bounded).
Codes best first; links verify, reset, magic sign-in first, then other, unsubscribe last.
"""

from __future__ import annotations

from dataclasses import dataclass

from ephemail.mail.extract.codes import Code, find_codes
from ephemail.mail.extract.html import read_html
from ephemail.mail.extract.links import Link, sorted_links, text_links
from ephemail.mail.parse import tree
from ephemail.mail.parse.attachments import attempt
from ephemail.mail.parse.parts import inspect
from ephemail.mail.parse.payload import body_text
from ephemail.mail.parse.text import clean_line
from ephemail.mail.parse.words import decode_words

__all__ = ["Code", "Extraction", "Link", "extract", "extract_message"]


@dataclass(frozen=True, slots=True)
class Extraction:
    codes: list[Code]
    links: list[Link]


def extract(subject: str, text: str | None, html: str | None) -> Extraction:
    """Codes from the subject and both bodies (merged, best first), links from both."""
    read = read_html(html) if html else None
    found: dict[str, tuple[int, int, Code]] = {}
    sources = [subject, text or "", read.text if read else ""]
    for source_rank, source in enumerate(sources):
        for rank, code in enumerate(find_codes(source)):
            if code.code not in found:
                found[code.code] = (rank, source_rank, code)
    codes = [c for _, _, c in sorted(found.values(), key=lambda item: (item[0], item[1]))]
    plain = text_links(text) if text else []
    return Extraction(codes, sorted_links(read.links if read else [], plain))


def extract_message(raw: bytes) -> Extraction:
    """Parse the received bytes (first text/plain and text/html bodies), then extract."""
    return attempt(lambda: _from_raw(raw), Extraction([], []))


def _from_raw(raw: bytes) -> Extraction:
    root = tree.parse_tree(raw)
    bodies: dict[str, str] = {}
    for leaf in tree.leaves(root):
        part = inspect(leaf)
        if part.body_candidate and part.content_type not in bodies:
            bodies[part.content_type] = body_text(raw, part.entity, part.charset)
    subject = attempt(lambda: clean_line(decode_words(root.headers.get("subject", ""))), "")
    return extract(subject, bodies.get("text/plain"), bodies.get("text/html"))
