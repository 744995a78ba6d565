"""What the website needs from the running service, handed over in one object."""

from __future__ import annotations

from dataclasses import dataclass, field

from ephemail.api.context import ApiContext
from ephemail.store.usage import UsageMeter
from ephemail.web.throttle import SignInThrottle


@dataclass
class WebContext:
    api: ApiContext  # engine, reads, tokens, quota, events: the API's own objects
    secret: bytes  # keys the CSRF tokens and flash messages (from the service's secret)
    signup_enabled: bool = True
    signup_plan: str = "default"
    session_seconds: int = 14 * 86400
    throttle: SignInThrottle = field(default_factory=SignInThrottle)
    # Sign-ups per client: an hour's window, so one address cannot mint accounts in bulk.
    signups: SignInThrottle = field(
        default_factory=lambda: SignInThrottle(per_address=1_000_000, per_client=10, window=3600)
    )
    usage: UsageMeter | None = None

    @property
    def public_url(self) -> str:
        return self.api.public_url

    @property
    def secure_cookies(self) -> bool:
        """Cookies say `Secure` when the site is reached over https."""
        return self.api.public_url.startswith("https://")
