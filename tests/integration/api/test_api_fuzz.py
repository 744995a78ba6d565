"""Schemathesis against the running service: every operation of /api/openapi.json, a short run.

The service runs on its own event loop in a background thread (schemathesis is synchronous),
seeded first with mailboxes that hold real messages and attachments. Schemathesis draws
message ids, addresses, attachment names and email tokens from those seeds half of the time,
so the GETs reach real data instead of 404s; the DELETE and rename operations draw from
a separate set of spare mailboxes so they never eat the data the other operations read.

Asserted for every generated request: no 5xx, a documented status code, a documented
content type, a body valid against the declared schema, declared headers present; negative
data (schema-invalid input) is refused with a 4xx; a request without the key is refused.
The stateful phase follows the links schemathesis infers (create → read → rename → delete).
The longer run of the same thing is `bench/reliability/api_fuzz.py`.
"""

from __future__ import annotations

import smtplib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events

from tests.support.samples import DRAWN_PARAMETERS, Seeds, draw, seed_message, seed_subject
from tests.support.threaded import ServiceThread

MAX_EXAMPLES = 25
SEED = 20260628  # a fixed seed: the suite is reproducible; bench/reliability/api_fuzz.py varies it
OPERATIONS = [
    "GET /api/domains",
    "POST /api/emails",
    "POST /api/emails/{current_email}/{new_username}/{domain}",
    "DELETE /api/emails/{email}",
    "GET /api/messages",
    "GET /api/messages/{message_id}",
    "DELETE /api/messages/{message_id}",
    "GET /api/messages/{message_id}/attachments/{name}",
    "GET /api/token/{email_token}/messages",
    "GET /api/token/{email_token}/messages/{message_id}",
    "GET /api/token/{email_token}/messages/{message_id}/attachments/{name}",
    "POST /api/emails/{email}/extend",
    "GET /api/messages/{message_id}/extract",
    "GET /api/messages/{message_id}/raw",
    "GET /api/token/{email_token}/messages/{message_id}/extract",
    "GET /api/token/{email_token}/messages/{message_id}/raw",
    "POST /api/webhooks",
    "GET /api/webhooks",
    "DELETE /api/webhooks/{webhook_id}",
    "POST /api/webhooks/{webhook_id}/test",
    "GET /api/webhooks/{webhook_id}/deliveries",
]
ATTACHMENT_OPERATIONS = [op for op in OPERATIONS if op.endswith("/attachments/{name}")]
# Long polls and event streams hold a request open by design; tests/integration/
# test_live_events.py covers them over real HTTP instead.
LIVE_OPERATIONS = [
    "GET /api/messages/wait",
    "GET /api/events",
    "GET /api/token/{email_token}/events",
]

# What every request must satisfy. One check is left out: positive_data_acceptance (the
# OpenAPI document declares `type`, `email`, usernames and domains as free strings, so a
# schema-valid "x" answered 422 counts as a failure).
CHECKS = {
    "not_a_server_error": True,
    "status_code_conformance": True,
    "content_type_conformance": True,
    "response_schema_conformance": True,
    "response_headers_conformance": True,
    "negative_data_rejection": True,
    "missing_required_header": True,
    "unsupported_method": True,
    "ignored_auth": True,
    "use_after_free": True,
    "ensure_resource_availability": True,
    "positive_data_acceptance": False,
    "allow_header_conformance": True,
    "object_level_authorization": False,  # needs a second identity; test_access_matrix does it
}


def seed(live: ServiceThread) -> Seeds:
    """Room to work (a big quota, long-lived mailboxes), then mailboxes full of mail."""

    live.call(live.running.roomy_default_plan())
    seeds = Seeds(key=live.running.admin_key)
    headers = {"Authorization": f"Bearer {seeds.key}", "Accept": "application/json"}
    with httpx.Client(base_url=live.base_url, headers=headers, timeout=30) as http:
        boxes = [http.post("/api/emails").json()["data"] for _ in range(6)]
        with smtplib.SMTP("127.0.0.1", live.smtp_port, timeout=30) as smtp:
            for box in boxes:
                for number in range(2):
                    smtp.sendmail(
                        "fuzz@example.org",
                        [box["email"]],
                        seed_message(box["email"], number).as_bytes(),
                    )
        for index, box in enumerate(boxes):
            listing = http.get("/api/messages", params={"email": box["email"]}).json()
            assert len(listing["messages"]) == 2, listing
            seeds.record(box, listing["messages"], spare=index >= 4)  # 4 read, 2 eaten
        for index in range(4):
            hook = {"url": "http://127.0.0.1:9/hook", "events": ["mailbox.expired"]}
            created = http.post("/api/webhooks", json=hook).json()["data"]
            (seeds.spare_hooks if index >= 2 else seeds.hooks).append(str(created["id"]))
    return seeds


def fuzz_config(seeds: Seeds, **phases: Any) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},  # no .schemathesis/ crash files in the work tree
            "headers": {"Authorization": f"Bearer {seeds.key}"},
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "checks": {name: {"enabled": on} for name, on in CHECKS.items()},
            "phases": phases,
            "dictionaries": {
                name: {"values": values}
                for name, values in seeds.dictionaries(
                    [f"fuzz.{i}-{SEED}" for i in range(100)]
                ).items()
            },
            "parameters": DRAWN_PARAMETERS,
            "operations": [
                {
                    "include-name": "DELETE /api/webhooks/{webhook_id}",
                    "parameters": {"path.webhook_id": draw("spare_hooks")},
                },
                {
                    "include-name": "DELETE /api/messages/{message_id}",
                    "parameters": {"path.message_id": draw("spare_ids")},
                },
                {
                    "include-name": [
                        "DELETE /api/emails/{email}",
                        "POST /api/emails/{current_email}/{new_username}/{domain}",
                    ],
                    "parameters": {
                        "path.email": draw("spare_emails"),
                        "path.current_email": draw("spare_emails"),
                    },
                },
            ],
        }
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceThread]:
    # Receivers on loopback allowed: the seeded webhooks point at a closed local port.
    with ServiceThread(tmp_path_factory.mktemp("api-fuzz"), webhook_allow_private=True) as service:
        yield service


