"""`ephemail domain …` and `ephemail mailbox …`: where mail is received."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.cli.common import PLAIN, run_admin, settings, when
from ephemail.cli.groups import GROUPS
from ephemail.cli.help import PlainCommand
from ephemail.core.tokens import TokenCodec
from ephemail.store import accounts, domains, mailboxes
from ephemail.store.models import Domain, Mailbox

domain_app = typer.Typer(help=GROUPS["domain"].help, **PLAIN)
mailbox_app = typer.Typer(help=GROUPS["mailbox"].help, **PLAIN)


@domain_app.command("add", cls=PlainCommand)
def domain_add(
    domain: str,
    type_: Annotated[str, typer.Option("--type", help="free, premium or custom")],
    owner: Annotated[str | None, typer.Option(help="Owner email (custom domains)")] = None,
) -> None:
    """Add a receiving domain."""
    found = run_admin(
        lambda conn: domains.add_domain(conn, domain, type_=type_.lower(), owner_email=owner)
    )
    typer.echo(f"added {found.type} domain {found.name}")


@domain_app.command("list", cls=PlainCommand)
def domain_list() -> None:
    """List receiving domains."""

    async def go(conn: AsyncConnection) -> tuple[list[Domain], dict[int, str]]:
        owners = {u.id: u.email for u in await accounts.list_users(conn)}
        return await domains.list_domains(conn), owners

    found, owners = run_admin(go)
    for d in found:
        owner = f"\towner {owners.get(d.owner_id, d.owner_id)}" if d.owner_id else ""
        typer.echo(f"{d.name}\t{d.type}{owner}")


@domain_app.command("remove", cls=PlainCommand)
def domain_remove(domain: str) -> None:
    """Remove a domain with its mailboxes and their mail."""
    run_admin(lambda conn: domains.remove_domain(conn, domain))
    typer.echo(f"removed {domain}")


@mailbox_app.command("create", cls=PlainCommand)
def mailbox_create(
    email: str,
    domain: Annotated[
        str | None, typer.Option(help="Domain (default: a random allowed one)")
    ] = None,
    username: Annotated[str | None, typer.Option(help="Username (default: random)")] = None,
) -> None:
    """Create a mailbox for a user; print its address, then its email_token."""

    async def go(conn: AsyncConnection) -> Mailbox:
        user = await accounts.require_user(conn, email)
        return await mailboxes.create_mailbox(conn, user, domain=domain, username=username)

    box = run_admin(go)
    token = TokenCodec(settings().secret_key).seal(box.id, box.life_secret)
    typer.echo(box.address)
    typer.echo(f"email_token: {token}")


@mailbox_app.command("list", cls=PlainCommand)
def mailbox_list(email: str) -> None:
    """List a user's live mailboxes."""

    async def go(conn: AsyncConnection) -> list[Mailbox]:
        user = await accounts.require_user(conn, email)
        return await mailboxes.list_for_user(conn, user.id)

    boxes = run_admin(go)
    if not boxes:
        typer.echo(f"{email} has no live mailboxes")
    for box in boxes:
        typer.echo(
            f"{box.id}\t{box.address}\texpires {when(box.expire_at)}\t"
            f"{box.message_count} message(s)"
        )
