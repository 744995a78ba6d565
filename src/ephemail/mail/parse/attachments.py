"""Which leaves are files, and the names they are served under: safe and unique."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Callable
from typing import TypeVar

from ephemail.mail.parse.limits import MAX_EXT, MAX_NAME, MAX_NAME_BYTES
from ephemail.mail.parse.model import ParsedAttachment
from ephemail.mail.parse.parts import Part
from ephemail.mail.parse.payload import payload_bytes

_T = TypeVar("_T")

# The builtin table only (no /etc/mime.types): the same guesses on every machine.
_MIME_TYPES = mimetypes.MimeTypes()
_EXTRA_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "text/calendar": ".ics",
    "text/vcard": ".vcf",
    "text/x-vcard": ".vcf",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
}
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_KEPT_CHARS = 4 * MAX_NAME
_SEPARATORS = re.compile(r"[/\\]")


def attempt(step: Callable[[], _T], fallback: _T) -> _T:
    """One failing field must not cost the others."""
    try:
        return step()
    except Exception:
        return fallback


def _is_attachment(part: Part) -> bool:
    if part.disposition == "attachment" or part.filename:
        return True
    if part.body_candidate:
        return False  # e.g. the plain-text alternative of an HTML mail, even with a Content-ID
    return part.content_id is not None or not part.content_type.startswith("text/")


def attachments(raw: bytes, parts: list[Part], body: Part | None) -> tuple[ParsedAttachment, ...]:
    found: list[ParsedAttachment] = []
    taken: dict[str, int] = {}
    for part in parts:
        if part is body or not _is_attachment(part):
            continue
        try:
            found.append(_attachment(raw, part, len(found) + 1, taken))
        except Exception:
            continue  # a part we cannot even name is dropped, not the whole message
    return tuple(found)


def _attachment(raw: bytes, part: Part, number: int, taken: dict[str, int]) -> ParsedAttachment:
    content_type = part.declared_type or (
        part.content_type if part.content_type == "message/rfc822" else "application/octet-stream"
    )
    data = attempt(lambda: payload_bytes(raw, part.entity), b"")
    name = _unique_name(_attachment_name(part, number, content_type), taken)
    return ParsedAttachment(
        name=name,
        extension=_split_extension(name)[1].lower(),
        content_type=content_type,
        content_id=part.content_id,
        data=data,
    )


def _attachment_name(part: Part, number: int, content_type: str) -> str:
    """The sender's name made safe; else one derived from the Content-ID; else numbered."""
    if part.filename:
        name = safe_filename(part.filename)
        fallback = f"attachment-{number}"
    elif part.content_id:
        name = safe_filename(part.content_id.partition("@")[0])
        if name and _MIME_TYPES.guess_type(name, strict=False)[0] is None:
            name = _cap_length(name + _guess_extension(content_type))
        fallback = f"inline-{number}"
    else:
        name, fallback = "", f"attachment-{number}"
    return name or fallback + _guess_extension(content_type)


def _guess_extension(content_type: str) -> str:
    known = _EXTRA_EXTENSIONS.get(content_type)
    return known or _MIME_TYPES.guess_extension(content_type, strict=False) or ""


def safe_filename(raw: str) -> str:
    """A name that is safe as a download name and on any file system; "" if nothing is left.

    Only the last path segment survives (no traversal), control and format characters go
    (no header injection, no right-to-left spoofing), and leading dots go (no hidden files).
    """
    if len(raw) > 2 * _KEPT_CHARS:  # a name is cut to MAX_NAME anyway: keep its ends only
        raw = raw[:_KEPT_CHARS] + raw[-_KEPT_CHARS:]
    if raw.isascii() and raw.isprintable():
        text = raw  # printable ASCII holds none of the dropped categories
    else:
        text = "".join(ch for ch in raw if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    segments = (_tidy(segment) for segment in _SEPARATORS.split(text))
    name = next((s for s in reversed(list(segments)) if s), "")
    return _cap_length(unicodedata.normalize("NFC", name))


def _tidy(segment: str) -> str:
    return " ".join(segment.split()).strip(" .")


def _cap_length(name: str) -> str:
    """At most MAX_NAME characters and MAX_NAME_BYTES of UTF-8 (file systems count bytes)."""
    if len(name) <= MAX_NAME and len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, extension = _split_extension(name)
    suffix = f".{extension}" if extension else ""
    stem = (stem if extension else name)[: MAX_NAME - len(suffix)]
    budget = MAX_NAME_BYTES - len(suffix.encode())
    while len(stem.encode()) > budget:
        stem = stem[: max(1, len(stem) - (len(stem.encode()) - budget + 3) // 4)]
    return stem.rstrip(" .") + suffix


def _split_extension(name: str) -> tuple[str, str]:
    """(stem, extension) where the extension is a short dot-free suffix, else (name, "")."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or not 0 < len(extension) <= MAX_EXT:
        return name, ""
    if len(extension.split()) != 1 or extension.strip() != extension:
        return name, ""
    return stem, extension


def _unique_name(name: str, taken: dict[str, int]) -> str:
    """Names differing only in case collide on common file systems, so compare casefolded.

    `taken` maps every name handed out (casefolded) to the last counter tried for it as a
    wanted name, so the next part that wants it resumes there: a thousand parts named alike
    cost a thousand steps, not half a million.
    """
    wanted = name.casefold()
    candidate = name
    stem, extension = _split_extension(name)
    suffix = f".{extension}" if extension else ""
    counter = taken.get(wanted, 1)
    while candidate.casefold() in taken:
        counter += 1
        tag = f" ({counter})"
        candidate = stem[: MAX_NAME - len(tag) - len(suffix)].rstrip(" .") + tag + suffix
    taken[wanted] = counter
    taken.setdefault(candidate.casefold(), 1)
    return candidate