@pytest.fixture(scope="module")
def seeds(live: ServiceThread) -> Seeds:
    return seed(live)


def load(live: ServiceThread, config: SchemathesisConfig) -> Any:
    schema = schemathesis.openapi.from_url(f"{live.base_url}/api/openapi.json", config=config)
    return schema.exclude(name=LIVE_OPERATIONS)


# --- running the engine -------------------------------------------------------------------


@dataclass
class Outcome:
    statuses: dict[str, Counter[int | None]] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    transitions: int = 0

    @property
    def cases(self) -> int:
        return sum(sum(c.values()) for c in self.statuses.values())


def run(schema: Any) -> Outcome:
    outcome = Outcome()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for case_id, node in recorder.cases.items():
                interaction = recorder.interactions.get(case_id)
                response = interaction.response if interaction else None
                label = f"{node.value.method} {node.value.operation.path}"
                outcome.statuses[label][response.status_code if response else None] += 1
            for checks in recorder.checks.values():
                for check in checks:
                    info = check.failure_info
                    if info is not None:
                        outcome.failures.append(
                            f"{check.name} on {info.failure.operation}: {info.failure.title}\n"
                            f"{info.failure.message}\n{info.code_sample}"
                        )
        elif isinstance(event, events.PhaseStarted) and isinstance(
            event.payload, events.StatefulPhasePayload
        ):
            outcome.transitions = event.payload.transitions_selected
        elif isinstance(event, events.NonFatalError | events.FatalError):
            outcome.errors.append(repr(event))
    return outcome


def test_the_schema_lists_every_operation(live: ServiceThread, seeds: Seeds) -> None:
    schema = load(live, fuzz_config(seeds))
    labels = {op.ok().label for op in schema.get_all_operations()}
    assert labels == set(OPERATIONS)


# GET /api/webhooks takes no input: too few cases to fuzz (the stateful run covers it).
@pytest.mark.parametrize("operation", [op for op in OPERATIONS if op != "GET /api/webhooks"])
def test_operation_conforms_under_fuzzing(
    live: ServiceThread, seeds: Seeds, operation: str
) -> None:
    config = fuzz_config(
        seeds,
        examples={"enabled": True},
        coverage={"enabled": True},
        fuzzing={"enabled": True},
        stateful={"enabled": False},
    )
    # `include` would be OR-ed with the per-operation entries of the config: exclude instead.
    others = [other for other in OPERATIONS if other != operation]
    outcome = run(load(live, config).exclude(name=others))
    assert not outcome.errors, outcome.errors
    assert not outcome.failures, "\n\n".join(outcome.failures[:10])
    mine = outcome.statuses[operation]
    assert sum(mine.values()) >= 10, mine  # it really ran
    assert not [s for s in mine if s is None or s >= 500], mine
    if operation.startswith("GET "):  # the seeds let the reads reach real data, not only 404/422
        assert mine[200] > 0, mine


def test_stateful_links_hold(live: ServiceThread, seeds: Seeds) -> None:
    config = fuzz_config(
        seeds,
        examples={"enabled": False},
        coverage={"enabled": False},
        fuzzing={"enabled": False},
        stateful={"enabled": True, "max-steps": 8},
    )
    outcome = run(load(live, config))
    assert not outcome.errors, outcome.errors
    assert not outcome.failures, "\n\n".join(outcome.failures[:10])
    assert outcome.transitions > 0  # links were inferred, so there was a workflow to follow
    assert outcome.cases >= 20, dict(outcome.statuses)
    all_statuses = sum(outcome.statuses.values(), Counter())
    assert not [s for s in all_statuses if s is None or s >= 500], all_statuses


def test_service_still_works_after_fuzzing(live: ServiceThread, seeds: Seeds) -> None:
    headers = {"Authorization": f"Bearer {seeds.key}"}
    with httpx.Client(base_url=live.base_url, headers=headers, timeout=30) as http:
        assert http.get("/api/domains").status_code == 200
        box = http.post("/api/emails").json()["data"]["email"]
        with smtplib.SMTP("127.0.0.1", live.smtp_port, timeout=30) as smtp:
            smtp.sendmail("fuzz@example.org", [box], seed_message(box, 9).as_bytes())
        listing = http.get("/api/messages", params={"email": box})
        assert listing.status_code == 200
        assert [m["subject"] for m in listing.json()["messages"]] == [seed_subject(9)]


# --- src issues schemathesis reports, kept visible ----------------------------------------


def test_attachment_media_types_are_documented(live: ServiceThread) -> None:
    spec = httpx.get(f"{live.base_url}/api/openapi.json", timeout=30).json()
    for operation in ATTACHMENT_OPERATIONS:
        path = operation.split(" ", 1)[1]
        content = spec["paths"][path]["get"]["responses"]["200"]["content"]
        assert "*/*" in content or "image/png" in content, content


def test_405_lists_every_allowed_method(live: ServiceThread, seeds: Seeds) -> None:
    headers = {"Authorization": f"Bearer {seeds.key}"}
    with httpx.Client(base_url=live.base_url, headers=headers, timeout=30) as http:
        response = http.put(f"/api/messages/{seeds.ids[0]}")
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers.get("allow", "").split(",")}
    assert {"GET", "DELETE"} <= allowed, response.headers.get("allow")
