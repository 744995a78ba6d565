"""What the API needs from the running service, handed over in one object."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.api.auth import Authenticator
from ephemail.api.fragments import FragmentCache
from ephemail.core.singleflight import SingleFlight
from ephemail.core.tokens import TokenCodec
from ephemail.events import EventBus, LocalBus, Subscription
from ephemail.store.quota import QuotaBackend
from ephemail.store.reads import HotReads


@dataclass
class StreamLimits:
    """Per-process bounds of the live routes (api/live.py); the settings fill them."""

    heartbeat: float = 15.0  # seconds between heartbeat comments on an idle event stream
    per_user: int = 20  # event streams one account may hold open on this process
    total: int = 10_000  # event streams this process holds open, all accounts together
    open: dict[int, int] = field(default_factory=dict)  # account id → its open streams
    opened: int = 0  # open streams of all accounts
    # key hash → the subscriptions of streams that key opened: a revoked key ends them.
    by_key: dict[str, set[Subscription]] = field(default_factory=dict)


def _nothing() -> None:
    """No dispatcher to wake (an API built without one)."""


@dataclass
class WebhookOptions:
    """What the webhook routes need of the settings and the dispatcher."""

    allow_private: bool = False  # receivers on loopback/private addresses (tests, LANs)
    max_per_account: int = 20
    wake: Callable[[], None] = _nothing  # the dispatcher: a test event is due now


@dataclass
class ApiContext:
    engine: AsyncEngine
    reads: HotReads
    public_url: str
    tokens: TokenCodec
    quota: QuotaBackend
    auth: Authenticator
    fragments: FragmentCache = field(default_factory=FragmentCache)
    # Messages being marked seen now: readers of the same message wait for that one write
    # instead of queueing writes of their own on the database's single write lock.
    marking_seen: SingleFlight[str, None] = field(default_factory=SingleFlight)
    # On SQLite, the node's one writer (the commit process) marks them in its next commit;
    # None: the API writes through `engine` itself.
    seen_writer: Callable[[tuple[str, ...]], Awaitable[None]] | None = None
    # Live events: what the wait and event-stream routes sleep on (api/live.py).
    events: EventBus = field(default_factory=LocalBus)
    streams: StreamLimits = field(default_factory=StreamLimits)
    webhooks: WebhookOptions = field(default_factory=WebhookOptions)
    metrics_token: str = ""  # when set, /metrics wants it as a bearer token
    health: Callable[[], Awaitable[dict[str, str]]] | None = None  # what /health reports
