"""Delivers the webhook outbox: one dispatcher per worker process, any number per database.

It claims due rows with a lease (store/outbox.py), POSTs each to its receiver with httpx
(connect and read timeouts, an overall bound, no redirects), and records the outcome in
batches: 2xx is delivered; anything else is retried after an exponential backoff with full
jitter until the event is `retry_window` old, then given up. Concurrency is bounded per
worker (`concurrency`) and per hook (`per_receiver`): a hook whose receiver hangs holds at
most its own slots, so other hooks (and SMTP, which never waits on any of this) go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass

import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail import __version__
from ephemail.core import metrics
from ephemail.core.time import iso_utc
from ephemail.store import outbox
from ephemail.store import webhooks as hooks
from ephemail.store.outbox import Attempt, Pending
from ephemail.webhooks.guard import Refused, parse_target, resolve
from ephemail.webhooks.signing import (
    ATTEMPT_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    signature,
)

log = logging.getLogger("ephemail.webhooks")
DEPTH_EVERY = 5.0  # seconds between outbox depth readings (a read)
PRUNE_EVERY = 300.0  # seconds between prunings of the deliveries log (a write)
STOP_SECONDS = 5.0  # the longest a stop waits for attempts in flight, then for write-backs


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    allow_private: bool = False
    connect_timeout: float = 5.0
    timeout: float = 10.0  # reading the answer; the whole attempt gets a little more
    concurrency: int = 32
    per_receiver: int = 4
    retry_base: float = 5.0
    retry_max: float = 3600.0
    retry_window: float = 86_400.0
    poll: float = 1.0
    log_retention: float = 7 * 86_400.0


def backoff(attempt: int, base: float, cap: float) -> float:
    """Full jitter: uniform in [0, min(cap, base·2^(attempt-1))] seconds."""
    return random.uniform(0, min(cap, base * 2 ** min(attempt - 1, 40)))


def body_of(row: Pending) -> bytes:
    return orjson.dumps(
        {
            "id": row.event_id,
            "type": row.event_type,
            "created_at": iso_utc(row.created_ms // 1000),
            "data": orjson.loads(row.payload),
        }
    )


def _host_header(host: str, port: int) -> str:
    """The URL's host as a Host header: IPv6 in brackets, the port unless the default."""
    named = f"[{host}]" if ":" in host else host
    return named if port in (80, 443) else f"{named}:{port}"


