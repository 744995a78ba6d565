"""Headers every page carries, the body limit, and CSRF tokens.

CSRF: every unsafe request must carry a token (form field `csrf_token`, or the
`X-CSRF-Token` header that htmx sends) equal to an HMAC of the cookie that identifies the
visitor: the session cookie when there is one, otherwise a random pre-session cookie set
with the first page. A page of another site can neither read our pages nor compute the
HMAC, so it cannot make a valid token, and SameSite=Lax keeps our cookies off its posts.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
        "manifest-src 'self'",
    )
)
"""The default policy; a route may send its own `Content-Security-Policy` (a message frame
does), and then this one is not added."""

_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
MAX_BODY = 64 * 1024  # the site's forms hold a few short fields
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SecurityHeaders:
    """Adds the CSP and the other headers to every answer of the site; bounds bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY:
                raise HTTPException(413, "The form is too large.")
            return message

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                headers.extend(h for h in _HEADERS if h[0] not in names)
                if b"cache-control" not in names:
                    # Pages show keys, addresses and mail: never kept by a shared cache.
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, bounded_receive, with_headers)


def csrf_token(secret: bytes, kind: str, cookie_value: str) -> str:
    """The token for forms of the visitor identified by `cookie_value` (session or pre)."""
    return hmac.new(secret, f"{kind}\0{cookie_value}".encode(), hashlib.sha256).hexdigest()


def tokens_match(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def sign(secret: bytes, value: str) -> str:
    return hmac.new(secret, f"flash\0{value}".encode(), hashlib.sha256).hexdigest()[:32]
