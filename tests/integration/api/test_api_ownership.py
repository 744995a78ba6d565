"""Another user's mailbox, message or attachment answers exactly like a missing one."""

from __future__ import annotations

from tests.support import Running
from tests.support.samples import rich_message

MISSING_ID = "Z" * 46


async def test_every_endpoint_hides_other_users_objects(running: Running) -> None:
    owner_email, owner_key = await running.new_user()
    _, intruder_key = await running.new_user()
    async with running.client(owner_key) as owner:
        created = (await owner.post("/api/emails")).json()["data"]
        box = created["email"]
        await running.send(rich_message(box), [box])
        (message,) = (await owner.get("/api/messages", params={"email": box})).json()["messages"]
    message_id = message["id"]
    attachment = message["attachments"][0]["name"]

    # (method, path on the owner's object, same path on an object that does not exist)
    cases = [
        ("GET", f"/api/messages?email={box}", "/api/messages?email=nobody@ephemail.test"),
        ("GET", f"/api/messages/{message_id}", f"/api/messages/{MISSING_ID}"),
        (
            "GET",
            f"/api/messages/{message_id}/attachments/{attachment}",
            f"/api/messages/{MISSING_ID}/attachments/{attachment}",
        ),
        ("DELETE", f"/api/messages/{message_id}", f"/api/messages/{MISSING_ID}"),
        (
            "POST",
            f"/api/emails/{box}/stolen/ephemail.test",
            "/api/emails/nobody@ephemail.test/stolen/ephemail.test",
        ),
        ("DELETE", f"/api/emails/{box}", "/api/emails/nobody@ephemail.test"),
    ]
    async with running.client(intruder_key) as intruder:
        for method, foreign, missing in cases:
            got = await intruder.request(method, foreign)
            expected = await intruder.request(method, missing)
            assert got.status_code == expected.status_code == 404, (method, foreign)
            assert got.content == expected.content, (method, foreign)
            assert got.headers["content-type"] == expected.headers["content-type"]
        # Taking the owner's address as a *new* mailbox is refused as taken (409), which is
        # what any address in use answers, owned by anyone.
        assert (
            await intruder.post("/api/emails", json={"username": box.split("@")[0]})
        ).status_code == 409

    # Nothing the intruder did changed the owner's mailbox.
    async with running.client(owner_key) as owner:
        still = (await owner.get("/api/messages", params={"email": box})).json()["messages"]
        assert [m["id"] for m in still] == [message_id]
        assert still[0]["is_seen"] is False
        assert (await owner.get(message["attachments"][0]["url"])).status_code == 200
    assert owner_email


async def test_a_token_opens_only_its_own_mailbox(running: Running) -> None:
    _, key = await running.new_user()
    async with running.client(key) as client:
        first = (await client.post("/api/emails")).json()["data"]
        second = (await client.post("/api/emails")).json()["data"]
    await running.send(rich_message(second["email"]), [second["email"]])
    async with running.client(key) as client:
        (message,) = (await client.get("/api/messages", params={"email": second["email"]})).json()[
            "messages"
        ]
    async with running.client() as anonymous:
        base = f"/api/token/{first['email_token']}/messages"
        assert (await anonymous.get(base)).json()["messages"] == []
        assert (await anonymous.get(f"{base}/{message['id']}")).status_code == 404
        name = message["attachments"][0]["name"]
        assert (
            await anonymous.get(f"{base}/{message['id']}/attachments/{name}")
        ).status_code == 404
        tampered = first["email_token"][:-3] + (
            "AAA" if first["email_token"][-3:] != "AAA" else "BBB"
        )
        assert (await anonymous.get(f"/api/token/{tampered}/messages")).status_code == 404
