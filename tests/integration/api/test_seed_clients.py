"""The vendor's own client snippets run unchanged against us, but for base URL and key.

They use the documentation's literal values (domain example.com, mailboxes
current@example.com and demo123@example.com, message ap94…n6m1, file.txt), so the test
makes those exist, then runs the snippets in the order a user would.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import update

from ephemail.store import accounts, domains, mailboxes
from ephemail.store.schema import attachments, message_raw, messages
from tests.support import Running

SNIPPETS = Path(__file__).resolve().parents[2] / "seed_clients"
SEED_MESSAGE_ID = "ap94AWDg123ELQz07vrVB9dLXlbqZM5NGwYxOJKko8n6m1"
STEPS = [
    "domains",
    "create_email",
    "rename_email",
    "list_messages",
    "read_message",
    "download_attachment",
    "delete_message",
    "delete_email",
]
RUNNERS = {
    "python": (".py", [sys.executable]),
    "javascript": (".mjs", [shutil.which("node") or "node"]),
    "curl": (".sh", ["bash"]),
}


async def run_snippet(kind: str, step: str, base_url: str, key: str, cwd: Path) -> str:
    suffix, command = RUNNERS[kind]
    source = (SNIPPETS / f"{step}{suffix}").read_text()
    script = cwd / f"{step}{suffix}"
    script.write_text(source.replace("BASE_URL", base_url).replace("YOUR_USER_API_KEY", key))

    def go() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, str(script)], cwd=cwd, capture_output=True, text=True, timeout=60
        )

    result = await asyncio.to_thread(go)
    assert result.returncode == 0, f"{kind} {step}: {result.stderr or result.stdout}"
    return result.stdout


async def deliver_seed_message(running: Running) -> None:
    """Mail demo123@example.com over SMTP, then give it the id the snippets use."""
    msg = EmailMessage()
    msg["From"] = "Example Sender <hello@example.org>"
    msg["Subject"] = "Welcome to Temp Mail"
    msg.set_content("Hello from the inbox.")
    msg.add_alternative("<p>Hello from the inbox.</p>", subtype="html")
    msg.add_attachment(b"a" * 91, maintype="text", subtype="plain", filename="file.txt")
    await running.send(msg.as_bytes(), ["demo123@example.com"])
    async with running.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        for table, column in (
            (messages, messages.c.id),
            (message_raw, message_raw.c.message_id),
            (attachments, attachments.c.message_id),
        ):
            await conn.execute(
                update(table)
                .where(column != SEED_MESSAGE_ID)
                .values({column.name: SEED_MESSAGE_ID})
            )


@pytest.mark.parametrize("kind", sorted(RUNNERS))
async def test_seed_snippets_work_unchanged(running: Running, kind: str, tmp_path: Path) -> None:
    async with running.engine.begin() as conn:
        await domains.add_domain(conn, "example.com", type_="free")
        email = "seed-user@example.org"
        user = await accounts.create_user(conn, email, plan_name="default")
        _, key = await accounts.create_key(conn, email)
        await mailboxes.create_mailbox(conn, user, domain="example.com", username="current")
    base = running.base_url
    out: dict[str, str] = {}
    for step in STEPS:
        if step == "list_messages":
            await deliver_seed_message(running)
        out[step] = await run_snippet(kind, step, base, key, tmp_path)

    assert "requested_type" in out["domains"]
    if kind != "javascript":  # node's console.log folds nested objects to [Object]
        assert "example.com" in out["domains"] and "Free" in out["domains"]
    assert "email_token" in out["create_email"]
    assert "demo123@example.com" in out["rename_email"]
    assert "Welcome to Temp Mail" in out["list_messages"]
    assert SEED_MESSAGE_ID in out["read_message"]
    if kind == "javascript":
        assert json.loads(out["download_attachment"].strip())["size"] == 91
    else:
        assert (tmp_path / "file.txt").read_bytes() == b"a" * 91
    assert "Message was deleted successfully." in out["delete_message"]
    assert "Email has been successfully deleted." in out["delete_email"]
