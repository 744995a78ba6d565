#!/usr/bin/env python3
"""User API load: req/s and latency of the hot read endpoints, with exact quota counting.

Starts `ephemail serve` (1 worker, then as many as cores), fills one mailbox with 20 messages
over real SMTP, then drives `GET /api/messages?email=` and `GET /api/messages/{id}` with wrk
from a separate process: 64 connections, valid key, quota large enough. With several workers
the quota lives in Redis (127.0.0.1:6379), exact across processes; with one it is in memory.
Afterwards the script checks that the quota's `Used` grew by exactly the number of 2xx the
server sent (wrk's count, plus at most the requests in flight when wrk stopped). The server's
CPU time per response (all its processes, from /proc) is printed too: on a shared, noisy
machine it moves far less than req/s, so it is the figure to compare two versions by.

Two more figures per endpoint: the latency at a fixed share of the maximum (`--share`, half
by default; bench/lib/steady_load.py sends at that steady rate and times each request from
when it was due), and a reference measured in the same run: a bare ASGI app on the same
HTTP stack serving the same body (bench/lib/bare_asgi.py), driven the same two ways.

    python bench/api_load.py                  # 1 and 2 workers, 15 s per endpoint
    python bench/api_load.py --write-doc      # ... and update docs/benchmarks.md
    python bench/api_load.py --quick          # 3 s, 1 worker: a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from lib.docs import BENCHMARKS, today, write_section
from lib.machine import machine
from lib.procs import proc_cpu_seconds
from lib.server import HOST, Server, free_port, raise_limits, running_server
from lib.steady_load import merge

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class WrkResult:
    endpoint: str
    workers: int
    requests: int
    non_2xx: int
    rps: float
    p50_ms: float
    p99_ms: float
    quota_delta: int
    cpu_us: float  # server CPU (user + system, all its processes) per response
    steady_rate: float = 0.0  # the fixed rate asked: --share of rps
    steady_p50_ms: float = 0.0
    steady_p99_ms: float = 0.0


def request(server: Server, method: str, path: str) -> tuple[dict[str, str], bytes]:
    req = urllib.request.Request(
        f"{server.base_url}{path}",
        method=method,
        headers=server.api_headers,
    )
    with urllib.request.urlopen(req, timeout=30) as response:
        return {k.lower(): v for k, v in response.headers.items()}, response.read()


def quota_used(server: Server) -> int:
    """Used as the server counts it, not counting this probe itself."""
    headers, _ = request(server, "GET", "/api/domains")
    return int(headers["x-ratelimit-used"]) - 1


def fill_mailbox(server: Server, count: int) -> tuple[str, str]:
    _, body = request(server, "POST", "/api/emails")
    address = json.loads(body)["data"]["email"]
    with smtplib.SMTP(HOST, server.smtp_port, timeout=30) as smtp:
        for i in range(count):
            msg = EmailMessage()
            msg["From"] = "Load Sender <load@example.org>"
            msg["Subject"] = f"Message {i} of the benchmark"
            msg.set_content("Hello " * 40)
            msg.add_alternative(f"<p>{'Hello ' * 40}</p>", subtype="html")
            if i % 4 == 0:
                msg.add_attachment(
                    b"x" * 1000, maintype="text", subtype="plain", filename=f"file{i}.txt"
                )
            smtp.send_message(msg, to_addrs=[address])
    _, body = request(server, "GET", f"/api/messages?email={address}")
    messages = json.loads(body)["messages"]
    assert len(messages) == count, len(messages)
    return address, messages[0]["id"]


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    url: str, key: str, args: argparse.Namespace
) -> tuple[int, int, float, float, float, int]:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        *(["-H", f"Authorization: Bearer {key}"] if key else []),
        "-H",
        "Accept: application/json",
        url,
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=args.duration + 60, check=True
    ).stdout
    if re.search(r"^\s+99%\s+[\d.]+\w+", out, re.M) is None:
        raise SystemExit(f"wrk printed no latency distribution:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # Anchored: a "+/- Stdev" cell such as 96.50% must not pass for the 50% line.
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    # Requests wrk gave up on (timeouts, resets) may still have been answered and counted.
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    abandoned = sum(int(n) for n in errors.groups()) if errors else 0
    non_2xx = int(non_2xx_match.group(1)) if non_2xx_match else 0
    return requests, non_2xx, rps, p50, p99, abandoned


def run_steady(port: int, path: str, key: str, rate: float, args: argparse.Namespace) -> dict:
    """bench/lib/steady_load.py in `--steady-processes` processes, each sending its share of
    `rate` (one Python driver alone tops out near 10,000 req/s); their runs merged."""
    k = args.steady_processes
    command = [
        sys.executable,
        str(Path(__file__).parent / "lib" / "steady_load.py"),
        f"--port={port}",
        f"--path={path}",
        f"--rate={rate / k:.1f}",
        f"--seconds={args.steady_seconds}",
        f"--connections={max(1, args.connections // k)}",
        "--header=Accept: application/json",
    ]
    if key:
        command.append(f"--header=Authorization: Bearer {key}")
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"run{i}.json" for i in range(k)]
        procs = [subprocess.Popen([*command, f"--out={out}"]) for out in outs]
        for proc in procs:
            if proc.wait(timeout=args.steady_seconds + 120):
                raise SystemExit(f"steady load to {path} failed (exit {proc.returncode})")
        runs = [json.loads(out.read_text()) for out in outs]
    result = merge(runs)
    if result["non_2xx"] or result["errors"]:
        raise SystemExit(f"steady load to {path} failed: {result}")
    return result


def with_steady(
    result: WrkResult, port: int, path: str, key: str, args: argparse.Namespace
) -> None:
    rate = result.rps * args.share
    steady = run_steady(port, path, key, rate, args)
    result.steady_rate = rate
    result.steady_p50_ms, result.steady_p99_ms = steady["p50_ms"], steady["p99_ms"]
    print(
        f"    at {rate:,.0f} req/s ({args.share:.0%} of the maximum): "
        f"p50 {result.steady_p50_ms:.2f} ms, p99 {result.steady_p99_ms:.2f} ms "
        f"({steady['answered']} answered)",
        flush=True,
    )


def bench_reference(bodies: dict[str, bytes], args: argparse.Namespace) -> list[WrkResult]:
    """The bare ASGI app serving each endpoint's body: the same wrk run and steady run."""
    results = []
    for name, body in bodies.items():
        with tempfile.TemporaryDirectory() as tmp:
            body_file = Path(tmp) / "body.json"
            body_file.write_bytes(body)
            port = free_port()
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).parent / "lib" / "bare_asgi.py"),
                    f"--port={port}",
                    f"--body={body_file}",
                ]
            )
            try:
                wait_for_port(port)
                url = f"http://{HOST}:{port}/"
                cpu = proc_cpu_seconds([proc.pid])
                requests, _, rps, p50, p99, _ = run_wrk(url, "", args)
                cpu_us = 1e6 * (proc_cpu_seconds([proc.pid]) - cpu) / max(requests, 1)
                result = WrkResult(name, 0, requests, 0, rps, p50, p99, 0, cpu_us)
                print(
                    f"reference (bare ASGI, {len(body):,} bytes) {name}: {rps:,.0f} req/s, "
                    f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, server CPU {cpu_us:.0f} us/response",
                    flush=True,
                )
                with_steady(result, port, "/", "", args)
                results.append(result)
            finally:
                proc.terminate()
                proc.wait(30)
    return results


