#!/usr/bin/env python3
"""Soak: SMTP and API traffic together, for a long time, at a fixed share of the maximum.

Simulated users each run the life of a temp inbox over and over: create a mailbox through the
API, receive 20 messages over SMTP while polling the list, read one, delete the mailbox; pollers
list the inboxes being filled. By default the load is `--share` 0.5 of what one worker can
carry, by the maxima in docs/benchmarks.md, split between SMTP and API by `--smtp-part` (0.5):
SMTP at 25 % of its maximum and API at 25 % of its maximum. Each maximum is what the whole
server does when it does nothing else, so SMTP at 50 % of its maximum and API at 50 % of its
maximum together would be a server at full load, not at half. Users send at the SMTP rate;
their own API calls go at once and count against the API rate, and the pollers take what is
left of it.

The load comes from `--procs` driver processes (bench/reliability/soak_driver.py: uvloop, a
lean keep-alive HTTP client, the SMTP client of bench/lib/smtp_client.py), each with its
share of users, pollers and rates; this process samples the server's RSS and CPU and adds up
the drivers' reports every interval. It fails on any error (non-2xx where a 2xx is due, 5xx,
a refused message, a dropped connection), on memory growth beyond `--rss-growth-mib`, when
the p99 latency of the last third is more than twice that of the first third (plus 5 ms of
slack for a shared machine), or when the rates achieved fall below `--min-achieved` of those
asked, so that a driver (or server) that cannot keep up shows.

    python bench/reliability/soak.py                        # 30 minutes
    python bench/reliability/soak.py --duration 15 --quick  # the suite's short version
    python bench/reliability/soak.py --write-doc            # ... and record it in the doc
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import queue
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, which holds lib/

from soak_driver import (
    FINAL_TICK,
    MESSAGES_PER_INBOX,
    WIND_DOWN_S,
    Report,
    Share,
    Target,
    driver_main,
    percentile_ms,
    tick_times,
)

from lib.docs import BENCHMARKS, RELIABILITY, today, write_section
from lib.machine import machine
from lib.procs import proc_cpu_seconds
from lib.server import HOST, Server, raise_limits, running_server

WORKERS = 1  # server processes; the maxima read from docs/benchmarks.md are for this many
SMTP_MAX_ROW = ("own", "1 KiB", str(WORKERS), "reuse")  # client, size, workers, connections
API_MAX_ROW = ("GET /api/messages?email=", str(WORKERS))  # endpoint, workers → req/s
START_DELAY_S = 0.2


# ---- the maxima the rates are shares of ------------------------------------------------------


@dataclass(frozen=True)
class Maxima:
    """Best measured rates for one worker, or None when docs/benchmarks.md lacks them."""

    smtp: float | None  # msg/s, 1 KiB messages, reused connections (SMTP ingest)
    api: float | None  # req/s, the inbox listing the pollers use (User API)


def _section(text: str, name: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        return ""
    return text.split(start, 1)[1].split(end, 1)[0]


def _table_value(section: str, key: tuple[str, ...]) -> float | None:
    """The number right after the cells `key` in the first table row that starts with them."""
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if tuple(cells[: len(key)]) == key and len(cells) > len(key):
            try:
                return float(cells[len(key)].strip("*").replace(",", ""))
            except ValueError:
                return None
    return None


def read_maxima(path: Path = BENCHMARKS.path) -> Maxima:
    text = path.read_text() if path.exists() else ""
    return Maxima(
        _table_value(_section(text, "smtp-ingest"), SMTP_MAX_ROW),
        _table_value(_section(text, "api-load"), API_MAX_ROW),
    )


# ---- samples and the run ---------------------------------------------------------------------


@dataclass
class Sample:
    at: float
    rss_mib: float
    p50_ms: float
    p99_ms: float
    smtp_p50_ms: float  # one SMTP transaction, MAIL to the 250 after the data
    smtp_p99_ms: float
    api_calls: int  # since the start
    smtp_sent: int  # since the start
    driver_cpu_pct: float  # of one core, all driver processes, this interval
    server_cpu_pct: float  # of one core, server processes, this interval


@dataclass
class Run:
    procs: int
    samples: list[Sample] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    inboxes: int = 0
    api_calls: int = 0
    smtp_sent: int = 0
    problems: list[str] = field(default_factory=list)  # of the drivers themselves

    def rate(self, count: Callable[[Sample], int]) -> float:
        """Achieved per second, from the start to the last sample."""
        last = self.samples[-1] if self.samples else None
        return count(last) / last.at if last and last.at > 0 else 0.0

    @property
    def smtp_rate(self) -> float:
        return self.rate(lambda s: s.smtp_sent)

    @property
    def api_rate(self) -> float:
        return self.rate(lambda s: s.api_calls)

    def mean_cpu(self, cpu: Callable[[Sample], float]) -> float:
        return statistics.fmean(cpu(s) for s in self.samples) if self.samples else 0.0


class Collector:
    """Gathers the drivers' reports by tick; a fast driver may be a tick ahead of a slow one."""

    def __init__(self, reports: Queue[Report], procs: int) -> None:
        self.reports = reports
        self.procs = procs
        self.waiting: dict[int, list[Report]] = {}

    def take(self, tick: int, timeout: float) -> list[Report]:
        """Every driver's report for `tick`; raises TimeoutError if one does not come."""
        deadline = time.monotonic() + timeout
        while len(self.waiting.get(tick, [])) < self.procs:
            try:
                report = self.reports.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no report for interval {tick} from every driver") from None
            self.waiting.setdefault(report.tick, []).append(report)
        return self.waiting.pop(tick)


