#!/usr/bin/env python3
"""User API fuzzing: schemathesis, every check, against a real server with real data.

Starts `ephemail serve` on free loopback ports with a fresh data directory, raises the
default plan's limits, fills mailboxes with mail over SMTP (attachments with ASCII and
Greek names), then runs `schemathesis run` against `/api/openapi.json` with the admin key:
all phases (examples, coverage, fuzzing, stateful) and `--checks all`. Half the generated
message ids, addresses, attachment names and email tokens are drawn from the seeded data, so
reads reach real objects; DELETE and rename draw from spare mailboxes of their own.

Reported: operations tested, test cases, responses by status, 5xx responses (from the
recorded interactions and from the server's own error log), and every failure schemathesis
found, grouped as response-schema violations (ST1xx), request handling (ST2xx), stateful
(ST3xx) and auth (ST4xx).

    # the long run (make api-fuzz), updates the doc:
    python bench/reliability/api_fuzz.py --max-time 300 --max-examples 2000 --workers 2 --write-doc
    python bench/reliability/api_fuzz.py --max-examples 500  # a fixed number of cases instead
    python bench/reliability/api_fuzz.py --quick  # 20 cases per operation, a smoke run

Exit status 1 when any response was a 5xx or the server stopped answering; with `--strict`
also for any response-schema violation.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, which holds lib/
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))  # the root, for tests.support

from lib.docs import RELIABILITY, today, write_section
from lib.machine import machine
from lib.options import add_options, add_switches, script_parser
from lib.server import BIN, HOST, Server, running_server
from tests.support.samples import DRAWN_PARAMETERS, Seeds, draw, seed_message

SECTION = "api-fuzz"
FULL_RUN = (
    "bench/reliability/api_fuzz.py --max-time 300 --max-examples 2000 --workers 2 --write-doc"
)
SCHEMATHESIS = BIN / "schemathesis"
GROUPS = {
    "1": "response violates the schema",
    "2": "request handling",
    "3": "stateful",
    "4": "auth",
    "9": "custom",
}
SERVER_ERROR_CODES = ("ST101", "ST102")  # 5xx, and a 5xx with a malformed body
# The checks that compare a response with what the schema declares for it.
SCHEMA_CHECKS = (
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
RAISE_LIMITS = (
    *("plan", "set", "default", "--monthly-quota", "100000000"),
    *("--mailbox-lifetime", "86400", "--max-mailboxes", "100000"),
    *("--domain-types", "free,premium,custom"),
)


@dataclass
class Finding:
    code: str
    title: str
    count: int
    operations: list[str]


@dataclass
class Result:
    seed: str
    schemathesis_version: str
    command: str
    running_time_s: float
    stop_reason: str
    operations_total: int
    operations_tested: int
    cases: int
    by_status: dict[str, int]
    by_operation: dict[str, dict[str, int]]
    responses_5xx: int
    server_errors_logged: int
    schema_violations: int  # responses failing a SCHEMA_CHECKS check
    schema_violation_kinds: int  # distinct ST1xx failures other than 5xx
    failing_checks: dict[str, int]  # responses failing each check, every check
    findings: list[Finding]
    documented: list[str]  # "METHOD /path" of every operation the schema declares
    warnings: dict[str, list[str]]
    server_alive: bool
    server_rss_mib: float

    @property
    def ok(self) -> bool:
        return self.server_alive and self.responses_5xx == 0 and self.server_errors_logged == 0


# --- the server and its data --------------------------------------------------------------


def seed(server: Server, keep: int, spare: int, per_box: int) -> Seeds:
    """`keep` mailboxes the reads use, `spare` ones that DELETE and rename may eat."""
    seeds = Seeds()
    with server.api() as http, smtplib.SMTP(HOST, server.smtp_port, timeout=30) as smtp:
        for index in range(keep + spare):
            box = http.post("/api/emails").raise_for_status().json()["data"]
            for number in range(per_box):
                smtp.send_message(seed_message(box["email"], number), to_addrs=[box["email"]])
            listing = http.get("/api/messages", params={"email": box["email"]}).json()
            if len(listing["messages"]) != per_box:
                raise SystemExit(f"seeding failed: {len(listing['messages'])} of {per_box} stored")
            seeds.record(box, listing["messages"], spare=index >= keep)
    return seeds


def toml_value(value: Any) -> str:
    """TOML for the few shapes the config uses: strings, numbers, lists, inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(type(value))


