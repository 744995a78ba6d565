"""Builds the service from settings and runs SMTP, HTTP and the sweeper on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
import socket
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.api.app import create_api
from ephemail.api.auth import Authenticator
from ephemail.api.context import ApiContext, StreamLimits, WebhookOptions
from ephemail.api.fragments import FragmentCache
from ephemail.api.live import key_revoked
from ephemail.api.protocol import protocol_class
from ephemail.config import Settings
from ephemail.core import metrics
from ephemail.core.tokens import TokenCodec
from ephemail.events import EventBus, make_bus
from ephemail.events.local_inbox import LocalInbox
from ephemail.events.model import KEY_REVOKED, KINDS, MESSAGE_RECEIVED
from ephemail.mail.delivery import Delivery
from ephemail.mail.smtp.gate import ConnectionGate, SmtpLimits
from ephemail.mail.smtp.server import bind_socket, smtp_factory
from ephemail.store.db import create_engine
from ephemail.store.ingest import CommitProcessWriter, MessageWriter, make_writer
from ephemail.store.quota import QuotaBackend, make_quota
from ephemail.store.reads import HotReads, make_reads
from ephemail.store.sqlite_setup import sqlite_database
from ephemail.store.usage import UsageMeter
from ephemail.sweeper import run_sweeper
from ephemail.web.app import create_web
from ephemail.web.context import WebContext
from ephemail.web.mount import SiteDispatch
from ephemail.web.throttle import SignInThrottle
from ephemail.webhooks.dispatcher import DispatchConfig, Dispatcher

log = logging.getLogger("ephemail")


class ListenError(Exception):
    """A listener could not be opened; the message names it, e.g. `HTTP on 127.0.0.1:8025`."""


def _listen(what: str, host: str, port: int, shared: bool) -> socket.socket:
    try:
        return bind_socket(host, port, reuse_port=shared)
    except OSError as exc:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise ListenError(f"cannot listen for {what} on {where}: {exc.strerror or exc}") from exc


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service decides how to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Service:
    settings: Settings
    shared: bool = False  # True when other processes serve the same database
    commit_socket: socket.socket | None = None  # this worker's end of the node's commit process
    engine: AsyncEngine = field(init=False)
    writer: MessageWriter = field(init=False)
    quota: QuotaBackend = field(init=False)
    gate: ConnectionGate = field(init=False)
    api_context: ApiContext = field(init=False)
    reads: HotReads = field(init=False)
    bus: EventBus = field(init=False)
    usage: UsageMeter = field(init=False)
    web_context: WebContext = field(init=False)
    dispatcher: Dispatcher = field(init=False)
    smtp_port: int = 0
    http_port: int = 0
    _smtp: asyncio.base_events.Server | None = None
    _http: _EmbeddedServer | None = None
    _inbox: LocalInbox | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(
        self, smtp_sock: socket.socket | None = None, http_sock: socket.socket | None = None
    ) -> None:
        s = self.settings
        self.engine = create_engine(
            s.resolved_database_url(), synchronous=s.sqlite_synchronous, pool_size=s.db_pool_size
        )
        self.writer = make_writer(
            s.resolved_database_url(),
            self.engine,
            mailbox_message_cap=s.mailbox_message_cap,
            batch_max=s.writer_batch,
            synchronous=s.sqlite_synchronous,
            commit_socket=self.commit_socket,
            log_level=s.log_level,
        )
        await self.writer.start()
        self.bus = make_bus(
            s.resolved_database_url(),
            redis_url=s.redis_url,
            redis_prefix=s.redis_prefix,
            writer=self.writer if self.shared else None,
        )
        await self.bus.start()
        self.gate = ConnectionGate(
            limit=s.max_smtp_connections,
            per_client=s.max_smtp_connections_per_client,
            unknown_per_client=s.smtp_max_unknown_recipients_per_client,
            probe_window=s.smtp_probe_window,
        )
        limits = SmtpLimits(
            max_message_size=s.max_message_size,
            mailbox_message_cap=s.mailbox_message_cap,
            max_recipients=s.max_recipients,
            max_connections=s.max_smtp_connections,
            timeout=s.smtp_timeout,
            hostname=s.smtp_hostname,
            session_timeout=s.smtp_session_timeout,
            data_timeout=s.smtp_data_timeout,
            max_unknown_recipients=s.smtp_max_unknown_recipients,
            tls_cert=s.tls_cert,
            tls_key=s.tls_key,
        )
        smtp_sock = smtp_sock or _listen("SMTP", s.smtp_host, s.smtp_port, self.shared)
        http_sock = http_sock or _listen("HTTP", s.http_host, s.http_port, self.shared)
        self.smtp_port = smtp_sock.getsockname()[1]
        self.http_port = http_sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        self.reads = make_reads(s.resolved_database_url(), pool_size=s.db_pool_size)
        self.usage = UsageMeter(self.engine, s.usage_flush_seconds)
        delivery = Delivery(self.reads, self.writer, self.bus, usage=self.usage)
        factory = smtp_factory(delivery, limits, self.gate)
        self._smtp = await loop.create_server(factory, sock=smtp_sock)

        self.quota = make_quota(
            s.quota_backend,
            self.engine,
            redis_url=s.redis_url,
            shared=self.shared,
            flush_seconds=s.quota_flush_seconds,
            redis_prefix=s.redis_prefix,
        )
        self.dispatcher = Dispatcher(self.engine, dispatch_config(s))
        await self.dispatcher.start()
        # Mail that queued deliveries wakes this node's dispatcher through the writer; the
        # rarer mailbox events wake every dispatcher. A SELECT per message received cost
        # ingest a sixth of its CPU when every event woke it.
        self.writer.on_outbox = self.dispatcher.wake
        for kind in KINDS - {KEY_REVOKED, MESSAGE_RECEIVED}:
            self.bus.listen(kind, lambda _event: self.dispatcher.wake())
        public_url = s.resolved_public_url(self.http_port)
        self.api_context = ctx = ApiContext(
            engine=self.engine,
            reads=self.reads,
            public_url=public_url,
            tokens=TokenCodec(s.secret_key),
            quota=self.quota,
            auth=Authenticator(self.engine, ttl=s.auth_cache_seconds, key_seen=self.usage.key_seen),
            fragments=FragmentCache(s.json_cache_mib * 1024 * 1024),
            events=self.bus,
            streams=StreamLimits(
                s.events_heartbeat_seconds, s.events_max_streams, s.events_max_streams_total
            ),
            webhooks=WebhookOptions(
                s.webhook_allow_private, s.webhook_max_per_account, self.dispatcher.wake
            ),
            metrics_token=s.metrics_token,
            health=self.health,
            seen_writer=(
                self.writer.mark_seen if isinstance(self.writer, CommitProcessWriter) else None
            ),
        )
        self.bus.listen(KEY_REVOKED, functools.partial(key_revoked, ctx))
        database = sqlite_database(s.resolved_database_url())
        if database and not s.redis_url:  # `ephemail key revoke` reaches us through this
            self._inbox = LocalInbox(database, functools.partial(key_revoked, ctx))
            await self._inbox.start()
        self.web_context = WebContext(
            api=ctx,
            secret=s.secret_key.encode(),
            signup_enabled=s.signup_enabled,
            signup_plan=s.signup_plan,
            session_seconds=int(s.web_session_hours * 3600),
            throttle=SignInThrottle(
                s.signin_attempts_per_address,
                s.signin_attempts_per_client,
                s.signin_window_seconds,
            ),
            usage=self.usage,
        )
        self.usage.start()
        config = uvicorn.Config(
            SiteDispatch(create_api(ctx, self.usage), create_web(self.web_context)),
            http=protocol_class(s.http_read_timeout),
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_keep_alive=s.http_keepalive_timeout,
            timeout_graceful_shutdown=10,
        )
        self._http = _EmbeddedServer(config)
        self._tasks.append(asyncio.create_task(self._http.serve(sockets=[http_sock])))
        self._tasks.append(
            asyncio.create_task(run_sweeper(self.engine, s.sweep_interval, s.sweep_batch, self.bus))
        )
        self._tasks.append(asyncio.create_task(metrics.flush_tallies_every()))
        while not self._http.started:
            await asyncio.sleep(0.01)

    async def stop(self, grace: float = 10.0) -> None:
        """Graceful: no new connections, let sessions in flight finish, then refuse with 421."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._smtp is not None:
            self._smtp.close()
        self.gate.closing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.gate.idle.wait(), grace)
        await self.writer.stop()
        self.bus.end_streams()
        if self._http is not None:
            self._http.should_exit = True
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        metrics.flush_tallies()  # the last requests and mail, for a scrape of another worker
        if self._inbox is not None:
            self._inbox.close()
        await self.dispatcher.stop()
        await self.bus.close()
        await self.quota.close()
        await self.usage.close()
        await self.reads.close()
        await self.engine.dispose()

    async def health(self) -> dict[str, str]:
        """What /health reports: each part "ok" or why not."""
        checks = {"database": await _check(self._database_ok())}
        if isinstance(self.writer, CommitProcessWriter):
            lost = self.writer.lost.is_set()
            checks["commit_process"] = "down: the commit process is gone" if lost else "ok"
        if self.settings.redis_url:
            checks["redis"] = await _check(self._redis_ok())
        return checks

    async def _database_ok(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def _redis_ok(self) -> None:
        from redis.asyncio import Redis

        client = Redis.from_url(self.settings.redis_url, socket_connect_timeout=HEALTH_TIMEOUT)
        try:
            await client.ping()
        finally:
            await client.aclose()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()


HEALTH_TIMEOUT = 2.0  # seconds a health check may take before its part counts as down


async def _check(probe: Coroutine[Any, Any, None]) -> str:
    try:
        await asyncio.wait_for(probe, HEALTH_TIMEOUT)
    except TimeoutError:
        return "down: no answer in time"
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    return "ok"


def dispatch_config(s: Settings) -> DispatchConfig:
    return DispatchConfig(
        allow_private=s.webhook_allow_private,
        connect_timeout=s.webhook_connect_timeout,
        timeout=s.webhook_timeout,
        concurrency=s.webhook_concurrency,
        per_receiver=s.webhook_per_receiver,
        retry_base=s.webhook_retry_base_seconds,
        retry_max=s.webhook_retry_max_seconds,
        retry_window=s.webhook_retry_window_seconds,
        poll=s.webhook_poll_seconds,
        log_retention=s.webhook_log_retention_seconds,
    )


def settle_heap() -> None:
    """Move everything alive after start-up out of the garbage collector's sight.

    Imports and start-up leave a few hundred thousand long-lived objects (more in a forked
    worker). Each full collection walked all of them: ~70 ms with the event loop stopped,
    every second or two under load, which was most of the API's p99. Frozen objects are
    still freed by reference counting; only the cycle search skips them.
    """
    gc.collect()
    gc.freeze()


async def run_until_signal(service: Service, *args: socket.socket) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start(*args)
    settle_heap()
    lost = asyncio.create_task(service.writer.lost.wait())
    asked = asyncio.create_task(stop.wait())
    await asyncio.wait([asked, lost], return_when="FIRST_COMPLETED")
    for task in (asked, lost):
        task.cancel()
    log.info("stopping")
    await service.stop()
    if service.writer.lost.is_set():
        raise SystemExit("the commit process is gone; nothing more could be stored")