def split(total: int, parts: int, index: int) -> int:
    """`index`'s part of `total` shared as evenly as whole numbers allow."""
    return total // parts + (1 if index < total % parts else 0)


def make_shares(args: argparse.Namespace) -> list[Share]:
    """One share per driver; rates follow the users and pollers each driver runs."""
    procs = max(1, min(args.procs, args.users))
    shares = []
    for i in range(procs):
        users, pollers = split(args.users, procs, i), split(args.pollers, procs, i)
        clients = (users + pollers) / (args.users + args.pollers)
        shares.append(
            Share(
                i,
                users,
                pollers,
                args.smtp_rate * users / args.users,
                args.api_rate * clients,
                args.duration,
                args.interval,
            )
        )
    return shares


# ---- the drivers -----------------------------------------------------------------------------


def start_drivers(
    server: Server, shares: list[Share], reports: Queue[Report]
) -> tuple[list[SpawnProcess], float]:
    """Spawn the drivers, wait until each is ready, give them all the same start time.

    'spawn', not 'fork': a driver gets only the server's ports and key, never the harness's
    Server (whose process it must not stop) nor this process's state.
    """
    ctx = mp.get_context("spawn")
    target = Target(HOST, server.http_port, server.smtp_port, server.admin_key)
    procs: list[SpawnProcess] = []
    pipes: list[Connection] = []
    for share in shares:
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(
            target=driver_main,
            args=(target, share, theirs, reports),
            name=f"soak-driver-{share.index}",
            daemon=True,
        )
        proc.start()
        theirs.close()
        procs.append(proc)
        pipes.append(ours)
    for pipe in pipes:
        if not pipe.poll(60):
            raise RuntimeError("a driver process did not start")
        pipe.recv()
    start = time.monotonic() + START_DELAY_S
    for pipe in pipes:
        pipe.send(start)
        pipe.close()
    print("driver processes:", " ".join(str(p.pid) for p in procs), flush=True)
    return procs, start


def stop_drivers(procs: list[SpawnProcess], run: Run) -> None:
    """Wait for the drivers to exit; stop (only) those that do not, and note any failure."""
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)
        if proc.exitcode != 0:
            run.problems.append(f"driver {proc.name} exited with {proc.exitcode}")