def config_toml(server: Server, seeds: Seeds, args: argparse.Namespace) -> str:
    """schemathesis.toml: the key, the seeded values, which operations draw which."""

    # Valid usernames, so renames and chosen-name creations get past validation.
    usernames = [f"fuzz.{i}-{secrets.token_hex(3)}" for i in range(200)]
    dictionaries = seeds.dictionaries(usernames)
    parameters = DRAWN_PARAMETERS
    lines = [
        f"request-timeout = {args.request_timeout}",
        "",
        "[cache]",  # no .schemathesis/ crash files left in the working directory
        "enabled = false",
        "",
        "[headers]",
        f'Authorization = "Bearer {server.admin_key}"',
        "",
        "[generation]",
        'database = "none"',
        "",
        "[phases.stateful]",
        f"max-steps = {args.max_steps}",
        "",
        "[parameters]",
        *(f"{json.dumps(k)} = {toml_value(v)}" for k, v in parameters.items()),
        "",
    ]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {toml_value(values)}", ""]
    spare_operations = [
        ("DELETE /api/messages/{message_id}", {"path.message_id": draw("spare_ids")}),
        ("DELETE /api/emails/{email}", {"path.email": draw("spare_emails")}),
        (
            "POST /api/emails/{current_email}/{new_username}/{domain}",
            {"path.current_email": draw("spare_emails")},
        ),
    ]
    for operation, bindings in spare_operations:
        lines += ["[[operations]]", f"include-name = {json.dumps(operation)}"]
        lines += [f"parameters = {toml_value(bindings)}", ""]
    return "\n".join(lines)


# --- running schemathesis and reading what it recorded -----------------------------------


def run_schemathesis(
    server: Server, config: Path, reports: Path, args: argparse.Namespace
) -> list[str]:
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{server.base_url}/api/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(args.max_examples),
        "--workers",
        str(args.workers),
        "--seed",
        str(args.seed),
        "--report",
        "json,ndjson",
        "--report-dir",
        str(reports),
        "--no-color",
        "--warnings",
        "off",
    ]
    if args.max_time:
        command += ["--max-time", str(args.max_time)]
    print(
        "running:", " ".join([*command[:1], "--config-file", "<seeded>", *command[3:]]), flush=True
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=None, check=False)
    (reports / "schemathesis.out").write_text(done.stdout + done.stderr)
    if args.verbose:
        print(done.stdout, done.stderr, sep="\n")
    if done.returncode not in (0, 1):  # 1 = failures found; anything else = it did not run
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"schemathesis exited with {done.returncode}")
    return command


def read_ndjson(path: Path) -> tuple[int, Counter[str], dict[str, Counter[str]], Counter[str]]:
    """(cases, responses by status, by operation, failing checks) from the event stream."""
    cases = 0
    by_status: Counter[str] = Counter()
    by_operation: dict[str, Counter[str]] = defaultdict(Counter)
    failing: Counter[str] = Counter()
    with path.open() as stream:
        for line in stream:
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if not finished or "cases" not in finished["recorder"]:
                continue
            recorder = finished["recorder"]
            for case_id, node in recorder["cases"].items():
                cases += 1
                case = node["value"]
                interaction = recorder["interactions"].get(case_id) or {}
                response = interaction.get("response")
                status = str(response["status_code"]) if response else "no response"
                by_status[status] += 1
                by_operation[f"{case['method']} {case['path']}"][status] += 1
            for checks in recorder["checks"].values():
                for check in checks:
                    if check["status"] == "failure":
                        failing[check["name"]] += 1
    return cases, by_status, by_operation, failing


def server_errors_logged(server: Server) -> int:
    log = server.data_dir / "server.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(1 for line in text.splitlines() if "unhandled error" in line)


def still_answers(server: Server) -> bool:
    try:
        with server.api() as http:
            domains = http.get("/api/domains").status_code
            box = http.post("/api/emails").json()["data"]["email"]
            with smtplib.SMTP(HOST, server.smtp_port, timeout=30) as smtp:
                smtp.send_message(seed_message(box, 99), to_addrs=[box])
            listing = http.get("/api/messages", params={"email": box})
            return domains == 200 and len(listing.json()["messages"]) == 1
    except (httpx.HTTPError, OSError, KeyError, ValueError):
        return False


def fuzz(args: argparse.Namespace) -> Result:
    reports = Path(args.report_dir or tempfile.mkdtemp(prefix="ephemail-api-fuzz-"))
    reports.mkdir(parents=True, exist_ok=True)
    config = reports / "schemathesis.toml"
    try:
        with running_server() as server:
            server.cli(*RAISE_LIMITS)
            started = time.monotonic()
            seeds = seed(server, args.keep_boxes, args.spare_boxes, args.messages_per_box)
            print(
                f"seeded {len(seeds.emails) + len(seeds.spare_emails)} mailboxes, "
                f"{len(seeds.ids) + len(seeds.spare_ids)} messages, "
                f"{len(seeds.names)} attachment names in {time.monotonic() - started:.1f} s",
                flush=True,
            )
            spec = httpx.get(f"{server.base_url}/api/openapi.json", timeout=30).json()
            documented = sorted(
                f"{method.upper()} {path}"
                for path, methods in spec["paths"].items()
                for method in methods
            )
            config.write_text(config_toml(server, seeds, args))
            try:
                command = run_schemathesis(server, config, reports, args)
            finally:
                config.unlink(missing_ok=True)  # it holds the key
            alive = still_answers(server)
            rss = server.rss_mib()
            logged = server_errors_logged(server)
        return summarise(reports, command, documented, alive, rss, logged)
    finally:
        if not args.report_dir:
            shutil.rmtree(reports, ignore_errors=True)


