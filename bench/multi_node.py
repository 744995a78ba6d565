#!/usr/bin/env python3
"""SMTP ingest and `GET /api/messages` on one node and on several, one PostgreSQL database.

For each node count: that many `ephemail serve` processes on one database (and Redis when
given: the bus and the quota), the same total load spread evenly over them. Ingest: one
Postfix `smtp-source` per node, all at once (the sessions and messages split between them),
1 KiB messages, a new connection per session reused for its messages; a message counts when
it is in the database afterwards. Listing: one `wrk` per node, all at once, on one mailbox of
20 messages (the connections split between them). The figures are totals over the nodes.

    python bench/multi_node.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/DB \
        [--redis-url redis://127.0.0.1:6379/0] [--nodes 1,3]

Every node shares the host: on a machine with fewer cores than nodes + PostgreSQL + the load
tools, more nodes measure the machine, not the design.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import asyncpg

from api_load import fill_mailbox, run_wrk
from ephemail.store.pg_pool import asyncpg_dsn
from lib.machine import machine
from lib.procs import find_postfix_tool
from lib.server import HOST, Server, raise_limits
from live_events import nodes

SENDER = "load@example.org"


def stored_messages(database_url: str) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            return int(await conn.fetchval("SELECT count(*) FROM messages"))
        finally:
            await conn.close()

    return asyncio.run(count())


def ingest(servers: list[Server], box: str, args: argparse.Namespace, binary: str) -> float:
    """Total msg/s stored with smtp-source on every node at once."""
    before = stored_messages(args.database_url)
    per_node = args.messages // len(servers)
    sessions = max(1, args.sessions // len(servers))
    load = [binary, "-c", "-d", "-s", str(sessions), "-m", str(per_node), "-l", "1024"]
    commands = [[*load, "-f", SENDER, "-t", box, f"{HOST}:{s.smtp_port}"] for s in servers]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in commands
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=args.time_limit)
        if proc.returncode:
            raise SystemExit(f"smtp-source failed: {err.decode(errors='replace')[-300:]}")
    elapsed = time.perf_counter() - started
    stored = stored_messages(args.database_url) - before
    if stored != per_node * len(servers):
        raise SystemExit(f"{stored} stored of {per_node * len(servers)} sent")
    return stored / elapsed


def listing(servers: list[Server], box: str, args: argparse.Namespace) -> float:
    """Total req/s of `GET /api/messages?email=` with wrk on every node at once."""
    per_node = argparse.Namespace(
        threads=1, connections=max(1, args.connections // len(servers)), duration=args.duration
    )
    key = servers[0].admin_key
    with ThreadPoolExecutor(len(servers)) as pool:
        runs = list(
            pool.map(
                lambda s: run_wrk(f"{s.base_url}/api/messages?email={box}", key, per_node),
                servers,
            )
        )
    if any(non_2xx for _, non_2xx, *_ in runs):
        raise SystemExit("non-2xx answers under load")
    return sum(rps for _, _, rps, *_ in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="postgresql+asyncpg://…")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--nodes", default="1,3", help="comma list of node counts")
    parser.add_argument("--messages", type=int, default=6000, help="in all, per node count")
    parser.add_argument("--sessions", type=int, default=12, help="SMTP sessions in all")
    parser.add_argument("--connections", type=int, default=63, help="HTTP connections in all")
    parser.add_argument("--duration", type=int, default=5, help="wrk seconds")
    parser.add_argument("--time-limit", type=float, default=600)
    args = parser.parse_args()
    binary = find_postfix_tool("smtp-source")
    if not binary:
        raise SystemExit("smtp-source is not installed (Debian: apt-get install postfix)")
    backend = "PostgreSQL + Redis" if args.redis_url else "PostgreSQL"
    print(f"machine: {machine()}; {backend}", flush=True)
    extra = {"EPHEMAIL_MAILBOX_MESSAGE_CAP": "1000000", "EPHEMAIL_DB_POOL_SIZE": "4"}
    for count in sorted({int(n) for n in args.nodes.split(",")}):
        with nodes(count, args.database_url, args.redis_url, extra) as servers:
            raise_limits(servers[0])
            servers[0].ensure_key()
            for server in servers[1:]:
                server.admin_key = servers[0].admin_key
            (target,) = servers[0].create_mailboxes(1)
            rate = ingest(servers, target, args, binary)
            box, _ = fill_mailbox(servers[0], 20)
            rps = listing(servers, box, args)
        print(
            f"RESULT nodes={count} backend={backend.replace(' ', '')} "
            f"ingest_msg_s={rate:.0f} list_req_s={rps:.0f}",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
