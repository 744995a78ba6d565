"""The `ephemail` command: run the service and manage it from a shell."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.config import Settings, load_settings
from ephemail.store import accounts, domains, mailboxes
from ephemail.store.bootstrap import DEFAULT_PLAN, FirstStart, bootstrap, ensure_defaults
from ephemail.store.db import create_engine, migrate
from ephemail.store.errors import StoreError
from ephemail.store.models import Mailbox, Plan, User

T = TypeVar("T")

app = typer.Typer(
    help="ephemail: temporary email over SMTP with a Temp Mail compatible API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(
    help="Users (accounts that own mailboxes and API keys).", no_args_is_help=True
)
key_app = typer.Typer(help="API keys: shown once, stored as hashes.", no_args_is_help=True)
domain_app = typer.Typer(help="Receiving domains.", no_args_is_help=True)
plan_app = typer.Typer(help="Plans: quota, mailbox lifetime and limits.", no_args_is_help=True)
mailbox_app = typer.Typer(help="Mailboxes.", no_args_is_help=True)
for name, sub in (
    ("user", user_app),
    ("key", key_app),
    ("domain", domain_app),
    ("plan", plan_app),
    ("mailbox", mailbox_app),
):
    app.add_typer(sub, name=name)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file", envvar="EPHEMAIL_CONFIG")
]
_config_path: Path | None = None


class CliError(Exception):
    """A one-line failure for the operator; never a traceback."""


@app.callback()
def _global(config: ConfigOption = None) -> None:
    global _config_path
    _config_path = config


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def settings(**overrides: Any) -> Settings:
    try:
        return load_settings(_config_path, **overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"bad setting {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    except (OSError, ValueError) as exc:
        fail(f"cannot read settings: {exc}")
    raise AssertionError("unreachable")


def prepare(s: Settings) -> None:
    """Migrate and seed the defaults, so any command works on a fresh data directory."""
    url = s.resolved_database_url()
    try:
        migrate(url)
    except Exception as exc:  # a database that cannot be reached is the operator's to fix
        fail(f"cannot open the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")


def run_admin(action: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run one admin action in a transaction; store errors become one-line messages."""
    s = settings()
    prepare(s)

    async def go() -> T:
        engine = create_engine(s.resolved_database_url())
        try:
            await ensure_defaults(engine, s.default_domain)
            async with engine.begin() as conn:
                return await action(conn)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except StoreError as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