def wait_for_port(port: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"the reference server did not listen on {port}")


def bench_workers(
    workers: int, args: argparse.Namespace, bodies: dict[str, bytes]
) -> list[WrkResult]:
    env = {"EPHEMAIL_MAILBOX_MESSAGE_CAP": "1000"}
    if args.database_url:
        env["EPHEMAIL_DATABASE_URL"] = args.database_url
    if workers > 1 or args.quota == "redis":
        env.update(
            EPHEMAIL_REDIS_URL=REDIS_URL,
            EPHEMAIL_QUOTA_BACKEND="redis",
            EPHEMAIL_REDIS_PREFIX=f"ephemail-bench-{secrets.token_hex(4)}",
        )
    results = []
    try:
        with running_server(workers, env) as server:
            raise_limits(server)
            server.ensure_key()
            address, message_id = fill_mailbox(server, 20)
            paths = {
                "GET /api/messages?email=": f"/api/messages?email={address}",
                "GET /api/messages/{id}": f"/api/messages/{message_id}",
            }
            for name, path in paths.items():
                bodies.setdefault(name, request(server, "GET", path)[1])
                url = f"{server.base_url}{path}"
                before = quota_used(server)
                cpu = proc_cpu_seconds(server.pids())
                requests, non_2xx, rps, p50, p99, abandoned = run_wrk(url, server.admin_key, args)
                cpu_us = 1e6 * (proc_cpu_seconds(server.pids()) - cpu) / max(requests, 1)
                delta = quota_used(server) - before - 1  # minus the first probe
                results.append(
                    WrkResult(name, workers, requests, non_2xx, rps, p50, p99, delta, cpu_us)
                )
                print(
                    f"{workers} worker(s) {name}: {rps:,.0f} req/s, p50 {p50:.2f} ms, "
                    f"p99 {p99:.2f} ms, server CPU {cpu_us:.0f} us/response, {requests} "
                    f"responses ({non_2xx} non-2xx), quota grew by {delta}",
                    flush=True,
                )
                if non_2xx:
                    raise SystemExit("non-2xx responses under load")
                if not 0 <= delta - requests <= args.connections + abandoned:
                    raise SystemExit(f"quota drifted: {delta} counted for {requests} responses")
                with_steady(results[-1], server.http_port, path, server.admin_key, args)
    finally:
        if "EPHEMAIL_REDIS_PREFIX" in env:
            forget_redis_keys(env["EPHEMAIL_REDIS_PREFIX"])
    return results


