"""The SMTP front's configuration and its admission control across sessions."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

REPLY_SHUTDOWN = "421 4.3.2 Service shutting down, try again later"


@dataclass
class SmtpLimits:
    max_message_size: int
    mailbox_message_cap: int
    max_recipients: int
    max_connections: int
    timeout: float
    hostname: str
    session_timeout: float = 600.0
    data_timeout: float = 300.0
    max_unknown_recipients: int = 20
    max_unknown_recipients_per_client: int = 100
    probe_window: float = 600.0
    tls_cert: Path | None = None
    tls_key: Path | None = None


@dataclass
class _Client:
    connections: int = 0
    unknown: int = 0
    window_start: float = 0.0


@dataclass
class ConnectionGate:
    """Counts open sessions, in all and per client address, so a flood is told 421 instead
    of exhausting the process; and counts unknown recipients per client address, so that
    reconnecting does not reset the budget of a recipient prober."""

    limit: int
    per_client: int = 50
    unknown_per_client: int = 100
    probe_window: float = 600.0
    active: int = 0
    closing: bool = False
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    clients: dict[str, _Client] = field(default_factory=dict)
    max_tracked: int = 100_000

    def __post_init__(self) -> None:
        self.idle.set()

    def enter(self, client: str = "") -> str | None:
        """Count a new session; the refusal to send it, or None when it may go on."""
        self.active += 1
        self.idle.clear()
        entry = self._entry(client)
        entry.connections += 1
        if self.closing:
            return REPLY_SHUTDOWN
        if self.active > self.limit:
            return "421 4.7.0 Too many connections, try again later"
        if entry.connections > self.per_client:
            return "421 4.7.0 Too many connections from your address, try again later"
        return None

    def leave(self, client: str = "") -> None:
        self.active -= 1
        entry = self.clients.get(client)
        if entry is not None:
            entry.connections -= 1
            if entry.connections <= 0 and not entry.unknown:
                del self.clients[client]
        if self.active <= 0:
            self.idle.set()

    def probing(self, client: str) -> bool:
        """True once this address has asked for too many unknown recipients lately."""
        entry = self.clients.get(client)
        if entry is None or not entry.unknown:
            return False
        if time.monotonic() - entry.window_start > self.probe_window:
            entry.unknown = 0
        return entry.unknown >= self.unknown_per_client

    def unknown_recipient(self, client: str) -> None:
        entry = self._entry(client)
        now = time.monotonic()
        if not entry.unknown or now - entry.window_start > self.probe_window:
            entry.unknown, entry.window_start = 0, now
        entry.unknown += 1

    def _entry(self, client: str) -> _Client:
        entry = self.clients.get(client)
        if entry is None:
            if len(self.clients) >= self.max_tracked:  # forget the oldest idle address
                for key, old in self.clients.items():
                    if old.connections <= 0:
                        del self.clients[key]
                        break
            entry = self.clients[client] = _Client()
        return entry
