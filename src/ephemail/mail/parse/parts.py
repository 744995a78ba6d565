"""What the selection rules need to know about each leaf, read once per leaf."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ephemail.mail.parse.limits import MAX_NAME_SOURCE
from ephemail.mail.parse.params import parse_params
from ephemail.mail.parse.text import clean_line, text_from_8bit
from ephemail.mail.parse.tree import Entity
from ephemail.mail.parse.words import decode_words


@dataclass(frozen=True, slots=True)
class Part:
    entity: Entity
    content_type: str  # effective type: declared, else the MIME default
    declared_type: str | None
    disposition: str
    filename: str | None
    content_id: str | None
    charset: str | None

    @property
    def body_candidate(self) -> bool:
        """A text part the sender meant as the message itself, not as a file."""
        return (
            self.content_type in ("text/plain", "text/html")
            and self.disposition != "attachment"
            and not self.filename
        )


def inspect(entity: Entity) -> Part:
    headers = entity.headers
    type_params = _params(headers, "content-type")
    disposition, disposition_params = parse_params(headers.get("content-disposition", ""))
    return Part(
        entity=entity,
        content_type=_effective_type(entity),
        declared_type=entity.declared_type,
        disposition=disposition,
        filename=_filename(disposition_params.get("filename") or type_params.get("name")),
        content_id=_content_id(headers.get("content-id")),
        charset=type_params.get("charset"),
    )


def _params(headers: Mapping[str, str], name: str) -> Mapping[str, str]:
    value = headers.get(name)
    return parse_params(value)[1] if value else {}


def _effective_type(entity: Entity) -> str:
    declared = entity.declared_type
    if declared is None:
        return entity.default_type
    if declared.startswith("multipart/"):
        return "text/plain"  # a multipart whose boundary never came: its text is all there is
    return declared


def _filename(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    value = value[:MAX_NAME_SOURCE]
    # No clean_line: control characters are dropped by safe_filename, not spaced.
    return decode_words(value) if "=?" in value else text_from_8bit(value)


def _content_id(raw: str | None) -> str | None:
    if raw is None:
        return None
    cid = clean_line(raw)
    if cid.startswith("<") and cid.endswith(">"):
        cid = cid[1:-1].strip()
    return cid or None


def choose_body(parts: list[Part]) -> Part | None:
    for wanted in ("text/html", "text/plain"):
        for part in parts:
            if part.body_candidate and part.content_type == wanted:
                return part
    return None