def when(epoch: int | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


# ---- serve ---------------------------------------------------------------------------------


@app.command()
def serve(
    smtp_port: Annotated[int | None, typer.Option(help="SMTP port (default 2525)")] = None,
    http_port: Annotated[int | None, typer.Option(help="HTTP port (default 8025)")] = None,
    host: Annotated[str | None, typer.Option(help="Address for both listeners")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes sharing the ports")] = 1,
) -> None:
    """Run SMTP, the API and the sweeper. Creates the admin and an API key on first start."""
    # Until the event loop takes over the signals, a stop request ends start-up cleanly
    # (migrations roll back as a whole) instead of killing the process mid-way.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    overrides: dict[str, Any] = {"smtp_port": smtp_port, "http_port": http_port}
    if host:
        overrides.update(smtp_host=host, http_host=host)
    s = settings(**overrides)
    logging.basicConfig(
        level=s.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if s.log_level.lower() != "debug":  # aiosmtpd logs every connection at INFO
        logging.getLogger("mail.log").setLevel(logging.WARNING)
    prepare(s)
    first = asyncio.run(_first_start(s))
    if first is not None:
        _announce_first_start(s, first)
    typer.echo(
        f"ephemail serving SMTP on {s.smtp_host}:{s.smtp_port}, HTTP on "
        f"{s.resolved_public_url()} (API docs at {s.resolved_public_url()}/api/docs), "
        f"{workers} worker(s), data in {s.data_dir}"
    )
    sys.stdout.flush()
    if workers == 1:
        _run_worker(s, shared=False)
        return
    _run_workers(s, workers)


FIRST_START_KEY_FILE = "first-start-key.txt"


def _announce_first_start(s: Settings, first: FirstStart) -> None:
    """The admin key goes to a person, never into a service log: to the terminal when one is
    attached, otherwise into a file only the service's user can read."""
    from ephemail.config import private_dir, write_private

    lines = [f"  user:    {first.admin_email}", f"  API key: {first.api_key}"]
    if sys.stdout.isatty():
        typer.echo("First start: created the admin user and an API key. It is shown only once:")
        for line in lines:
            typer.echo(line)
        return
    private_dir(s.data_dir)
    path = s.data_dir / FIRST_START_KEY_FILE
    write_private(path, "\n".join(lines) + "\n")
    typer.echo(
        f"First start: created the admin user and an API key; the key is in {path.resolve()} "
        "(readable only by this user). Delete the file once you have the key."
    )


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


async def _first_start(s: Settings) -> Any:
    engine = create_engine(s.resolved_database_url())
    try:
        return await bootstrap(engine, s.default_domain)
    finally:
        await engine.dispose()


def _run_worker(s: Settings, shared: bool, commit_socket: socket.socket | None = None) -> None:
    from ephemail.app import Service, run_until_signal

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(run_until_signal(Service(s, shared=shared, commit_socket=commit_socket)))
    except OSError as exc:
        fail(f"cannot listen: {exc.strerror or exc}")


def _run_workers(s: Settings, count: int) -> None:
    from ephemail.store.ingest import start_commit_process

    commits = start_commit_process(
        s.resolved_database_url(), s.sqlite_synchronous, count, s.log_level
    )
    ends: list[socket.socket | None] = list(commits.sockets) if commits else [None] * count
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_worker_main, args=(s, ends, index), daemon=False)
        for index in range(count)
    ]
    for proc in procs:
        proc.start()
    for end in ends:  # the workers hold them now; the commit process sees a worker's exit
        if end is not None:
            end.close()

    def forward(signum: int, _frame: Any) -> None:
        for proc in procs:
            if proc.pid and proc.is_alive():
                os.kill(proc.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for proc in procs:
        proc.join()
    if commits is not None:
        commits.wait(30.0)
    if any(proc.exitcode for proc in procs):
        raise SystemExit(1)


def _worker_main(s: Settings, ends: list[socket.socket | None], index: int) -> None:
    """A forked worker keeps its own end of the commit process and closes the others'."""
    for other, end in enumerate(ends):
        if other != index and end is not None:
            end.close()
    _run_worker(s, True, ends[index])


@app.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the database schema (serve does this on start)."""
    s = settings()
    prepare(s)
    typer.echo("schema is up to date")


@app.command()
def purge() -> None:
    """Delete expired mailboxes with their mail now, instead of waiting for the sweeper."""
    from ephemail.sweeper import sweep_once

    s = settings()
    prepare(s)

    async def go() -> int:
        engine = create_engine(s.resolved_database_url())
        try:
            return await sweep_once(engine, s.sweep_batch)
        finally:
            await engine.dispose()

    typer.echo(f"removed {asyncio.run(go())} expired mailbox(es)")


# ---- users ---------------------------------------------------------------------------------


@user_app.command("create")
def user_create(
    email: str,
    plan: Annotated[str, typer.Option(help="Plan name")] = DEFAULT_PLAN,
    timezone: Annotated[str, typer.Option(help="IANA zone for the quota month")] = "UTC",
    password_stdin: Annotated[bool, typer.Option(help="Read a password from stdin")] = False,
) -> None:
    """Create a user account."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    if password_stdin and not password:
        fail("no password on stdin")

    async def go(conn: AsyncConnection) -> User:
        return await accounts.create_user(
            conn, email, plan_name=plan, timezone=timezone, password=password
        )

    user = run_admin(go)
    typer.echo(
        f"created user {user.email} (id {user.id}, plan {user.plan.name}, zone {user.timezone})"
    )


@user_app.command("list")
def user_list() -> None:
    """List users with their plans."""
    for user in run_admin(accounts.list_users):
        flags = " admin" if user.is_admin else ""
        flags += " disabled" if user.disabled else ""
        typer.echo(f"{user.id}\t{user.email}\t{user.plan.name}\t{user.timezone}{flags}")


@user_app.command("set-plan")
def user_set_plan(email: str, plan: str) -> None:
    """Move a user to another plan."""
    user = run_admin(lambda conn: accounts.set_user_plan(conn, email, plan))
    typer.echo(f"{user.email} is now on plan {user.plan.name}")


@user_app.command("disable")
def user_disable(email: str) -> None:
    """Disable an account: its keys answer 403 until it is enabled again."""
    run_admin(lambda conn: accounts.set_user_disabled(conn, email, True))
    typer.echo(f"disabled {email}")


@user_app.command("enable")
def user_enable(email: str) -> None:
    """Enable a disabled account."""
    run_admin(lambda conn: accounts.set_user_disabled(conn, email, False))
    typer.echo(f"enabled {email}")


# ---- keys ----------------------------------------------------------------------------------


@key_app.command("create")
def key_create(email: str) -> None:
    """Create an API key; the key is printed once, alone on the last line."""
    info, key = run_admin(lambda conn: accounts.create_key(conn, email))
    typer.echo(f"created key {info.id} for {email}; it is shown only once:")
    typer.echo(key)


@key_app.command("list")
def key_list(email: str) -> None:
    """List a user's keys (prefixes only)."""
    keys = run_admin(lambda conn: accounts.list_keys(conn, email))
    if not keys:
        typer.echo(f"{email} has no keys")
    for k in keys:
        state = f"revoked {when(k.revoked_at)}" if k.revoked_at else "active"
        typer.echo(f"{k.id}\t{k.prefix}…\tcreated {when(k.created_at)}\t{state}")


@key_app.command("revoke")
def key_revoke(key_id: int) -> None:
    """Revoke a key; every node stops accepting it within the auth cache time."""
    run_admin(lambda conn: accounts.revoke_key(conn, key_id))
    typer.echo(f"revoked key {key_id}")


# ---- domains -------------------------------------------------------------------------------


@domain_app.command("add")
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


@domain_app.command("list")
def domain_list() -> None:
    """List receiving domains."""
    for d in run_admin(domains.list_domains):
        typer.echo(f"{d.name}\t{d.type}" + (f"\towner {d.owner_id}" if d.owner_id else ""))


@domain_app.command("remove")
def domain_remove(domain: str) -> None:
    """Remove a domain with its mailboxes and their mail."""
    run_admin(lambda conn: domains.remove_domain(conn, domain))
    typer.echo(f"removed {domain}")


# ---- plans ---------------------------------------------------------------------------------


@plan_app.command("set")
def plan_set(
    name: str,
    monthly_quota: Annotated[int, typer.Option(help="API requests per month")],
    mailbox_lifetime: Annotated[int, typer.Option(help="Seconds a mailbox lives")],
    max_mailboxes: Annotated[int, typer.Option(help="Live mailboxes at once")],
    domain_types: Annotated[str, typer.Option(help="Comma list: free,premium,custom")],
) -> None:
    """Create a plan or change it (its users see the change at once)."""

    async def go(conn: AsyncConnection) -> Plan:
        return await accounts.set_plan(
            conn,
            name,
            monthly_quota=monthly_quota,
            mailbox_lifetime=mailbox_lifetime,
            max_mailboxes=max_mailboxes,
            domain_types=accounts.parse_domain_types(domain_types),
        )

    plan = run_admin(go)
    typer.echo(
        f"plan {plan.name}: quota {plan.monthly_quota}/month, lifetime {plan.mailbox_lifetime}s, "
        f"{plan.max_mailboxes} mailboxes, domains {','.join(plan.domain_types)}"
    )


@plan_app.command("list")
def plan_list() -> None:
    """List plans."""
    for p in run_admin(accounts.list_plans):
        typer.echo(
            f"{p.name}\tquota {p.monthly_quota}\tlifetime {p.mailbox_lifetime}s\t"
            f"mailboxes {p.max_mailboxes}\tdomains {','.join(p.domain_types)}"
        )


# ---- mailboxes -----------------------------------------------------------------------------


@mailbox_app.command("create")
def mailbox_create(
    email: str,
    domain: Annotated[
        str | None, typer.Option(help="Domain (default: a random allowed one)")
    ] = None,
    username: Annotated[str | None, typer.Option(help="Username (default: random)")] = None,
) -> None:
    """Create a mailbox for a user and print its address."""

    async def go(conn: AsyncConnection) -> Mailbox:
        user = await accounts.require_user(conn, email)
        return await mailboxes.create_mailbox(conn, user, domain=domain, username=username)

    typer.echo(run_admin(go).address)


@mailbox_app.command("list")
def mailbox_list(email: str) -> None:
    """List a user's live mailboxes."""

    async def go(conn: AsyncConnection) -> list[Mailbox]:
        user = await accounts.require_user(conn, email)
        return await mailboxes.list_for_user(conn, user.id)

    for box in run_admin(go):
        typer.echo(
            f"{box.id}\t{box.address}\texpires {when(box.expire_at)}\t"
            f"{box.message_count} message(s)"
        )


def main() -> None:
    app()