class Dispatcher:
    def __init__(self, engine: AsyncEngine, config: DispatchConfig) -> None:
        self._engine = engine
        self._config = config
        self._wake = asyncio.Event()
        self._busy: dict[int, int] = {}  # hook id → attempts in flight here
        self._inflight: dict[int, asyncio.Task[None]] = {}  # outbox row id → its attempt
        self._results: list[Attempt] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._stopping = False

    async def start(self) -> None:
        c = self._config
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(c.timeout, connect=c.connect_timeout),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=c.concurrency, max_keepalive_connections=16),
            trust_env=False,
        )
        self._tasks = [
            asyncio.create_task(self._run(), name="webhook-dispatcher"),
            asyncio.create_task(self._housekeeping(), name="webhook-housekeeping"),
        ]

    def wake(self) -> None:
        """Something may be due now (a message was committed): look without waiting."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        run, housekeeping = self._tasks
        housekeeping.cancel()
        # The loop ends between rounds: cancelled inside a claim, the rows it had just leased
        # would be known to no one and wait out their lease (45 s) before anyone tried again.
        try:
            await asyncio.wait_for(asyncio.shield(run), STOP_SECONDS)
        except TimeoutError:
            run.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        pending = list(self._inflight)
        for task in list(self._inflight.values()):
            task.cancel()
        # A stop is bounded: whatever is not written back in time keeps its lease, which runs
        # out, and the row is claimed again (at least once, as docs/webhooks.md says).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*self._inflight.values(), return_exceptions=True), STOP_SECONDS
            )
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._wind_up(pending), STOP_SECONDS)
        if self._client is not None:
            await self._client.aclose()

    async def _wind_up(self, pending: list[int]) -> None:
        await self._flush()
        # Cut short by the stop: free again at once for the next start or another node.
        await outbox.release(self._engine, pending)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook dispatch failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._config.poll)
            self._wake.clear()

    async def _round(self) -> None:
        """Claim as many due rows as there are free slots, start them, flush outcomes."""
        await self._flush()
        c = self._config
        free = c.concurrency - len(self._inflight)
        if free <= 0 or self._stopping:
            return
        full = [hook for hook, n in self._busy.items() if n >= c.per_receiver]
        now_ms = int(time.time() * 1000)
        lease_ms = int((c.connect_timeout + c.timeout) * 1000) + 30_000
        rows = await outbox.claim(self._engine, now_ms, lease_ms, free, full)
        extra: list[int] = []
        for row in rows:
            if self._busy.get(row.webhook_id, 0) >= c.per_receiver:
                extra.append(row.id)  # over this hook's bound: back for the next round
                continue
            self._busy[row.webhook_id] = self._busy.get(row.webhook_id, 0) + 1
            self._inflight[row.id] = asyncio.create_task(self._attempt(row))
        await outbox.release(self._engine, extra)
        if len(rows) - len(extra) == free:
            self._wake.set()  # there may be more due

    async def _attempt(self, row: Pending) -> None:
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            status, error = await self._post(row)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not lose the row: it is retried
            log.exception("webhook attempt failed")
            error = f"internal error: {type(exc).__name__}"
        finally:
            self._busy[row.webhook_id] -= 1
            if not self._busy[row.webhook_id]:
                del self._busy[row.webhook_id]
            self._inflight.pop(row.id, None)
        elapsed = time.perf_counter() - started
        metrics.get().WEBHOOK_LATENCY.observe(elapsed)
        now_ms = int(time.time() * 1000)
        next_ms: int | None = None
        if status is not None and 200 <= status < 300:
            outcome = "delivered"
        elif now_ms - row.created_ms >= self._config.retry_window * 1000:
            outcome = "gave_up"
            error = f"gave up: {error or f'HTTP {status}'}"
        else:
            outcome = "retry"
            wait = backoff(row.attempts + 1, self._config.retry_base, self._config.retry_max)
            next_ms = now_ms + int(wait * 1000)
        metrics.get().WEBHOOK_DELIVERIES.labels(outcome).inc()
        self._results.append(Attempt(row, status, error, int(elapsed * 1000), now_ms, next_ms))
        self._wake.set()

    async def _post(self, row: Pending) -> tuple[int | None, str | None]:
        """The receiver's status code, or None and why there was none."""
        async with self._engine.connect() as conn:
            hook = await hooks.get_any(conn, row.webhook_id)
        if hook is None:
            return None, "the webhook is gone"
        assert self._client is not None
        try:
            target = parse_target(hook.url)
            addresses = await resolve(target, self._config.allow_private)
        except Refused as exc:
            return None, f"refused: {exc}"
        ip = addresses[0]
        host_ip = f"[{ip}]" if ":" in ip else ip
        body = body_of(row)
        headers = {
            "Host": _host_header(target.host, target.port),
            "Content-Type": "application/json",
            "User-Agent": f"ephemail-webhooks/{__version__}",
            SIGNATURE_HEADER: signature(hook.secret, int(time.time()), body),
            EVENT_ID_HEADER: row.event_id,
            EVENT_TYPE_HEADER: row.event_type,
            ATTEMPT_HEADER: str(row.attempts + 1),
        }
        # Connect to the address just checked (no second DNS answer); TLS still verifies
        # the certificate against the URL's host name.
        request = self._client.build_request(
            "POST",
            f"{target.scheme}://{host_ip}:{target.port}{target.path}",
            content=body,
            headers=headers,
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        bound = self._config.connect_timeout + self._config.timeout + 1.0
        try:
            async with asyncio.timeout(bound):
                response = await self._client.send(request, stream=True)
                await response.aclose()  # the status is all we need; the body is not read
        except TimeoutError:
            return None, "timeout"
        except httpx.TimeoutException as exc:
            return None, f"timeout ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:200]
        return response.status_code, None

    async def _flush(self) -> None:
        results, self._results = self._results, []
        try:
            await outbox.record(self._engine, results)
        except BaseException:  # a failure or a cancel: keep them for the next flush
            self._results = results + self._results
            raise

    async def _housekeeping(self) -> None:
        """The outbox depth for /metrics, and the log pruned by age."""
        pruned_at = 0.0
        while True:
            try:
                metrics.get().WEBHOOK_OUTBOX.set(await outbox.depth(self._engine))
                if time.monotonic() - pruned_at > PRUNE_EVERY:
                    pruned_at = time.monotonic()
                    cutoff = int((time.time() - self._config.log_retention) * 1000)
                    await outbox.prune(self._engine, cutoff)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook housekeeping failed")
            await asyncio.sleep(DEPTH_EVERY)
