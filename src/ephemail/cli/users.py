"""`ephemail user …` and `ephemail key …`: accounts and their API keys."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.cli.common import PLAIN, fail, run_admin, settings, when
from ephemail.cli.groups import GROUPS
from ephemail.cli.help import PlainCommand
from ephemail.events import Event, announce
from ephemail.events.model import KEY_REVOKED
from ephemail.store import accounts
from ephemail.store.bootstrap import DEFAULT_PLAN
from ephemail.store.errors import Invalid
from ephemail.store.models import User

user_app = typer.Typer(help=GROUPS["user"].help, **PLAIN)
key_app = typer.Typer(help=GROUPS["key"].help, **PLAIN)


@user_app.command("create", cls=PlainCommand)
def user_create(
    email: str,
    plan: Annotated[str, typer.Option(help="Plan name")] = DEFAULT_PLAN,
    timezone: Annotated[str, typer.Option(help="IANA zone for the quota month")] = "UTC",
    password_stdin: Annotated[bool, typer.Option(help="Read a password from stdin")] = False,
    admin: Annotated[
        bool, typer.Option(help="An operator: may use the website's operator area")
    ] = False,
) -> None:
    """Create a user account (with a password, it can sign in to the website)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    if password_stdin and not password:
        fail("no password on stdin")

    async def go(conn: AsyncConnection) -> User:
        return await accounts.create_user(
            conn, email, plan_name=plan, timezone=timezone, password=password, is_admin=admin
        )

    user = run_admin(go)
    typer.echo(
        f"created user {user.email} (id {user.id}, plan {user.plan.name}, zone {user.timezone})"
    )


@user_app.command("list", cls=PlainCommand)
def user_list() -> None:
    """List users with their plans."""
    for user in run_admin(accounts.list_users):
        flags = " admin" if user.is_admin else ""
        flags += " disabled" if user.disabled else ""
        typer.echo(f"{user.id}\t{user.email}\t{user.plan.name}\t{user.timezone}{flags}")


@user_app.command("admin", cls=PlainCommand)
def user_admin(
    email: str,
    remove: Annotated[bool, typer.Option(help="Take the operator role away")] = False,
) -> None:
    """Make a user an operator (the website's operator area), or no longer one."""
    run_admin(lambda conn: accounts.set_user_admin(conn, email, not remove))
    typer.echo(f"{email} is {'no longer' if remove else 'now'} an operator")


@user_app.command("password", cls=PlainCommand)
def user_password(email: str) -> None:
    """Set a user's website password, read from stdin; every website session of it ends."""
    password = sys.stdin.readline().rstrip("\n")
    try:
        accounts.check_password_rules(password)
    except Invalid as exc:
        fail(str(exc))

    async def go(conn: AsyncConnection) -> None:
        user = await accounts.require_user(conn, email)
        await accounts.set_password_hash(conn, user.id, accounts.hash_password(password))

    run_admin(go)
    typer.echo(f"set the password of {email}")


@user_app.command("set-plan", cls=PlainCommand)
def user_set_plan(email: str, plan: str) -> None:
    """Move a user to another plan."""
    user = run_admin(lambda conn: accounts.set_user_plan(conn, email, plan))
    typer.echo(f"{user.email} is now on plan {user.plan.name}")


@user_app.command("disable", cls=PlainCommand)
def user_disable(email: str) -> None:
    """Disable an account: its keys answer 403 until it is enabled again."""
    run_admin(lambda conn: accounts.set_user_disabled(conn, email, True))
    typer.echo(f"disabled {email}")


@user_app.command("enable", cls=PlainCommand)
def user_enable(email: str) -> None:
    """Enable a disabled account."""
    run_admin(lambda conn: accounts.set_user_disabled(conn, email, False))
    typer.echo(f"enabled {email}")


@key_app.command("create", cls=PlainCommand)
def key_create(email: str) -> None:
    """Create an API key; the key is printed once, alone on the last line."""
    info, key = run_admin(lambda conn: accounts.create_key(conn, email))
    typer.echo(f"created key {info.id} for {email}; it is shown only once:")
    typer.echo(key)


@key_app.command("list", cls=PlainCommand)
def key_list(email: str) -> None:
    """List a user's keys (prefixes only)."""
    keys = run_admin(lambda conn: accounts.list_keys(conn, email))
    if not keys:
        typer.echo(f"{email} has no keys")
    for k in keys:
        state = f"revoked {when(k.revoked_at)}" if k.revoked_at else "active"
        typer.echo(f"{k.id}\t{k.prefix}…\tcreated {when(k.created_at)}\t{state}")


@key_app.command("revoke", cls=PlainCommand)
def key_revoke(key_id: int) -> None:
    """Revoke a key; every serving process stops accepting it at once (on PostgreSQL or
    with Redis through the bus; with SQLite alone through each process's local inbox)."""
    key_hash = run_admin(lambda conn: accounts.revoke_key(conn, key_id))
    s = settings()
    revoked = [Event(KEY_REVOKED, 0, {"key": key_hash})]
    typer.echo(f"revoked key {key_id}")
    url = s.resolved_database_url()
    try:
        asyncio.run(announce(url, revoked, redis_url=s.redis_url, redis_prefix=s.redis_prefix))
    except Exception as exc:  # the revocation stands; the nodes' caches run out by themselves
        typer.echo(f"warning: could not tell the running nodes at once: {exc}", err=True)
