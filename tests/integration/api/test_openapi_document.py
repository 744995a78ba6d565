"""`/api/openapi.json` describes exactly what the service sends: bodies, codes and headers.

The fuzz tests (test_api_fuzz.py) hold every generated response to this document; these
tests hold the document to the responses a client really gets.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support import Running
from tests.support.plans import put_plan

RATE = ("X-RateLimit-Limit", "X-RateLimit-Used", "X-RateLimit-Remaining", "X-RateLimit-Reset")


async def spec_of(running: Running) -> dict[str, Any]:
    async with running.client() as client:
        spec: dict[str, Any] = (await client.get("/api/openapi.json")).json()
    return spec


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        found: dict[str, Any] = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return found
    return schema


async def test_no_operation_advertises_a_body_we_never_send(running: Running) -> None:
    spec = await spec_of(running)
    assert "HTTPValidationError" not in json.dumps(spec)
    assert "ValidationError" not in spec["components"]["schemas"]
    for path, method, op in operations(spec):
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method, code)


async def test_status_is_required_in_every_body(running: Running) -> None:
    spec = await spec_of(running)
    error = spec["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"status", "message"}
    assert error["properties"]["errors"]["type"] == "object"  # never null: absent instead
    for name, schema in spec["components"]["schemas"].items():
        if "status" in schema.get("properties", {}):
            assert "status" in schema.get("required", []), name


async def test_rate_headers_are_documented_where_they_are_sent(running: Running) -> None:
    spec = await spec_of(running)
    for path, method, op in operations(spec):
        for code, response in op["responses"].items():
            headers = response.get("headers", {})
            if path.startswith("/api/token/"):
                # Metered against the mailbox owner's quota; a token that opens nothing has
                # no owner to count against, so the headers are documented, not required.
                assert set(RATE) <= set(headers), (path, code)
                assert not any(headers[h]["required"] for h in RATE), (path, code)
            elif code == "401":
                assert not set(RATE) & set(headers) and headers["WWW-Authenticate"]["required"]
            else:
                assert set(RATE) <= set(headers), (path, method, code)
                assert all(headers[h]["required"] for h in RATE) == (code not in ("500", "503"))
            assert ("Retry-After" in headers) == (code in ("429", "503"))


async def test_a_429_carries_what_the_document_promises(running: Running) -> None:
    async with running.engine.begin() as conn:
        await put_plan(conn, "tiny", quota=1, lifetime=600, mailboxes=5)
    _, key = await running.new_user(plan="tiny")
    spec = await spec_of(running)
    documented = spec["paths"]["/api/domains"]["get"]["responses"]
    async with running.client(key) as client:
        ok = await client.get("/api/domains")
        refused = await client.get("/api/domains")
    for response in (ok, refused):
        declared = documented[str(response.status_code)].get("headers", {})
        required = {h.lower() for h, d in declared.items() if d["required"]}
        assert required <= set(response.headers), (response.status_code, response.headers)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0


async def test_the_create_body_refuses_unknown_keys_in_the_document_too(running: Running) -> None:
    spec = await spec_of(running)
    body = spec["paths"]["/api/emails"]["post"]["requestBody"]["content"]["application/json"]
    schema = resolve(spec, body["schema"])
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"domain", "username"}


async def test_every_operation_documents_the_503_of_a_store_away(running: Running) -> None:
    spec = await spec_of(running)
    for path, method, op in operations(spec):
        unavailable = op["responses"]["503"]
        assert unavailable["headers"]["Retry-After"]["required"], (path, method)
        schema = unavailable["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method)