def merge(run: Run, reports: list[Report]) -> tuple[Counter[int], Counter[int], float]:
    """Add one interval's reports to the run; that interval's latency histograms (API, SMTP)
    and driver CPU seconds."""
    latency: Counter[int] = Counter()
    smtp_latency: Counter[int] = Counter()
    cpu = 0.0
    for report in reports:
        run.smtp_sent += report.smtp_sent
        run.api_calls += report.api_calls
        run.inboxes += report.inboxes
        run.errors.update(report.errors)
        latency.update(report.latency)
        smtp_latency.update(report.smtp_latency)
        cpu += report.cpu_s
    return latency, smtp_latency, cpu


def print_sample(s: Sample, before: Sample | None, run: Run) -> None:
    span = s.at - (before.at if before else 0.0)
    smtp = (s.smtp_sent - (before.smtp_sent if before else 0)) / span if span > 0 else 0.0
    calls = (s.api_calls - (before.api_calls if before else 0)) / span if span > 0 else 0.0
    errors = sum(run.errors.values())
    print(
        f"{s.at:7.0f}s rss {s.rss_mib:6.1f} MiB  api p50 {s.p50_ms:6.2f} ms p99 "
        f"{s.p99_ms:6.2f} ms  smtp p50 {s.smtp_p50_ms:6.2f} ms p99 {s.smtp_p99_ms:6.2f} ms  "
        f"smtp {smtp:5.0f}/s  api {calls:5.0f}/s  cpu driver "
        f"{s.driver_cpu_pct:3.0f}% server {s.server_cpu_pct:3.0f}%  inboxes {run.inboxes}  "
        f"errors {errors}" + (f" {dict(run.errors)}" if run.errors else ""),
        flush=True,
    )


def sample_loop(
    server: Server, args: argparse.Namespace, run: Run, collector: Collector, start: float
) -> None:
    """Every interval: the server's RSS and CPU, then the drivers' reports for it."""
    server_cpu = proc_cpu_seconds(server.pids())
    last_at = start
    for tick, at in enumerate(tick_times(start, args.duration, args.interval), 1):
        time.sleep(max(0.0, at - time.monotonic()))
        now = time.monotonic()
        rss, cpu_now = server.rss_mib(), proc_cpu_seconds(server.pids())
        try:
            reports = collector.take(tick, timeout=args.interval + 30)
        except TimeoutError as exc:
            run.problems.append(str(exc))
            return
        latency, smtp_latency, driver_cpu = merge(run, reports)
        span = max(now - last_at, 1e-9)
        run.samples.append(
            Sample(
                now - start,
                rss,
                percentile_ms(latency, 0.5),
                percentile_ms(latency, 0.99),
                percentile_ms(smtp_latency, 0.5),
                percentile_ms(smtp_latency, 0.99),
                run.api_calls,
                run.smtp_sent,
                100 * driver_cpu / span,
                100 * (cpu_now - server_cpu) / span,
            )
        )
        print_sample(run.samples[-1], run.samples[-2] if len(run.samples) > 1 else None, run)
        server_cpu, last_at = cpu_now, now


def soak(server: Server, args: argparse.Namespace) -> Run:
    shares = make_shares(args)
    run = Run(procs=len(shares))
    reports: Queue[Report] = mp.get_context("spawn").Queue()
    procs, start = start_drivers(server, shares, reports)
    collector = Collector(reports, len(shares))
    try:
        sample_loop(server, args, run, collector, start)
        if not run.problems:
            # After the deadline: what the users finishing their inbox did, errors included.
            merge(run, collector.take(FINAL_TICK, timeout=WIND_DOWN_S + 30))
    except TimeoutError as exc:
        run.problems.append(str(exc))
    finally:
        stop_drivers(procs, run)
    if run.errors:
        print("errors:", dict(run.errors))
    return run


# ---- verdict and report ----------------------------------------------------------------------