def summarise(
    reports: Path,
    command: list[str],
    documented: list[str],
    alive: bool,
    rss: float,
    logged: int,
) -> Result:
    json_reports = sorted(reports.glob("json-*.json"))
    ndjson_reports = sorted(reports.glob("ndjson-*.ndjson"))
    if not json_reports or not ndjson_reports:
        raise SystemExit("schemathesis wrote no report")
    json_report, ndjson_report = json_reports[-1], ndjson_reports[-1]
    report = json.loads(json_report.read_text())
    cases, by_status, by_operation, failing = read_ndjson(ndjson_report)
    findings = [
        Finding(f["code"], f["title"], f["count"], sorted(f["operations"]))
        for f in report["failures"]
    ]
    kinds = sum(
        1 for f in findings if f.code.startswith("ST1") and f.code not in SERVER_ERROR_CODES
    )
    shown = " ".join(command[3:])  # the key is in the config file, not on the command line
    return Result(
        seed=str(report["seed"]),
        schemathesis_version=report["schemathesis_version"],
        command=f"schemathesis --config-file <seeded> {shown}",
        running_time_s=round(report["running_time"], 1),
        stop_reason=report["stop_reason"],
        operations_total=report["operations"]["total"],
        operations_tested=report["operations"]["tested"],
        cases=cases,
        by_status=dict(sorted(by_status.items())),
        by_operation={op: dict(sorted(c.items())) for op, c in sorted(by_operation.items())},
        responses_5xx=sum(
            n for s, n in by_status.items() if s.startswith("5") or s == "no response"
        ),
        server_errors_logged=logged,
        schema_violations=sum(failing[name] for name in SCHEMA_CHECKS),
        schema_violation_kinds=kinds,
        failing_checks=dict(sorted(failing.items())),
        findings=findings,
        documented=documented,
        warnings={k: v for k, v in report["warnings"].items() if v},
        server_alive=alive,
        server_rss_mib=round(rss, 1),
    )


# --- output ---------------------------------------------------------------------------------


def print_result(result: Result) -> None:
    print(
        f"\nschemathesis {result.schemathesis_version}, seed {result.seed}, "
        f"{result.running_time_s} s ({result.stop_reason})"
    )
    print(f"operations tested: {result.operations_tested}/{result.operations_total}")
    print(f"test cases: {result.cases}")
    print("responses by status:", ", ".join(f"{s}: {n}" for s, n in result.by_status.items()))
    print(f"5xx responses: {result.responses_5xx} (server log: {result.server_errors_logged})")
    print(
        f"schema violations: {result.schema_violations} responses, "
        f"{result.schema_violation_kinds} distinct"
    )
    print("failing checks:", ", ".join(f"{k}: {v}" for k, v in result.failing_checks.items()))
    for finding in result.findings:
        group = GROUPS.get(finding.code[2:3], "other")
        operations = ", ".join(finding.operations)
        print(f"  {finding.code} {finding.title} [{group}] x{finding.count}: {operations}")
    print(f"server still answering: {result.server_alive}; RSS {result.server_rss_mib} MiB")
    check = "ok" if result.ok else "failed"
    print(
        f"RESULT target=ephemail operations={result.operations_tested} cases={result.cases} "
        f"5xx={result.responses_5xx} violations={result.schema_violations} "
        f"findings={len(result.findings)} check={check}"
    )


