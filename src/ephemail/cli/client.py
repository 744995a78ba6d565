"""`ephemail client …`: the SDK from a shell, for CI pipelines and scripts.

The service's URL and key come from `EPHEMAIL_BASE_URL` and `EPHEMAIL_API_KEY` (a key on
the command line would show in the process list). Each command prints only what a script
needs (an address, a code, a link, JSON); failures are one `error: …` line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer

from ephemail.cli.common import PLAIN, fail
from ephemail.cli.groups import GROUPS
from ephemail.cli.help import PlainCommand
from ephemail.client import Client, EphemailError, Message, WaitTimedOut
from ephemail.client.core import API_KEY_ENV, resolve_api_key
from ephemail.client.endpoints import WaitOptions

T = TypeVar("T")

TIMED_OUT = 124
"""Exit status when nothing arrived in time (as coreutils' `timeout` uses it)."""

client_app = typer.Typer(help=GROUPS["client"].help, **PLAIN)

Email = Annotated[str, typer.Argument(help="The mailbox address")]
Timeout = Annotated[
    float, typer.Option(help="Seconds to wait in all (longer than 120 s is fine)", min=1)
]
Sender = Annotated[str | None, typer.Option("--from", help="Only mail whose sender contains this")]
Subject = Annotated[str | None, typer.Option(help="Only mail whose subject contains this")]
Since = Annotated[str | None, typer.Option(help="Only mail after this message id (or event id)")]


def _call(what: str, action: Callable[[Client], T]) -> T:
    """Run `action` with a client from the environment; errors become one line."""
    if resolve_api_key(None) is None:
        fail(f"set {API_KEY_ENV} to an API key of the service")
    with _failures(what), Client() as client:
        return action(client)
    raise AssertionError("unreachable")


@contextmanager
def _failures(what: str) -> Iterator[None]:
    try:
        yield
    except WaitTimedOut:
        typer.echo(f"error: no {what} arrived in time", err=True)
        raise typer.Exit(TIMED_OUT) from None
    except EphemailError as exc:
        problems = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.errors.items())
        fail(f"{exc.message} ({problems})" if problems else exc.message)


@client_app.command("new", cls=PlainCommand)
def new(
    domain: Annotated[
        str | None, typer.Option(help="Domain (default: a random allowed one)")
    ] = None,
    username: Annotated[str | None, typer.Option(help="Username (default: random)")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole mailbox as JSON")
    ] = False,
) -> None:
    """Create a mailbox; print its address."""
    box = _call("mailbox", lambda c: c.create_mailbox(domain, username))
    typer.echo(box.model_dump_json(by_alias=True) if as_json else box.email)


@client_app.command("wait", cls=PlainCommand)
def wait(
    email: Email,
    summary: Annotated[bool, typer.Option(help="Print a short summary, not JSON")] = False,
    timeout: Timeout = 60,
    sender: Sender = None,
    subject: Subject = None,
    since: Since = None,
) -> None:
    """Wait for a message and print it (as the API's JSON); exit 124 when none came."""
    msg = _call(
        "message",
        lambda c: c.wait_for_message(
            email, timeout=timeout, sender=sender, subject=subject, since=since
        ),
    )
    typer.echo(_summary(msg) if summary else json.dumps(msg.model_dump(by_alias=True)))


def _summary(msg: Message) -> str:
    return "\n".join(
        [
            f"From: {msg.sender} <{msg.from_email}>",
            f"Subject: {msg.subject}",
            f"Received: {msg.received_at:%Y-%m-%d %H:%M:%S} UTC",
            f"Id: {msg.id}",
            f"Attachments: {len(msg.attachments)}",
        ]
    )


def _printing(what: str, find: Callable[[Client, str, WaitOptions], str]) -> Callable[..., None]:
    """A command that waits for the first message in which `find` finds something, and
    prints only that: the `otp` and `link` commands."""

    def command(
        email: Email,
        timeout: Timeout = 60,
        sender: Sender = None,
        subject: Subject = None,
        since: Since = None,
    ) -> None:
        options: WaitOptions = {
            "timeout": timeout,
            "sender": sender,
            "subject": subject,
            "since": since,
        }
        typer.echo(_call(what, lambda c: find(c, email, options)))

    return command


client_app.command(
    "otp", cls=PlainCommand, help="Wait for a message with a one-time code; print only the code."
)(_printing("message with a code", lambda c, email, o: c.wait_for_code(email, **o)))
client_app.command(
    "link",
    cls=PlainCommand,
    help="Wait for a message with a verify, reset or magic sign-in link; print only the link.",
)(_printing("message with a link", lambda c, email, o: c.wait_for_link(email, **o)))


@client_app.command("delete", cls=PlainCommand)
def delete(email: Email) -> None:
    """Delete a mailbox with its mail."""
    _call("mailbox", lambda c: c.delete_mailbox(email))
    typer.echo(f"deleted {email}")