def rate_problems(run: Run, args: argparse.Namespace) -> list[str]:
    """A driver (or server) that cannot hold the asked rates fails the soak: it tested less."""
    problems = []
    for what, unit, asked, achieved in (
        ("SMTP", "msg/s", args.smtp_rate, run.smtp_rate),
        ("API", "req/s", args.api_rate, run.api_rate),
    ):
        if achieved < args.min_achieved * asked:
            problems.append(
                f"{what} achieved {achieved:,.0f} {unit}, below {args.min_achieved:.0%} of "
                f"the {asked:,.0f} asked"
            )
    return problems


def verdict(run: Run, args: argparse.Namespace) -> list[str]:
    problems = [f"{n} × {what}" for what, n in run.errors.items()] + run.problems
    samples = run.samples
    if len(samples) >= 3:
        third = max(1, len(samples) // 3)
        first, last = samples[:third], samples[-third:]
        base_rss = statistics.median(s.rss_mib for s in first)
        end_rss = max(s.rss_mib for s in last)
        if end_rss - base_rss > args.rss_growth_mib:
            problems.append(f"RSS grew {end_rss - base_rss:.0f} MiB (bound {args.rss_growth_mib})")
        early = statistics.median(s.p99_ms for s in first)
        late = statistics.median(s.p99_ms for s in last)
        if late > 2 * early + 5:
            problems.append(f"p99 latency grew from {early:.1f} ms to {late:.1f} ms")
    return problems + rate_problems(run, args)


def of_max(rate: float, maximum: float | None) -> str:
    return f"{rate / maximum:.0%} of {maximum:,.0f}" if maximum else "-"


def rates_table(run: Run, args: argparse.Namespace) -> str:
    rows = []
    for what, asked, achieved, maximum in (
        ("SMTP msg/s", args.smtp_rate, run.smtp_rate, args.maxima.smtp),
        ("API req/s", args.api_rate, run.api_rate, args.maxima.api),
    ):
        share = f"{achieved / asked:.0%}" if asked else "-"
        rows.append(
            f"| {what} | {asked:,.0f} ({of_max(asked, maximum)}) | {achieved:,.0f} | {share} | "
            f"{of_max(achieved, maximum)} |"
        )
    return (
        "| | asked (share of max) | achieved | achieved / asked | achieved / max |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows)
    )


def summary(run: Run, args: argparse.Namespace) -> dict[str, object]:
    return {
        "smtp_msg_s": {
            "asked": args.smtp_rate,
            "achieved": round(run.smtp_rate, 1),
            "max": args.maxima.smtp,
        },
        "api_req_s": {
            "asked": args.api_rate,
            "achieved": round(run.api_rate, 1),
            "max": args.maxima.api,
        },
        "driver_procs": run.procs,
        "driver_cpu_pct": round(run.mean_cpu(lambda s: s.driver_cpu_pct), 1),
        "server_cpu_pct": round(run.mean_cpu(lambda s: s.server_cpu_pct), 1),
    }


def doc(run: Run, args: argparse.Namespace, problems: list[str], command: str) -> str:
    samples = run.samples
    elapsed = samples[-1].at if samples else 0.0
    rows = "\n".join(
        f"| {s.at:.0f} | {s.rss_mib:.1f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | {s.smtp_p99_ms:.1f} | "
        f"{s.api_calls:,} | {s.smtp_sent:,} | {s.driver_cpu_pct:.0f} | {s.server_cpu_pct:.0f} |"
        for s in samples[:: max(1, len(samples) // 12)]
    )
    driver_cpu = run.mean_cpu(lambda s: s.driver_cpu_pct)
    server_cpu = run.mean_cpu(lambda s: s.server_cpu_pct)
    return f"""## Soak: SMTP and API together

{today()}, {machine()}. Command: `{command}`

{args.users} simulated users each create a mailbox, receive {MESSAGES_PER_INBOX} messages over
SMTP (one connection each, reused) while polling the list, read one message and delete the
mailbox, again and again, while {args.pollers} pollers list the inboxes being filled (as a
test suite waiting for its mail does). Users send at the SMTP rate; their own API calls go
at once and count against the API rate, the pollers take the rest of it. The server runs
{WORKERS} worker; the load comes from {run.procs} driver processes on the same machine
(uvloop, a keep-alive HTTP/1.1 client of our own, the SMTP client of
`bench/smtp_ingest.py`). Rates are asked as shares of the best
measured for one worker in docs/benchmarks.md (SMTP: 1 KiB, reused connections; API: the
inbox listing). Each maximum is the whole server doing one thing only, so the two shares add
up to the share of the server's capacity in use (50 % is SMTP at 25 % of its maximum plus API
at 25 % of its maximum). Over {elapsed:.0f} s, {run.inboxes:,} inbox lives:

{rates_table(run, args)}

CPU, in % of one core, mean over the samples: drivers {driver_cpu:.0f} %, server
{server_cpu:.0f} %.
Bounds: no error of any kind; RSS growth ≤ {args.rss_growth_mib} MiB from the first third
to the last; p99 of the last third ≤ 2 × the first third + 5 ms; achieved rates ≥
{args.min_achieved:.0%} of those asked.

Result: **{"pass" if not problems else "FAIL: " + "; ".join(problems)}**

| s | RSS MiB | API p50 ms | API p99 ms | SMTP p99 ms | API calls | SMTP messages | driver CPU % \
| server CPU % |
|---|---|---|---|---|---|---|---|---|
{rows}
"""


# ---- command line ----------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    parser.add_argument(
        "--share", type=float, default=0.5, help="of the server's capacity, when no rate"
    )
    parser.add_argument(
        "--smtp-part", type=float, default=0.5, help="of that share spent on SMTP; the rest API"
    )
    parser.add_argument("--smtp-rate", type=float, help="messages per second")
    parser.add_argument("--api-rate", type=float, help="requests per second")
    parser.add_argument("--users", type=int, default=64, help="SMTP sessions, one per user")
    parser.add_argument("--pollers", type=int, default=64, help="API clients polling inboxes")
    parser.add_argument("--procs", type=int, default=2, help="driver processes")
    parser.add_argument("--min-achieved", type=float, default=0.9, help="of the asked rates")
    parser.add_argument("--rss-growth-mib", type=float, default=100.0)
    parser.add_argument("--quick", action="store_true", help="short run: 2 s samples")
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()
    if args.users < 1 or args.pollers < 0 or args.procs < 1:
        parser.error("need --users ≥ 1, --pollers ≥ 0, --procs ≥ 1")
    if args.quick:
        args.interval = min(args.interval, 2.0)
    args.maxima = read_maxima()
    if not 0 <= args.smtp_part <= 1:
        parser.error("--smtp-part is between 0 and 1")
    parts = {"smtp": args.smtp_part, "api": 1 - args.smtp_part}
    for name, maximum in (("smtp", args.maxima.smtp), ("api", args.maxima.api)):
        if getattr(args, f"{name}_rate") is None:
            if maximum is None:
                parser.error(f"docs/benchmarks.md has no {name.upper()} maximum: give a rate")
            setattr(args, f"{name}_rate", round(args.share * parts[name] * maximum))
        if getattr(args, f"{name}_rate") <= 0:
            parser.error("rates must be positive")
    return args


def main() -> None:
    args = parse_args()
    print(
        f"asked: {args.smtp_rate:,.0f} msg/s SMTP ({of_max(args.smtp_rate, args.maxima.smtp)}), "
        f"{args.api_rate:,.0f} req/s API ({of_max(args.api_rate, args.maxima.api)})",
        flush=True,
    )
    env = {"EPHEMAIL_MAILBOX_MESSAGE_CAP": "1000"}
    with running_server(WORKERS, env) as server:
        raise_limits(server)
        run = soak(server, args)
    problems = verdict(run, args)
    print(rates_table(run, args))
    print(json.dumps({"pass": not problems, "problems": problems, **summary(run, args)}))
    if args.write_doc:
        command = "python bench/reliability/soak.py " + " ".join(sys.argv[1:])
        write_section(RELIABILITY, "soak", doc(run, args, problems, command.strip()))
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
