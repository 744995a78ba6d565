"""Every error code of the contract, provoked for real, in the error envelope."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

import pytest

from ephemail.store import accounts
from tests.support import Running, make_settings, start_service
from tests.support.contract import RATE_HEADERS, assert_shape, rate
from tests.support.plans import put_plan

ENVELOPE = {"status": False, "message": "x"}
LEAKS = re.compile(r"Traceback|File \"|sqlalchemy|SELECT |/work/|site-packages|\.py\b")


def assert_error(response, code: int, *, with_errors: bool = False):  # type: ignore[no-untyped-def]
    assert response.status_code == code, response.text
    body = response.json()
    if with_errors:
        assert set(body) == {"status", "message", "errors"} and body["status"] is False
        assert all(
            isinstance(v, list) and v and all(isinstance(m, str) for m in v)
            for v in body["errors"].values()
        )
    else:
        assert_shape(body, ENVELOPE)
    assert body["message"] and body["message"][-1] in ".!"
    assert not LEAKS.search(response.text), response.text
    return body


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "eph_xyz"])
async def test_401_without_a_valid_key_and_no_rate_headers(
    running: Running, header: str | None
) -> None:
    async with running.client() as client:
        headers = {"Authorization": header} if header is not None else {}
        for method, path in [
            ("GET", "/api/domains"),
            ("POST", "/api/emails"),
            ("GET", "/api/messages?email=a@ephemail.test"),
            ("GET", "/api/nothing"),
        ]:
            response = await client.request(method, path, headers=headers)
            body = assert_error(response, 401)
            assert body == {"status": False, "message": "Unauthenticated."}
            assert not any(h in response.headers for h in RATE_HEADERS)


async def test_revoked_key_stops_working_within_the_cache_window(tmp_path: Path) -> None:
    svc = await start_service(make_settings(tmp_path, auth_cache_seconds=0.5))
    try:
        email, key = await svc.new_user()
        async with svc.client(key) as client:
            assert (await client.get("/api/domains")).status_code == 200  # now cached
            async with svc.engine.begin() as conn:
                (info,) = await accounts.list_keys(conn, email)
                await accounts.revoke_key(conn, info.id)
            revoked_at = time.monotonic()
            while (await client.get("/api/domains")).status_code == 200:
                assert time.monotonic() - revoked_at < 2.0, "revoked key still works"
                await asyncio.sleep(0.05)
            assert_error(await client.get("/api/domains"), 401)
    finally:
        await svc.service.stop(grace=1)


async def test_400_for_a_body_that_is_not_json(running: Running) -> None:
    async with running.client(running.admin_key) as client:
        response = await client.post(
            "/api/emails", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert_error(response, 400)
        assert_error(await client.post("/api/emails", content=b"[1, 2]"), 400)
        assert_error(await client.post("/api/emails", content=b"\xff\xfe\x00"), 400)


async def test_403_for_a_type_or_domain_the_plan_does_not_allow(running: Running) -> None:
    async with running.engine.begin() as conn:
        await put_plan(conn, "freeonly", quota=100, lifetime=600, mailboxes=1)
        from ephemail.store.domains import add_domain

        await add_domain(conn, "vip.example", type_="premium")
    _, key = await running.new_user(plan="freeonly")
    async with running.client(key) as client:
        assert_error(await client.get("/api/domains", params={"type": "premium"}), 403)
        assert_error(await client.post("/api/emails", json={"domain": "vip.example"}), 403)
        ok = await client.post("/api/emails")
        assert ok.status_code == 200
        box = ok.json()["data"]["email"]
        body = assert_error(await client.post("/api/emails"), 403)  # mailbox limit of 1
        assert "limit" in body["message"]
        assert_error(await client.post(f"/api/emails/{box}/other/vip.example"), 403)


async def test_403_for_a_disabled_account(running: Running) -> None:
    email, key = await running.new_user()
    async with running.engine.begin() as conn:
        await accounts.set_user_disabled(conn, email, True)
    running.service_auth().clear()
    async with running.client(key) as client:
        response = await client.post("/api/emails")
        assert_error(response, 403)
        assert rate(response.headers)[1] == 0


async def test_404s(running: Running) -> None:
    async with running.client(running.admin_key) as client:
        assert_error(
            await client.get("/api/messages", params={"email": "ghost@ephemail.test"}), 404
        )
        assert_error(await client.get("/api/messages/" + "a" * 46), 404)
        assert_error(await client.get("/api/messages/short"), 404)
        assert_error(await client.delete("/api/messages/" + "a" * 46), 404)
        assert_error(await client.get(f"/api/messages/{'a' * 46}/attachments/x.txt"), 404)
        assert_error(await client.delete("/api/emails/ghost@ephemail.test"), 404)
        assert_error(await client.post("/api/emails/ghost@ephemail.test/new/ephemail.test"), 404)
        response = await client.get("/api/no/such/route")
        assert_error(response, 404)
        rate(response.headers)  # a valid key gets its headers on every response
        # A trailing slash is not a route of the contract: 404, not a redirect to follow.
        for method, path in (
            ("GET", "/api/messages/"),
            ("GET", "/api/domains/"),
            ("POST", "/api/emails/"),
        ):
            assert_error(await client.request(method, path), 404)
    async with running.client() as client:
        assert_error(await client.get("/api/token/forged/messages"), 404)


async def test_405_on_a_known_path(running: Running) -> None:
    async with running.client(running.admin_key) as client:
        assert_error(await client.put("/api/emails"), 405)
        assert_error(await client.patch("/api/domains"), 405)


async def test_409_when_the_address_is_taken(running: Running) -> None:
    async with running.client(running.admin_key) as client:
        first = (await client.post("/api/emails", json={"username": "taken"})).json()["data"]
        second = (await client.post("/api/emails")).json()["data"]
        assert_error(await client.post("/api/emails", json={"username": "taken"}), 409)
        assert_error(await client.post(f"/api/emails/{second['email']}/taken/ephemail.test"), 409)
        assert first["email"] == "taken@ephemail.test"


async def test_422s_name_the_field(running: Running) -> None:
    async with running.client(running.admin_key) as client:
        body = assert_error(
            await client.get("/api/domains", params={"type": "gold"}), 422, with_errors=True
        )
        assert "type" in body["errors"]
        body = assert_error(await client.get("/api/messages"), 422, with_errors=True)
        assert body["errors"] == {"email": ["The email field is required."]}
        body = assert_error(
            await client.get("/api/messages", params={"email": "nope"}), 422, with_errors=True
        )
        assert "email" in body["errors"]
        body = assert_error(
            await client.post("/api/emails", json={"username": "..bad"}), 422, with_errors=True
        )
        assert "username" in body["errors"]
        body = assert_error(
            await client.post("/api/emails", json={"username": 5}), 422, with_errors=True
        )
        assert "username" in body["errors"]
        body = assert_error(
            await client.post("/api/emails", json={"domain": "unknown.example"}),
            422,
            with_errors=True,
        )
        assert "domain" in body["errors"]
        box = (await client.post("/api/emails")).json()["data"]["email"]
        body = assert_error(
            await client.post(f"/api/emails/{box}/bad..name/ephemail.test"), 422, with_errors=True
        )
        assert "new_username" in body["errors"]
        body = assert_error(
            await client.delete("/api/emails/not-an-address"), 422, with_errors=True
        )
        assert "email" in body["errors"]


async def test_500_carries_a_request_id_that_is_logged(
    running: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from ephemail.api.routes import domains as route

    async def broken(*_: object) -> None:
        raise RuntimeError("simulated fault in /secret/path.py")

    monkeypatch.setattr(route, "domains_for_user", broken)
    async with running.client(running.admin_key) as client:
        before = rate(
            (await client.get("/api/messages", params={"email": "x@ephemail.test"})).headers
        )[1]
        with caplog.at_level(logging.ERROR, logger="ephemail.api"):
            response = await client.get("/api/domains")
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"status", "message", "request_id"} and body["status"] is False
    assert "simulated" not in response.text and "/secret" not in response.text
    assert body["request_id"] in caplog.text
    assert rate(response.headers)[1] == before  # a 5xx never counts


# --- every 422 names the field that is wrong, per endpoint -------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("POST", "/api/emails", {"json": {"username": ""}}, "username"),
        ("POST", "/api/emails", {"json": {"username": "..bad"}}, "username"),
        ("POST", "/api/emails", {"json": {"username": "a" * 65}}, "username"),
        ("POST", "/api/emails", {"params": {"username": ""}}, "username"),
        ("POST", "/api/emails", {"json": {"username": 5}}, "username"),
        ("POST", "/api/emails", {"json": {"username": "ok", "domain": "no.example"}}, "domain"),
        ("POST", "/api/emails", {"params": {"username": "ok", "domain": "no.example"}}, "domain"),
        ("POST", "/api/emails", {"json": {"domain": "no.example"}}, "domain"),
        ("POST", "/api/emails", {"json": {"domain": ""}}, "domain"),
        ("POST", "/api/emails", {"json": {"domain": ["ephemail.test"]}}, "domain"),
        ("POST", "/api/emails", {"json": {"usernme": "typo"}}, "usernme"),
        ("POST", "/api/emails", {"json": {"domain": "ephemail.test", "extra": 1}}, "extra"),
        ("POST", "/api/emails/not-an-address/fine/ephemail.test", {}, "current_email"),
        ("POST", "/api/emails/{box}/bad..name/ephemail.test", {}, "new_username"),
        ("POST", "/api/emails/{box}/" + "-" * 65 + "/ephemail.test", {}, "new_username"),
        ("POST", "/api/emails/{box}/fine/no.example", {}, "domain"),
        ("POST", "/api/emails/{box}/bad..name/no.example", {}, "new_username"),
        ("DELETE", "/api/emails/not-an-address", {}, "email"),
        ("GET", "/api/messages", {}, "email"),
        ("GET", "/api/messages", {"params": {"email": "nope"}}, "email"),
        ("GET", "/api/domains", {"params": {"type": "gold"}}, "type"),
    ],
)
async def test_every_422_names_the_wrong_field(
    running: Running, method: str, path: str, kwargs: dict[str, object], field: str
) -> None:
    box = await running.new_mailbox("admin@localhost.localdomain")
    async with running.client(running.admin_key) as client:
        response = await client.request(method, path.format(box=box), **kwargs)  # type: ignore[arg-type]
        body = assert_error(response, 422, with_errors=True)
        assert list(body["errors"]) == [field]
        # Nothing was made: the mailbox list holds only the one this test made.
        assert rate(response.headers)[1] == rate((await client.get("/api/domains")).headers)[1] - 1


async def test_an_unknown_body_key_makes_no_mailbox(running: Running) -> None:
    async with running.client(running.admin_key) as client:
        response = await client.post("/api/emails", json={"usernme": "typo"})
        body = assert_error(response, 422, with_errors=True)
        assert "usernme" in body["errors"]["usernme"][0]
        counted = rate(response.headers)[1]
        again = await client.post("/api/emails", json={"username": "typo"})
        assert again.status_code == 200  # nothing took the address, nothing was counted
        assert rate(again.headers)[1] == counted + 1


async def test_a_fault_on_the_hot_path_is_a_500_with_a_logged_request_id(
    running: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The busiest GETs are answered outside FastAPI's own error layer: a fault there gets
    the same envelope and log line, and counts nothing."""
    email, key = await running.new_user()
    box = await running.new_mailbox(email)
    await running.send(b"Subject: hot\r\n\r\nbody\r\n", [box])
    async with running.client(key) as client:
        listed = await client.get("/api/messages", params={"email": box})
        message_id = listed.json()["messages"][0]["id"]
        before = rate(listed.headers)[1]

        async def broken(*_: object, **__: object) -> None:
            raise RuntimeError("simulated fault in /secret/reads.py")

        monkeypatch.setattr(running.service.api_context.reads, "get_message", broken)
        with caplog.at_level(logging.ERROR, logger="ephemail.api"):
            response = await client.get(f"/api/messages/{message_id}")
        after = rate((await client.get("/api/domains")).headers)[1]
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"status", "message", "request_id"} and body["status"] is False
    assert "simulated" not in response.text and "/secret" not in response.text
    assert body["request_id"] in caplog.text
    assert after == before + 1  # the /api/domains probe; the 500 counted nothing
