"""Latency at a fixed rate: requests at a steady pace, each timed from when it was due.

wrk drives a server as fast as it answers, so its latency is that of a saturated server:
queueing, not service. The figure that says how a server feels is the latency at a fixed
share of its maximum. This driver sends `rate` requests a second over a pool of keep-alive
connections (bench/lib/http_client.py), and times each from the moment it was *due*, not
the moment a connection was free to send it: a stall delays the requests behind it, and
they count it (no coordinated omission). Run in a process of its own, so the load it puts
on the machine is its own, apart from the script that reads its answer:

    python bench/lib/steady_load.py --port P --path /api/... --rate 1200 --seconds 10 \
        --header "Authorization: Bearer KEY"

It prints (or writes to `--out`) one JSON object: sent, answered, non_2xx, errors, achieved,
p50_ms, p99_ms, and every latency in ms (`latencies`), so that the runs of several such
processes, which together make a rate one process could not send, can be merged (`merge`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.http_client import HttpConn
from lib.stats import percentile

TICK_S = 0.001  # how often the pacer looks at the clock


async def steady(
    port: int, path: str, headers: dict[str, str], rate: float, seconds: float, connections: int
) -> dict[str, float]:
    due_times: collections.deque[float] = collections.deque()
    ready = asyncio.Event()
    latencies: list[float] = []
    counts = {"non_2xx": 0, "errors": 0}
    finished = False

    async def worker() -> None:
        conn = HttpConn("127.0.0.1", port, headers, timeout=30)
        while True:
            while not due_times:
                if finished:
                    conn.close()
                    return
                ready.clear()
                await ready.wait()
            due = due_times.popleft()
            try:
                response = await conn.request("GET", path)
            except OSError:
                counts["errors"] += 1
                continue
            latencies.append((time.perf_counter() - due) * 1000)
            if not 200 <= response.status < 300:
                counts["non_2xx"] += 1

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.perf_counter()
    sent = 0
    while (now := time.perf_counter()) - start < seconds:
        owed = int((now - start) * rate) - sent
        for n in range(owed):
            due_times.append(start + (sent + n) / rate)
        if owed:
            sent += owed
            ready.set()
        await asyncio.sleep(TICK_S)
    finished = True
    ready.set()
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    return {
        "sent": sent,
        "answered": len(latencies),
        "non_2xx": counts["non_2xx"],
        "errors": counts["errors"],
        "achieved": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "latencies": [round(v, 3) for v in latencies],
    }


def merge(runs: list[dict]) -> dict[str, float]:
    """The runs of several driver processes side by side, as one."""
    latencies = [v for run in runs for v in run["latencies"]]
    merged = {k: sum(run[k] for run in runs) for k in ("sent", "answered", "non_2xx", "errors")}
    return {
        **merged,
        "achieved": sum(run["achieved"] for run in runs),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(
        steady(args.port, args.path, headers, args.rate, args.seconds, args.connections)
    )
    if args.out:
        args.out.write_text(json.dumps(result))
    else:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
