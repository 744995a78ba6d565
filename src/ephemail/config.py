"""Settings from EPHEMAIL_* environment variables and an optional TOML file.

Precedence: environment, then the TOML file named by EPHEMAIL_CONFIG (or `--config`),
then the embedded defaults, so `ephemail serve` runs with no configuration at all.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE = "secret_key"


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
    json_cache_mib: int = Field(32, ge=0)
    sqlite_synchronous: str = "FULL"
    log_level: str = "info"

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


def _toml_values(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    section = data.get("ephemail", data)
    return {str(k).replace("-", "_"): v for k, v in section.items()}


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


def ensure_secret(data_dir: Path) -> str:
    """Generate the secret once and keep it, so tokens survive restarts."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker won the race: use its secret
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value
