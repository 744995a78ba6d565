"""Mail HTML made safe to show: nh3 (ammonia) cleans it, `cid:` images point at the
message's own parts, remote images go until the reader asks for them.

The clean HTML is served as the document of a sandboxed frame (no scripts, an opaque
origin) under a policy of its own (`frame_policy`), so even markup the cleaner let through
could run nothing and fetch nothing but the message's own parts.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Mapping
from urllib.parse import unquote

import nh3
from markupsafe import Markup, escape

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
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]{0,31})")
_VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()  # noqa: SIM905
)
_FORMATTING = frozenset(
    "a b big code em font i nobr s small strike strong tt u".split()  # noqa: SIM905
)
# A start tag that ends an open sibling when that sibling is on top (`<p>a<p>b`, `<li>`):
# counted as the parser nests them, not one deeper each time.
_ENDS_ON_TOP = {
    "p": {"p"},
    "li": {"li"},
    "dt": {"dt", "dd"},
    "dd": {"dt", "dd"},
    "option": {"option"},
}
# Inside a table, a new row or cell closes whatever the previous cell held.
_TABLE_PARTS = frozenset({"tr", "td", "th", "tbody", "thead", "tfoot"})
TOO_COMPLEX = (
    "<p><strong>This message's HTML is nested too deeply to show safely.</strong> "
    "Use “View source” or “Download .eml” to read it.</p>"
)
MAX_DEPTH = 400  # real mail nests a few dozen deep; the HTML parser slows with depth squared

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
    if too_complex(source):
        return TOO_COMPLEX, 0
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


async def clean_off_loop(
    source: str, parts: Mapping[str, str], *, remote_images: bool
) -> tuple[str, int]:
    """`clean_mail_html` in a worker thread: a large mail takes the parser about 0.7 s per
    MB, which must not stop SMTP and every other request of this process meanwhile."""
    return await asyncio.to_thread(clean_mail_html, source, parts, remote_images=remote_images)


def too_complex(source: str, limit: int = MAX_DEPTH) -> bool:
    """True when the HTML would nest deeper than `limit` elements (or leave more than `limit`
    formatting elements to be reopened): the HTML parser's work grows with the square of
    that, so such mail is not cleaned but offered as source. One linear scan; it counts
    tags even in comments and attribute values, so it errs on the side of refusing."""
    stack: list[str] = []
    open_count: dict[str, int] = {}
    lingering = 0
    for match in _TAG.finditer(source):
        name = match.group(2).lower()
        if not match.group(1):
            ends = _ENDS_ON_TOP.get(name, ())
            while stack and stack[-1] in ends:
                open_count[stack.pop()] -= 1
            if name in _TABLE_PARTS and open_count.get("table"):
                while stack[-1] != "table":  # each pop is paid for by its push
                    open_count[stack.pop()] -= 1
            if name not in _VOID:
                stack.append(name)
                open_count[name] = open_count.get(name, 0) + 1
                if len(stack) > limit:
                    return True
            continue
        if not open_count.get(name):
            continue  # an end tag with nothing to close: the parser ignores it too
        while stack:
            top = stack.pop()
            open_count[top] -= 1
            if top == name:
                break
            if top in _FORMATTING:  # closed by another's end tag: reopened later
                lingering += 1
                if lingering > limit:
                    return True
    return False


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


_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}'"


def linkify_text(text: str) -> Markup:
    """Plain-text mail, escaped, with its http(s) links clickable (a new tab, no referrer):
    the confirmation link is why most people open a temporary inbox."""
    pieces: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(url)
        pieces.append(escape(text[last : match.start()]))
        pieces.append(
            f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer nofollow">'
            f"{escape(url)}</a>"
        )
        last = end
    pieces.append(escape(text[last:]))
    return Markup("".join(pieces))


def text_preview(content: str, is_html: bool, limit: int = 140) -> str:
    """A line of plain text for the message list (what the body starts with)."""
    if is_html and too_complex(content):
        return ""
    if is_html:
        content = html.unescape(
            nh3.clean(content.replace("<", " <"), tags=set(), clean_content_tags=_DROP_WITH_CONTENT)
        )
    text = _SPACE.sub(" ", content).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
