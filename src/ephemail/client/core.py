"""The sans-I/O core both clients share: requests as data, answers parsed in one place.

An endpoint is a *flow*: a generator that yields `Call`s and receives `Answer`s (or has
the call's `EphemailError` thrown into it), then returns its result. The sync and async
clients differ only in how they send one call; everything else (URLs, headers, errors,
rate limits, re-issuing waits) is written once, here and in endpoints.py.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import httpx

from ephemail import __version__
from ephemail.client.errors import ConnectionFailed, EphemailError, error_for
from ephemail.client.models import Event, RateLimit

T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8025"
"""Where `ephemail serve` listens on its defaults."""
BASE_URL_ENV = "EPHEMAIL_BASE_URL"
API_KEY_ENV = "EPHEMAIL_API_KEY"


@dataclass(frozen=True)
class Call:
    """One HTTP request of a flow. `wait` is how long the service may hold it on purpose
    (the wait endpoint), added to the read timeout; `keyed` False sends no API key."""

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None
    wait: float = 0.0
    keyed: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """A 2xx answer: what a flow parses."""

    status: int
    headers: httpx.Headers
    content: bytes

    def data(self) -> Any:
        """The JSON body's `data` member (the contract wraps single objects in it)."""
        return self.json()["data"]

    def json(self) -> Any:
        return json.loads(self.content)


Flow = Generator[Call, Answer, T]


@dataclass(frozen=True)
class Done(Generic[T]):
    value: T


class Stepper(Generic[T]):
    """Runs a flow one call at a time, for a driver that does the I/O."""

    def __init__(self, flow: Flow[T]) -> None:
        self._flow = flow

    def start(self) -> Call | Done[T]:
        try:
            return next(self._flow)
        except StopIteration as stop:
            return Done(stop.value)

    def advance(self, outcome: Answer | EphemailError) -> Call | Done[T]:
        """Hand the flow the answer (or throw it the error); its next call, or its result."""
        try:
            if isinstance(outcome, EphemailError):
                return self._flow.throw(outcome)
            return self._flow.send(outcome)
        except StopIteration as stop:
            return Done(stop.value)


class EventReader:
    """Server-Sent Events, line by line, into `Event`s. An event's data is bounded: a
    larger one is dropped whole rather than held."""

    MAX_DATA = 1 << 20

    def __init__(self) -> None:
        self._type = ""
        self._data: list[str] = []
        self._size = 0
        self.last_id: str | None = None

    def feed(self, line: str) -> Event | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: the heartbeat
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._type = value
        elif name == "id":
            self.last_id = value
        elif name == "data":
            self._size += len(value) + 1
            self._data.append(value)
        return None

    def _dispatch(self) -> Event | None:
        kind, data, size = self._type, "\n".join(self._data), self._size
        self._type, self._data, self._size = "", [], 0
        if not kind or size > self.MAX_DATA:
            return None
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {"text": data}
        return Event(kind, parsed if isinstance(parsed, dict) else {"value": parsed}, self.last_id)


def resolve_base_url(base_url: str | None) -> str:
    """The service's root URL from the argument or the environment; `…/api` is accepted."""
    url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip().rstrip("/")
    return url.removesuffix("/api")


def resolve_api_key(api_key: str | None) -> str | None:
    return api_key or os.environ.get(API_KEY_ENV) or None


def parse_rate_limit(headers: httpx.Headers) -> RateLimit | None:
    """The four `X-RateLimit-*` headers, or None when the answer has not all of them."""
    try:
        return RateLimit(
            limit=int(headers["x-ratelimit-limit"]),
            used=int(headers["x-ratelimit-used"]),
            remaining=int(headers["x-ratelimit-remaining"]),
            reset=datetime.fromisoformat(headers["x-ratelimit-reset"]),
        )
    except (KeyError, ValueError):
        return None


class Core:
    """Settings and state shared by a client's calls: base URL, key, latest rate limit."""

    def __init__(self, base_url: str | None, api_key: str | None, timeout: float) -> None:
        self.base_url = resolve_base_url(base_url)
        self.api_key = resolve_api_key(api_key)
        self.timeout = timeout
        self.rate_limit: RateLimit | None = None

    def client_options(self) -> dict[str, Any]:
        """What the underlying httpx client is made with."""
        return {
            "base_url": self.base_url,
            "headers": {
                "Accept": "application/json",
                "User-Agent": f"ephemail-client/{__version__}",
            },
            "timeout": self.timeout,
        }

    def build(self, http: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
        return http.build_request(**self.request_options(call))

    def request_options(self, call: Call) -> dict[str, Any]:
        """The arguments of httpx's `build_request` and `stream` for `call`."""
        headers = dict(call.headers)
        if call.keyed and self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return {
            "method": call.method,
            "url": call.path,
            "params": dict(call.params),
            "json": call.json,
            "headers": headers,
            "timeout": httpx.Timeout(self.timeout, read=self.timeout + call.wait),
        }

    def receive(self, response: httpx.Response) -> Answer | EphemailError:
        """The answer of a 2xx response, else its error; records the rate-limit headers."""
        error = self.check(response)
        return error or Answer(response.status_code, response.headers, response.content)

    def check(self, response: httpx.Response) -> EphemailError | None:
        """Records the rate-limit headers; the error of a non-2xx response (read already)."""
        limits = parse_rate_limit(response.headers)
        if limits is not None:
            self.rate_limit = limits
        if response.is_success:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        retry = response.headers.get("retry-after", "")
        return error_for(
            response.status_code,
            body,
            retry_after=int(retry) if retry.isdigit() else None,
            reset=limits.reset if limits else None,
        )

    def unreachable(self, exc: httpx.HTTPError) -> EphemailError:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        return ConnectionFailed(f"request to {self.base_url} {kind}: {exc or type(exc).__name__}")


Transport = httpx.BaseTransport | httpx.AsyncBaseTransport


class ClientBase:
    """What `Client` and `AsyncClient` share: settings, the latest rate limit, the clock.

    `base_url` and `api_key` default to `EPHEMAIL_BASE_URL` and `EPHEMAIL_API_KEY`;
    `timeout` is per request (a wait adds its own on top); `transport` replaces httpx's
    (e.g. `httpx.MockTransport`, sync or async to match the client).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: Transport | None = None,
    ) -> None:
        self._core = Core(base_url, api_key, timeout)
        self.clock = time.monotonic  # what the waits measure their total timeout by
        self._connect(transport)

    def _connect(self, transport: Transport | None) -> None:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return self._core.base_url

    @property
    def rate_limit(self) -> RateLimit | None:
        """The `X-RateLimit-*` values of the latest answer that carried them."""
        return self._core.rate_limit
