"""The serving processes: one worker in this process, or N forked workers sharing the ports
plus the node's commit process; how a stop signal reaches them and what the exit code says.

Kept apart from the admin CLI so the commands that manage data never touch process control,
and from service.py, which builds one worker's service and knows nothing of its siblings.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from ephemail.config import Settings, private_dir

METRICS_DIR = "metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client reads it when first imported


def exit_on_stop_signal() -> None:
    """Until the event loop takes over the signals, a stop request ends start-up cleanly
    (migrations roll back as a whole) instead of killing the process mid-way."""
    signal.signal(signal.SIGTERM, _exit_on_signal)


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def run(s: Settings, workers: int) -> None:
    """Serve until stopped: in this process for one worker, else fork `workers` of them."""
    # Everything a serving process writes under the data directory holds mail, keys or
    # counts of them (the database, its WAL, the metrics files prometheus_client makes with
    # its own modes): readable by this user only, whatever the caller's umask.
    os.umask(0o077)
    share_metrics(s.data_dir / METRICS_DIR)
    if workers == 1:
        _run_worker(s, shared=False)
    else:
        _run_workers(s, workers)


def share_metrics(path: Path) -> None:
    """prometheus_client's multiprocess mode for the workers and the commit process: each
    writes its values under `path` (emptied here, so a restart starts from zero), and /metrics
    sums them. Set before anything imports prometheus_client (the service is imported later)."""
    private_dir(path)
    for old in path.glob("*.db"):
        old.unlink()
    os.environ[MULTIPROC_ENV] = str(path)


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    uvloop.install()


def _run_worker(s: Settings, shared: bool, commit_socket: socket.socket | None = None) -> None:
    # Imported here: the service pulls in uvicorn, FastAPI and the SMTP stack.
    from ephemail.service import ListenError, Service, run_until_signal

    _install_uvloop()
    try:
        asyncio.run(run_until_signal(Service(s, shared=shared, commit_socket=commit_socket)))
    except ListenError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def _run_workers(s: Settings, count: int) -> None:
    from ephemail.store.ingest import start_commit_process

    commits = start_commit_process(
        s.resolved_database_url(), s.sqlite_synchronous, count, s.log_level
    )
    ends: list[socket.socket | None] = list(commits.sockets) if commits else [None] * count
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_worker_main, args=(s, ends, index), daemon=False)
        for index in range(count)
    ]
    for proc in procs:
        proc.start()
    for end in ends:  # the workers hold them now; the commit process sees a worker's exit
        if end is not None:
            end.close()

    def forward(signum: int, _frame: Any) -> None:
        for proc in procs:
            if proc.pid and proc.is_alive():
                os.kill(proc.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for proc in procs:
        proc.join()
    if commits is not None:
        commits.wait(30.0)
    if any(proc.exitcode for proc in procs):
        raise SystemExit(1)


def _worker_main(s: Settings, ends: list[socket.socket | None], index: int) -> None:
    """A forked worker keeps its own end of the commit process and closes the others'."""
    for other, end in enumerate(ends):
        if other != index and end is not None:
            end.close()
    _run_worker(s, True, ends[index])
