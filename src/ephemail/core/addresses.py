"""Address rules shared by SMTP receipt, the API and the CLI."""

from __future__ import annotations

import re

USERNAME_RE = re.compile(r"^[a-z0-9_-](?:[a-z0-9._-]{0,62}[a-z0-9_-])?$")
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
)


class AddressError(ValueError):
    """An address, username or domain that breaks the rules; the message is for a person."""


def normalise_domain(domain: str) -> str:
    value = domain.strip().lower().rstrip(".")
    if not DOMAIN_RE.match(value):
        raise AddressError(f"'{domain}' is not a valid domain name.")
    return value


def validate_username(username: str) -> str:
    """Usernames are case-insensitive: 1–64 of a-z 0-9 . _ -, no edge or double dots."""
    value = username.strip().lower()
    if not USERNAME_RE.match(value) or ".." in value:
        raise AddressError(
            "The username must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-', "
            "not starting or ending with '.' and without '..'."
        )
    return value


def split_address(address: str) -> tuple[str, str]:
    """Split and normalise `user@domain`; raises AddressError on anything else."""
    value = address.strip()
    if value.count("@") != 1:
        raise AddressError(f"'{address}' is not a valid email address.")
    local, domain = value.split("@")
    return validate_username(local), normalise_domain(domain)


def normalise_address(address: str) -> str:
    local, domain = split_address(address)
    return f"{local}@{domain}"


def delivery_address(recipient: str) -> str | None:
    """The mailbox a recipient reaches: lowercase, `user+tag@domain` → `user@domain`.

    Returns None for anything that cannot be one of our mailboxes.
    """
    value = recipient.strip().strip("<>").strip()
    if value.count("@") != 1:
        return None
    local, domain = value.rsplit("@", 1)
    local = local.split("+", 1)[0]
    try:
        return f"{validate_username(local)}@{normalise_domain(domain)}"
    except AddressError:
        return None