def forget_redis_keys(prefix: str) -> None:
    """Leave the shared Redis as we found it: drop this run's quota counters."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def doc(
    results: list[WrkResult], reference: list[WrkResult], args: argparse.Namespace, command: str
) -> str:
    share = f"{args.share:.0%}"
    rows = "\n".join(
        f"| {r.endpoint} | {r.workers} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
        f"{r.steady_rate:,.0f} | {r.steady_p50_ms:.2f} | {r.steady_p99_ms:.2f} | "
        f"{r.cpu_us:.0f} | {r.requests:,} | {r.quota_delta:,} |"
        for r in results
    )
    head = (
        f"| endpoint | workers | req/s (wrk) | p50 ms | p99 ms | steady req/s ({share}) | "
        f"p50 ms at {share} | p99 ms at {share} | server CPU µs | 2xx seen by wrk | "
        "quota counted |"
    )
    ref = {r.endpoint: r for r in reference}
    ref_rows = "\n".join(
        f"| {r.endpoint} | {r.rps:,.0f} | {r.p99_ms:.2f} | {r.steady_p99_ms:.2f} | {r.cpu_us:.0f} |"
        for r in reference
    )
    ratios = "\n".join(
        f"| {r.endpoint} | {r.workers} | {r.rps / ref[r.endpoint].rps:.2f} | "
        f"{r.steady_p99_ms / ref[r.endpoint].steady_p99_ms:.1f} | "
        f"{r.cpu_us / ref[r.endpoint].cpu_us:.1f} |"
        for r in results
        if r.endpoint in ref
    )
    return f"""## User API under load

{today()}, {machine()}; wrk, the steady driver and the server share the machine.

Command: `{command}`

wrk: {args.threads} threads, {args.connections} connections, {args.duration} s per endpoint; one
mailbox with 20 messages (every fourth with an attachment); the key valid and the quota large.
One worker counts the quota in memory; two count it in Redis (exact across processes).
"quota counted" is how much `X-RateLimit-Used` grew: wrk's 2xx count plus the requests still
in flight when wrk stopped (the server answered them, wrk no longer read them). "server CPU"
is the server's CPU time (all its processes) per response seen by wrk. "at {share}": the
same endpoint at a steady {share} of the req/s wrk reached, {args.steady_seconds:g} s, over
{args.connections} connections from {args.steady_processes} driver processes, each request
timed from when it was due (`bench/lib/steady_load.py`).

{head}
|---|---|---|---|---|---|---|---|---|---|---|
{rows}

Reference, same run: a bare ASGI app on the same HTTP stack (uvicorn, httptools, uvloop, one
process) serving the very body ephemail answered (`bench/lib/bare_asgi.py`).

| endpoint | req/s (wrk) | p99 ms | p99 ms at {share} | server CPU µs |
|---|---|---|---|---|
{ref_rows}

ephemail against the reference (req/s: the share of the bare app's rate that ephemail keeps;
p99 at {share} and CPU per response: how many times the bare app's):

| endpoint | workers | req/s ratio | p99 at {share} ratio | CPU ratio |
|---|---|---|---|---|
{ratios}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workers", default=f"1,{os.cpu_count() or 2}", help="comma list of worker counts"
    )
    parser.add_argument("--duration", type=int, default=15, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--quota",
        choices=["auto", "redis"],
        default="auto",
        help="quota backend for one worker (several workers always use Redis)",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="serve from this PostgreSQL database (postgresql+asyncpg://…) instead of SQLite",
    )
    parser.add_argument(
        "--share", type=float, default=0.5, help="steady rate, as a share of wrk's maximum"
    )
    parser.add_argument("--steady-seconds", type=float, default=10.0)
    parser.add_argument("--steady-processes", type=int, default=2, help="driver processes")
    parser.add_argument("--quick", action="store_true", help="3 s, one worker")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    if args.quick:
        args.workers, args.duration, args.steady_seconds = "1", 3, 3.0
    results: list[WrkResult] = []
    bodies: dict[str, bytes] = {}
    for workers in sorted({int(w) for w in args.workers.split(",")}):
        results.extend(bench_workers(workers, args, bodies))
    reference = bench_reference(bodies, args)
    if args.write_doc:
        command = "python bench/api_load.py " + " ".join(sys.argv[1:])
        write_section(BENCHMARKS, "api-load", doc(results, reference, args, command.strip()))


if __name__ == "__main__":
    main()
