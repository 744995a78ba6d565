"""What the API needs from the running service, handed over in one object."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.api.auth import Authenticator
from ephemail.api.fragments import FragmentCache
from ephemail.core.singleflight import SingleFlight
from ephemail.core.tokens import TokenCodec
from ephemail.store.quota import QuotaBackend
from ephemail.store.reads import HotReads


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
