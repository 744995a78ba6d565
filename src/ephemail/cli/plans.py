"""`ephemail plan …`: quota, mailbox lifetime and limits, shared by a plan's users."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.cli.common import PLAIN, CliError, run_admin
from ephemail.cli.groups import GROUPS
from ephemail.cli.help import PlainCommand
from ephemail.store import accounts
from ephemail.store.models import Plan

plan_app = typer.Typer(help=GROUPS["plan"].help, **PLAIN)


def _at_least_one(name: str) -> Any:
    return typer.Option(min=1, help=name)


@plan_app.command("set", cls=PlainCommand)
def plan_set(
    name: str,
    monthly_quota: Annotated[int | None, _at_least_one("API requests per month (≥ 1)")] = None,
    mailbox_lifetime: Annotated[int | None, _at_least_one("Seconds a mailbox lives (≥ 1)")] = None,
    max_mailboxes: Annotated[int | None, _at_least_one("Live mailboxes at once (≥ 1)")] = None,
    domain_types: Annotated[
        str | None, typer.Option(help="Comma list: free,premium,custom")
    ] = None,
    max_lifetime: Annotated[
        int | None,
        _at_least_one(
            "Seconds a mailbox may live from its creation when extended "
            "(POST /api/emails/{email}/extend); a new plan's default is its lifetime: no extension"
        ),
    ] = None,
) -> None:
    """Create a plan (every option needed) or change some of an existing plan's values.

    Its users see the change at once.
    """
    given = {
        "monthly_quota": monthly_quota,
        "mailbox_lifetime": mailbox_lifetime,
        "max_mailboxes": max_mailboxes,
        "domain_types": domain_types,
    }
    optional = {"max_lifetime": max_lifetime}

    async def go(conn: AsyncConnection) -> Plan:
        existing = await accounts.get_plan(conn, name)
        if existing is None:
            missing = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is None]
            if missing:
                raise CliError(f"a new plan needs {', '.join(missing)}")
        elif all(v is None for v in (*given.values(), *optional.values())):
            raise CliError("nothing to change: give at least one option")
        # A new plan has every value given, so the zeros below are never used.
        current = existing or Plan(0, name, 0, 0, 0, ())
        return await accounts.set_plan(
            conn,
            name,
            monthly_quota=current.monthly_quota if monthly_quota is None else monthly_quota,
            mailbox_lifetime=(
                current.mailbox_lifetime if mailbox_lifetime is None else mailbox_lifetime
            ),
            max_mailboxes=current.max_mailboxes if max_mailboxes is None else max_mailboxes,
            domain_types=(
                current.domain_types
                if domain_types is None
                else accounts.parse_domain_types(domain_types)
            ),
            max_lifetime_seconds=max_lifetime,
        )

    plan = run_admin(go)
    typer.echo(
        f"plan {plan.name}: quota {plan.monthly_quota}/month, lifetime {plan.mailbox_lifetime}s, "
        f"max lifetime {plan.max_lifetime}s, {plan.max_mailboxes} mailboxes, "
        f"domains {','.join(plan.domain_types)}"
    )


@plan_app.command("list", cls=PlainCommand)
def plan_list() -> None:
    """List plans."""
    for p in run_admin(accounts.list_plans):
        typer.echo(
            f"{p.name}\tquota {p.monthly_quota}\tlifetime {p.mailbox_lifetime}s\t"
            f"max lifetime {p.max_lifetime}s\tmailboxes {p.max_mailboxes}\t"
            f"domains {','.join(p.domain_types)}"
        )
