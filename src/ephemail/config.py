"""Settings from EPHEMAIL_* environment variables and an optional TOML file.

Precedence: environment, then the TOML file named by EPHEMAIL_CONFIG (or `--config`),
then the embedded defaults, so `ephemail serve` runs with no configuration at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE = "secret_key"
MIN_SECRET_CHARS = 32  # the generated one has 64; a short one makes tokens guessable
PRIVATE_DIR_MODE = 0o700  # the data directory holds all mail: the service's user only

log = logging.getLogger("ephemail.config")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EPHEMAIL_", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "ephemail"
    public_url: str = ""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(2525, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    http_port: int = Field(8025, ge=0, le=65535)
    smtp_hostname: str = "ephemail.test"
    max_message_size: int = Field(10 * 1024 * 1024, gt=0)
    mailbox_message_cap: int = Field(1000, gt=0)
    max_recipients: int = Field(100, gt=0)
    max_smtp_connections: int = Field(1000, gt=0)
    smtp_timeout: float = Field(60.0, gt=0)  # idle: no byte for this long
    http_read_timeout: float = Field(5.0, gt=0)  # for a request's headers, then its body
    # An idle keep-alive connection is closed after this. Longer than the idle expiry of
    # common clients (httpx 5 s, aiohttp 15 s): the side that closes first must be the client,
    # or a request sent as the server closes is reset, and the client sees a failed request.
    http_keepalive_timeout: int = Field(75, gt=0)  # seconds
    smtp_session_timeout: float = Field(600.0, gt=0)  # a whole SMTP session, however active
    smtp_data_timeout: float = Field(300.0, gt=0)  # from 354 to the end of the message
    max_smtp_connections_per_client: int = Field(50, gt=0)
    smtp_max_unknown_recipients: int = Field(20, gt=0)  # per session, then 421
    smtp_max_unknown_recipients_per_client: int = Field(100, gt=0)  # per address and window
    smtp_probe_window: float = Field(600.0, gt=0)
    tls_cert: Path | None = None  # STARTTLS is offered when both files are set
    tls_key: Path | None = None
    secret_key: str = ""
    default_domain: str = "ephemail.test"
    sweep_interval: float = Field(30.0, gt=0)
    sweep_batch: int = Field(500, gt=0)
    auth_cache_seconds: float = Field(5.0, ge=0)
    quota_backend: str = "auto"  # auto | memory | sql | redis
    quota_flush_seconds: float = Field(1.0, gt=0)
    writer_batch: int = Field(256, gt=0)  # PostgreSQL; the SQLite commit process takes all
    # PostgreSQL connections per process: up to 2 × this for the engine, this for hot reads
    db_pool_size: int = Field(10, gt=0)
    json_cache_mib: int = Field(32, ge=0)
    events_heartbeat_seconds: float = Field(15.0, gt=0)  # comment on an idle event stream
    events_max_streams: int = Field(20, gt=0)  # open event streams per account and worker
    events_max_streams_total: int = Field(10_000, gt=0)  # open event streams per worker
    webhook_allow_private: bool = False  # receivers on loopback/private/link-local addresses
    webhook_connect_timeout: float = Field(5.0, gt=0)
    webhook_timeout: float = Field(10.0, gt=0)  # for the receiver's answer
    webhook_concurrency: int = Field(32, gt=0)  # deliveries in flight per worker
    webhook_per_receiver: int = Field(4, gt=0)  # in flight per webhook and worker
    webhook_retry_base_seconds: float = Field(5.0, gt=0)
    webhook_retry_max_seconds: float = Field(3600.0, gt=0)  # the longest wait between tries
    webhook_retry_window_seconds: float = Field(86_400.0, gt=0)  # then an event is given up
    webhook_poll_seconds: float = Field(1.0, gt=0)  # look for due retries this often
    webhook_log_retention_seconds: float = Field(7 * 86_400.0, gt=0)
    webhook_max_per_account: int = Field(20, gt=0)
    metrics_token: str = ""  # when set, /metrics wants `Authorization: Bearer <token>`
    sqlite_synchronous: str = "FULL"
    # The website (ephemail/web): who may sign up, and for how long a sign-in lasts.
    signup_enabled: bool = True
    signup_plan: str = "default"  # the plan a new account gets
    web_session_hours: float = Field(24.0 * 14, gt=0)
    signin_attempts_per_address: int = Field(5, gt=0)  # failures per window, then refused
    signin_attempts_per_client: int = Field(20, gt=0)
    signin_window_seconds: float = Field(900.0, gt=0)
    usage_flush_seconds: float = Field(10.0, gt=0)  # per-day usage counters → database
    log_level: str = "info"

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        """Empty means "generate one"; anything else must be hard to guess."""
        if value and len(value) < MIN_SECRET_CHARS:
            raise ValueError(
                f"must be at least {MIN_SECRET_CHARS} characters (it has {len(value)}); "
                "leave it unset to have one generated"
            )
        return value

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'ephemail.db'}"

    def resolved_public_url(self, bound_port: int | None = None) -> str:
        """Where clients reach the API; by default the HTTP address actually bound."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.http_host in ("0.0.0.0", "::", "") else self.http_host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{bound_port or self.http_port}"