def doc(result: Result, invocation: str) -> str:
    rows = []
    for op in result.documented:
        counts = result.by_operation.get(op, {})
        total = sum(counts.values())
        two = sum(n for s, n in counts.items() if s.startswith("2"))
        four = sum(n for s, n in counts.items() if s.startswith("4"))
        five = sum(n for s, n in counts.items() if s.startswith("5") or s == "no response")
        rows.append(f"| `{op}` | {total} | {two} | {four} | {five} |")
    others: Counter[str] = Counter()
    for op, counts in result.by_operation.items():
        if op not in result.documented:
            others.update(counts)
    other = ", ".join(f"{s}: {n}" for s, n in sorted(others.items())) or "none"
    findings = (
        "\n".join(
            f"| {f.code} | {f.title} | {GROUPS.get(f.code[2:3], 'other')} | {f.count} | "
            f"{', '.join(f'`{op}`' for op in f.operations)} |"
            for f in result.findings
        )
        or "| — | none | | | |"
    )
    statuses = ", ".join(f"{s}: {n}" for s, n in result.by_status.items())
    violations = f"{result.schema_violations} ({result.schema_violation_kinds} distinct)"
    checks = ", ".join(f"`{k}` {v}" for k, v in result.failing_checks.items()) or "none"
    after = "answering, mail still delivered" if result.server_alive else "NOT answering"
    return f"""## User API fuzzing: `bench/reliability/api_fuzz.py`

The harness starts `ephemail serve` (1 worker, SQLite) on free loopback ports with a fresh
data directory, raises the default plan's quota and limits, and fills mailboxes over SMTP
(messages with HTML and plain bodies, attachments with ASCII, spaced and Greek names). It then
runs `schemathesis run` on `/api/openapi.json` with the admin key: all phases (examples,
coverage, fuzzing, stateful with inferred links) and `--checks all`. Half of the generated
message ids, addresses, attachment names and email tokens are drawn from the seeded data, so
reads hit real objects; DELETE and rename draw from spare mailboxes of their own. 5xx are
counted from the recorded responses and, independently, from the server's error log.
The short version of the same run is in the suite: `tests/integration/api/test_api_fuzz.py`.

```
.venv/bin/python {FULL_RUN}
.venv/bin/python bench/reliability/api_fuzz.py --quick
```

Last full run: {today()}, {machine()}; `{invocation}`;
schemathesis {result.schemathesis_version}, seed `{result.seed}`, {result.running_time_s} s
({result.stop_reason}).

| | |
|---|---|
| operations tested | {result.operations_tested} of {result.operations_total} |
| test cases (requests) | {result.cases} |
| responses by status | {statuses} |
| 5xx responses | {result.responses_5xx} (server error log: {result.server_errors_logged}) |
| responses violating their declared schema | {violations} |
| responses failing any check, by check | {checks} |
| distinct failures, all checks | {len(result.findings)} |
| server afterwards | {after}; RSS {result.server_rss_mib} MiB |

Requests per documented operation. Requests with undocumented methods on the same paths
(the `unsupported_method` check), by status: {other}.

| operation | requests | 2xx | 4xx | 5xx |
|---|---|---|---|---|
{chr(10).join(rows)}

Failures schemathesis reported (each is a distinct failure, with its reproduction in the run's
report; codes: `st explain <code>`):

| code | failure | kind | count | operations |
|---|---|---|---|---|
{findings}
"""


def shown_arguments(argv: list[str]) -> list[str]:
    """The command line for the doc, without the local paths of --report-dir and --json."""
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--report-dir", "--json"):
            skip = True
        elif not arg.startswith(("--report-dir=", "--json=")):
            shown.append(arg)
    return shown


def main() -> None:
    parser = script_parser(__doc__)
    add_options(
        parser,
        [
            ("--max-examples", int, 300, "cases per operation and phase"),
            (
                "--max-time",
                int,
                0,
                "time budget in seconds (0: none); fuzzing and stateful repeat until it is spent",
            ),
            ("--workers", int, 2, "concurrent schemathesis workers"),
            ("--max-steps", int, 20, "steps per stateful scenario"),
            ("--seed", int, None, "schemathesis seed (default: random)"),
            ("--request-timeout", float, 30.0, "seconds per request"),
            ("--keep-boxes", int, 8, "seeded mailboxes the reads use"),
            ("--spare-boxes", int, 30, "seeded mailboxes for DELETE and rename"),
            ("--messages-per-box", int, 3, None),
            ("--report-dir", Path, None, "keep schemathesis' reports here"),
            ("--json", Path, None, "write the figures as JSON"),
        ],
    )
    add_switches(
        parser,
        [
            ("--quick", "20 cases per operation, a smoke run"),
            ("--strict", "exit 1 on schema violations too"),
            ("--verbose", "print schemathesis' own output"),
            ("--write-doc", "update docs/reliability.md"),
        ],
    )
    args = parser.parse_args()
    if args.quick:
        args.max_examples, args.max_time, args.spare_boxes, args.workers = 20, 0, 8, 1
    if args.seed is None:
        args.seed = secrets.randbits(64)
    if not SCHEMATHESIS.exists():
        raise SystemExit(
            f"{SCHEMATHESIS} not found: install the test extras (pip install -e '.[test]')"
        )
    result = fuzz(args)
    print_result(result)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))
    if args.write_doc:
        invocation = "python bench/reliability/api_fuzz.py " + " ".join(
            shown_arguments(sys.argv[1:])
        )
        write_section(RELIABILITY, SECTION, doc(result, invocation.strip()))
    failed = not result.ok or (args.strict and result.schema_violations > 0)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
