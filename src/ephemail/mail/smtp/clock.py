"""One periodic callback per process that checks the time bounds of every SMTP session."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ephemail.mail.smtp.gate import SmtpLimits

if TYPE_CHECKING:
    from ephemail.mail.smtp.session import SmtpSession


class SessionClock:
    """The time bounds of every session of a process, checked by one periodic callback.

    Cheaper than timer objects per connection and per message (a new connection per
    message would otherwise create and cancel three timers each time); a bound fires at
    most one tick late, the tick being a small fraction of the shortest bound.
    """

    def __init__(self, limits: SmtpLimits) -> None:
        shortest = min(limits.timeout, limits.session_timeout, limits.data_timeout)
        self.tick = min(1.0, max(0.02, shortest / 10))
        self._sessions: set[SmtpSession] = set()
        self._handle: asyncio.TimerHandle | None = None
        self.now = 0.0  # the loop's time at the last tick (or the last session added)

    def add(self, session: SmtpSession, loop: asyncio.AbstractEventLoop) -> None:
        self._sessions.add(session)
        if self._handle is None:
            self.now = loop.time()
            self._handle = loop.call_later(self.tick, self._check, loop)

    def discard(self, session: SmtpSession) -> None:
        self._sessions.discard(session)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = None
        self.now = now = loop.time()
        for session in list(self._sessions):
            session.check_clocks(now)
        if self._sessions:
            self._handle = loop.call_later(self.tick, self._check, loop)
