"""Mail HTML made safe to show: nh3 (ammonia) cleans it, `cid:` images point at the
message's own parts, remote images go until the reader asks for them.

The clean HTML is served as the document of a sandboxed frame (no scripts, an opaque
origin) under a policy of its own (`frame_policy`), so even markup the cleaner let through
could run nothing and fetch nothing but the message's own parts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from urllib.parse import unquote

import nh3

# What mail layouts need (tables, fonts, colours) on top of nh3's defaults; nothing active.
_TAGS = nh3.ALLOWED_TAGS | {"center", "font", "span", "div", "u", "s"}
_GENERIC = {"style", "align", "valign", "width", "height", "bgcolor", "dir", "class"}
_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": _GENERIC,
    "a": {"href", "title", "name"},
    "img": {"src", "alt", "title", "width", "height", "border"},
    "table": {"border", "cellpadding", "cellspacing", "width", "height", "bgcolor", "align"},
    "td": {"colspan", "rowspan", "width", "height", "bgcolor", "align", "valign", "nowrap"},
    "th": {"colspan", "rowspan", "width", "height", "bgcolor", "align", "valign", "nowrap"},
    "font": {"color", "face", "size"},
}
_DROP_WITH_CONTENT = {"script", "style", "title", "head", "noscript", "template", "iframe"}
_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
_REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
_SPACE = re.compile(r"\s+")

FRAME_STYLE = (
    "body{margin:16px;font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:#1b1f24;background:#fff;overflow-wrap:anywhere}"
    "img{max-width:100%;height:auto}table{max-width:100%}pre{white-space:pre-wrap}"
    "a{color:#0b57d0}"
    # Fixed-width mail layouts shrink to a phone's width instead of scrolling sideways.
    "@media (max-width:600px){table,td,th{width:auto!important;max-width:100%!important}"
    "body{margin:8px}}"
)


def clean_mail_html(
    source: str, parts: Mapping[str, str], *, remote_images: bool
) -> tuple[str, int]:
    """(clean HTML, how many remote images were held back).

    `parts` maps a Content-ID (without angle brackets) to the URL of that part. A `cid:`
    reference to no part of the message is dropped; so is every remote image unless
    `remote_images`.
    """
    blocked = 0

    def keep(element: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if element != "img" or attribute != "src":
            return value
        if value[:4].lower() == "cid:":
            return parts.get(_unquote_cid(value[4:]))
        if _REMOTE.match(value):
            if remote_images:
                return value
            blocked += 1
            return None
        return None  # data:, relative and odd sources: nothing of ours, nothing remote

    cleaned = nh3.clean(
        source,
        tags=_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        attribute_filter=keep,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
    return cleaned, blocked


def _unquote_cid(value: str) -> str:
    """`cid:` URLs are percent-encoded Content-IDs (RFC 2392)."""
    return unquote(value.strip()).strip("<>")


def frame_document(body: str) -> str:
    """The whole document of a message frame around clean HTML."""
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{FRAME_STYLE}</style></head><body>{body}</body></html>"
    )


def frame_policy(part_sources: list[str], *, remote_images: bool) -> str:
    """The frame's Content-Security-Policy: nothing but the message's own parts (and remote
    images once the reader asked), inline styles (mail needs them; the frame is sandboxed)."""
    images = " ".join(part_sources) or "'none'"
    if remote_images:
        images = f"{' '.join(part_sources)} https: http:".strip()
    return "; ".join(
        (
            "default-src 'none'",
            f"img-src {images}",
            "style-src 'unsafe-inline'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'self'",
            "sandbox allow-popups allow-popups-to-escape-sandbox",
        )
    )


def text_preview(content: str, is_html: bool, limit: int = 140) -> str:
    """A line of plain text for the message list (what the body starts with)."""
    if is_html:
        content = html.unescape(
            nh3.clean(content.replace("<", " <"), tags=set(), clean_content_tags=_DROP_WITH_CONTENT)
        )
    text = _SPACE.sub(" ", content).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
