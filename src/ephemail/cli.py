"""The `ephemail` command: run the service and manage it from a shell."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tomllib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.cli_help import (
    ClickException,
    NoArgsIsHelpError,
    PlainCommand,
    PlainGroup,
    UsageError,
    plain_help,
)
from ephemail.config import Settings, SettingsError, load_settings
from ephemail.core.tokens import TokenCodec
from ephemail.events import Event, announce
from ephemail.events.model import KEY_REVOKED
from ephemail.store import accounts, domains, mailboxes
from ephemail.store.bootstrap import DEFAULT_PLAN, FirstStart, bootstrap, ensure_defaults
from ephemail.store.db import create_engine, migrate
from ephemail.store.errors import StoreError
from ephemail.store.models import Domain, Mailbox, Plan, User

T = TypeVar("T")

# Plain click help (`EMAIL`, `INTEGER`): the rich renderer printed `{email}` and `<bool>`.
PLAIN: dict[str, Any] = {"no_args_is_help": True, "rich_markup_mode": None, "cls": PlainGroup}
app = typer.Typer(
    help="ephemail: temporary email over SMTP with a Temp Mail compatible API.",
    pretty_exceptions_enable=False,
    **PLAIN,
)
user_app = typer.Typer(help="Users (accounts that own mailboxes and API keys).", **PLAIN)
key_app = typer.Typer(help="API keys: shown once, stored as hashes.", **PLAIN)
domain_app = typer.Typer(help="Receiving domains.", **PLAIN)
plan_app = typer.Typer(help="Plans: quota, mailbox lifetime and limits.", **PLAIN)
mailbox_app = typer.Typer(help="Mailboxes.", **PLAIN)
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
    except SettingsError as exc:
        fail(str(exc))
    except tomllib.TOMLDecodeError as exc:
        fail(f"cannot read the settings file: {exc}")
    except OSError as exc:
        where = exc.filename or ""
        if where and where == str(config_file()):
            fail(f"cannot read the settings file {where}: {exc.strerror}")
        # The data directory is made on first use; this is when that is impossible.
        fail(f"cannot use the data directory {where}: {exc.strerror or exc}")
    raise AssertionError("unreachable")


def config_file() -> Path | None:
    env = os.environ.get("EPHEMAIL_CONFIG")
    return _config_path or (Path(env) if env else None)


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
    except (StoreError, CliError) as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


def when(epoch: int | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


# ---- serve ---------------------------------------------------------------------------------


@app.command(cls=PlainCommand)
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
    from ephemail.app import ListenError, Service, run_until_signal

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(run_until_signal(Service(s, shared=shared, commit_socket=commit_socket)))
    except ListenError as exc:
        fail(str(exc))


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


@app.command("migrate", cls=PlainCommand)
def migrate_command() -> None:
    """Create or upgrade the database schema (serve does this on start)."""
    s = settings()
    prepare(s)
    typer.echo("schema is up to date")


@app.command(cls=PlainCommand)
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


@user_app.command("create", cls=PlainCommand)
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


@user_app.command("list", cls=PlainCommand)
def user_list() -> None:
    """List users with their plans."""
    for user in run_admin(accounts.list_users):
        flags = " admin" if user.is_admin else ""
        flags += " disabled" if user.disabled else ""
        typer.echo(f"{user.id}\t{user.email}\t{user.plan.name}\t{user.timezone}{flags}")


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


# ---- keys ----------------------------------------------------------------------------------


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
    """Revoke a key; every node stops accepting it at once (on PostgreSQL or with Redis;
    with SQLite alone, within the auth cache time)."""
    key_hash = run_admin(lambda conn: accounts.revoke_key(conn, key_id))
    s = settings()
    revoked = [Event(KEY_REVOKED, 0, {"key": key_hash})]
    typer.echo(f"revoked key {key_id}")
    url = s.resolved_database_url()
    try:
        asyncio.run(announce(url, revoked, redis_url=s.redis_url, redis_prefix=s.redis_prefix))
    except Exception as exc:  # the revocation stands; the nodes' caches run out by themselves
        typer.echo(f"warning: could not tell the running nodes at once: {exc}", err=True)


# ---- domains -------------------------------------------------------------------------------


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


# ---- plans ---------------------------------------------------------------------------------


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

    async def go(conn: AsyncConnection) -> Plan:
        existing = await accounts.get_plan(conn, name)
        if existing is None:
            missing = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is None]
            if missing:
                raise CliError(f"a new plan needs {', '.join(missing)}")
        elif all(v is None for v in given.values()):
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
        )

    plan = run_admin(go)
    typer.echo(
        f"plan {plan.name}: quota {plan.monthly_quota}/month, lifetime {plan.mailbox_lifetime}s, "
        f"{plan.max_mailboxes} mailboxes, domains {','.join(plan.domain_types)}"
    )


@plan_app.command("list", cls=PlainCommand)
def plan_list() -> None:
    """List plans."""
    for p in run_admin(accounts.list_plans):
        typer.echo(
            f"{p.name}\tquota {p.monthly_quota}\tlifetime {p.mailbox_lifetime}s\t"
            f"mailboxes {p.max_mailboxes}\tdomains {','.join(p.domain_types)}"
        )


# ---- mailboxes -----------------------------------------------------------------------------


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
    token = TokenCodec(settings().secret_key).seal(box.id, box.address)
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


USAGE_ERROR = 2


def main() -> None:
    """Run the CLI; a usage error is one `error: …` line and exit status 2, no boxed block."""
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:
        typer.echo(plain_help(exc.ctx.get_help()))
        sys.exit(USAGE_ERROR)
    except UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "ephemail"
        typer.echo(f"error: {exc.format_message()} (see '{command} --help')", err=True)
        sys.exit(USAGE_ERROR)
    except ClickException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("error: aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
