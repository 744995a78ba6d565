"""The last resort, when the MIME reading itself fails: headers by line scan, body as text."""

from __future__ import annotations

from ephemail.mail.parse.addresses import sender
from ephemail.mail.parse.headers import bare_cr_as_lf, read_head
from ephemail.mail.parse.model import ParsedMessage
from ephemail.mail.parse.text import clean_line
from ephemail.mail.parse.words import decode_words


def parse_without_mime(raw: bytes, envelope_sender: str | None) -> ParsedMessage:
    headers, body_start = read_head(bare_cr_as_lf(raw), 0, len(raw))
    try:
        subject = clean_line(decode_words(headers.get("subject", "")))
    except Exception:
        subject = ""
    try:
        from_name, from_email = sender(headers.get("from"), envelope_sender)
    except Exception:
        from_name, from_email = sender(None, envelope_sender)
    body = raw[body_start:]
    content = body.decode("utf-8", "replace").replace("\x00", "").replace("\r\n", "\n")
    return ParsedMessage(subject, from_name, from_email, False, content, ())
