"""Sign up to a small web app, wait for its verification mail, follow the link.

The app is started by the test itself on a free port and mails through ephemail's SMTP.
Run it against a running ephemail service (see docs/pytest-plugin.md):

    EPHEMAIL_BASE_URL=http://127.0.0.1:8025 EPHEMAIL_API_KEY=eph_... \
    APP_SMTP_PORT=2525 pytest test_signup.py
"""

from __future__ import annotations

import os
import secrets
import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from urllib.parse import parse_qs

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from ephemail.client import Inbox

SMTP_HOST = os.environ.get("APP_SMTP_HOST", "127.0.0.1")
SMTP_PORT = int(os.environ.get("APP_SMTP_PORT", "2525"))


def send_verification(email: str, link: str) -> None:
    """The app's outgoing mail: plain text and HTML, as real sign-up mails are."""
    msg = EmailMessage()
    msg["From"] = "Example Shop <no-reply@shop.example>"
    msg["To"] = email
    msg["Subject"] = "Confirm your email address"
    msg.set_content(f"Welcome! Confirm your email address:\n\n{link}\n")
    msg.add_alternative(
        f'<p>Welcome!</p><p><a href="{link}">Verify my email</a></p>', subtype="html"
    )
    with smtplib.SMTP(SMTP_HOST, SMTP_PORT) as smtp:
        smtp.send_message(msg)


def make_app() -> Starlette:
    """Sign-up form, verification link, account status; accounts live in memory."""
    verified: dict[str, bool] = {}
    pending: dict[str, str] = {}

    async def signup(request: Request) -> HTMLResponse:
        email = parse_qs((await request.body()).decode())["email"][0]
        token = secrets.token_urlsafe(16)
        verified[email], pending[token] = False, email
        await run_in_threadpool(send_verification, email, f"{request.base_url}verify?token={token}")
        return HTMLResponse("<p>Check your mail to finish signing up.</p>")

    async def verify(request: Request) -> HTMLResponse:
        email = pending.pop(request.query_params["token"], None)
        if email is None:
            return HTMLResponse("<p>This link is not valid.</p>", status_code=404)
        verified[email] = True
        return HTMLResponse("<p>Your email address is verified.</p>")

    async def account(request: Request) -> JSONResponse:
        return JSONResponse({"verified": verified.get(request.path_params["email"], False)})

    return Starlette(
        routes=[
            Route("/signup", signup, methods=["POST"]),
            Route("/verify", verify),
            Route("/accounts/{email}", account),
        ]
    )


@pytest.fixture
def app_url() -> Iterator[str]:
    """The app, served by uvicorn on a free port in a thread, for one test."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(make_app(), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_sign_up_verifies_the_account(app_url: str, ephemail_inbox: Inbox) -> None:
    signup = httpx.post(f"{app_url}/signup", data={"email": ephemail_inbox.address})
    assert signup.status_code == 200

    link = ephemail_inbox.wait_for_link(timeout=30)  # the verification link of the mail
    assert link.startswith(f"{app_url}/verify?token=")
    assert httpx.get(link).status_code == 200

    account = httpx.get(f"{app_url}/accounts/{ephemail_inbox.address}")
    assert account.json() == {"verified": True}
