"""MIME parsing: turn the raw bytes of a received mail into what the API shows.

All input is treated as hostile, and every step is linear in its input with the bounds in
limits.py: tree.py finds the parts, headers.py reads header blocks, params.py,
addresses.py and words.py read the headers we show, payload.py decodes bodies and
attachments.py names files. A step that fails on broken input costs only its own field;
`parse_message` never raises.
"""

from __future__ import annotations

from ephemail.mail.parse import fallback, tree
from ephemail.mail.parse.addresses import sender
from ephemail.mail.parse.attachments import attachments, attempt, safe_filename
from ephemail.mail.parse.limits import (
    MAX_DEPTH,
    MAX_HEADER_CHARS,
    MAX_NAME,
    MAX_NAME_BYTES,
    MAX_PARTS,
)
from ephemail.mail.parse.model import ParsedAttachment, ParsedMessage
from ephemail.mail.parse.parts import Part, choose_body, inspect
from ephemail.mail.parse.payload import body_text
from ephemail.mail.parse.text import clean_line
from ephemail.mail.parse.words import decode_words

__all__ = [
    "MAX_DEPTH",
    "MAX_HEADER_CHARS",
    "MAX_NAME",
    "MAX_NAME_BYTES",
    "MAX_PARTS",
    "ParsedAttachment",
    "ParsedMessage",
    "parse_message",
    "safe_filename",
]


def parse_message(raw: bytes, envelope_sender: str | None = None) -> ParsedMessage:
    """Never raises for any input bytes (best effort on broken MIME)."""
    data = bytes(raw)
    try:
        return _parse(data, envelope_sender)
    except Exception:
        pass
    try:
        return fallback.parse_without_mime(data, envelope_sender)
    except Exception:
        return ParsedMessage("", "", "", False, "", ())


def _parse(raw: bytes, envelope_sender: str | None) -> ParsedMessage:
    root = tree.parse_tree(raw)
    no_parts: list[Part] = []
    parts = attempt(lambda: [inspect(leaf) for leaf in tree.leaves(root)], no_parts)
    body = choose_body(parts)
    headers = root.headers
    subject = attempt(lambda: clean_line(decode_words(headers.get("subject", ""))), "")
    # The envelope-only reading only when From's fails: it was computed for every message.
    from_ = attempt(lambda: sender(headers.get("from"), envelope_sender), None)
    from_name, from_email = from_ or sender(None, envelope_sender)
    content = attempt(lambda: body_text(raw, body.entity, body.charset), "") if body else ""
    return ParsedMessage(
        subject=subject,
        from_name=from_name,
        from_email=from_email,
        is_html=body is not None and body.content_type == "text/html",
        content=content,
        attachments=attempt(lambda: attachments(raw, parts, body), ()),
    )
