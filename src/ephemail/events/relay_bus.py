"""SQLite with several workers: the node's commit process, which every worker already talks
to, carries events between them. Each worker sends an event after its commit; the commit
process sends it on to every worker (store/ingest/commit_process.py)."""

from __future__ import annotations

from ephemail.events.bus import EventBus
from ephemail.events.model import Event
from ephemail.store.ingest.commit_client import CommitProcessWriter


class RelayBus(EventBus):
    name = "commit-process"

    def __init__(self, writer: CommitProcessWriter) -> None:
        super().__init__()
        self._writer = writer
        writer.on_relay = self._dispatch_raw

    async def publish(self, event: Event) -> None:
        await self._writer.relay(event.encode())