class SettingsError(ValueError):
    """A settings file the service will not guess about; the message is for the operator."""


def _toml_values(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    section = data.get("ephemail", data)
    values = {str(k).replace("-", "_"): v for k, v in section.items()}
    # A misspelt key (`smtp_prot`) would otherwise be ignored and its default used.
    unknown = sorted(k for k in values if k not in Settings.model_fields)
    if unknown:
        raise SettingsError(
            f"unknown setting(s) in {path}: {', '.join(unknown)} (names are those of the "
            "EPHEMAIL_* variables without the prefix)"
        )
    return values


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; env wins over the TOML file, explicit overrides win over both."""
    env_file = os.environ.get("EPHEMAIL_CONFIG")
    path = config_file or (Path(env_file) if env_file else None)
    file_values = _toml_values(path) if path else {}
    env_keys = {k[len("EPHEMAIL_") :].lower() for k in os.environ if k.startswith("EPHEMAIL_")}
    init = {k: v for k, v in file_values.items() if k not in env_keys}
    init.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**init)
    if not settings.secret_key:
        settings.secret_key = ensure_secret(settings.data_dir)
    return settings


def private_dir(path: Path) -> None:
    """Create a directory (and missing parents) readable by the service's user only.

    An existing directory keeps the mode its operator gave it."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One process at a time in `directory` (workers and CLI commands may start together)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def ensure_secret(data_dir: Path) -> str:
    """Generate the secret once and keep it, so tokens survive restarts.

    The file is written whole (a private temporary file, fsynced, renamed into place), so no
    reader ever sees it half-written. An empty file (what a crash between creating and
    writing it left before that) never held a secret, and every token sealed with it is
    forgeable, so it is replaced; a short non-empty secret is refused rather than replaced,
    since tokens that people hold were sealed with it.
    """
    private_dir(data_dir)
    path = data_dir / SECRET_FILE
    with _locked(data_dir):
        if path.exists():
            value = path.read_text().strip()
            if len(value) >= MIN_SECRET_CHARS:
                return value
            if value:
                raise SettingsError(
                    f"the secret in {path} has {len(value)} characters, fewer than "
                    f"{MIN_SECRET_CHARS}; delete the file to have a new one generated "
                    "(email_tokens issued so far stop working)"
                )
            log.warning("replacing the empty secret file %s", path)
        value = secrets.token_urlsafe(48)
        write_private(path, value + "\n")
    return value


def write_private(path: Path, text: str) -> None:
    """Atomically put `text` at `path`, mode 0600."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)
