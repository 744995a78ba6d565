"""Which receivers a webhook may reach: http(s) only, and no loopback, private, link-local,
multicast, reserved or unspecified address (nor the cloud metadata address), checked on
every address the name resolves to, at registration and again before every delivery (DNS
answers change). The operator may allow private receivers (`webhook_allow_private`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL = 2048
RESOLVE_SECONDS = 5.0  # a registration waits no longer for DNS
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class Refused(ValueError):
    """The URL may not be a receiver; the message says why, for the API's 422."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent


def parse_target(url: str) -> Target:
    if len(url) > MAX_URL:
        raise Refused(f"the URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"the URL does not parse: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("only http and https URLs can receive webhooks")
    if not parts.hostname:
        raise Refused("the URL has no host")
    if parts.username or parts.password:
        raise Refused("the URL may not carry credentials")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default, path)


def forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address may not be a receiver, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA:
        return "the cloud metadata address"
    for test, name in (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
    ):
        if test:
            return name
    return None


async def resolve(target: Target, allow_private: bool) -> list[str]:
    """The addresses to connect to, all of them allowed; Refused if the name does not
    resolve or any of its addresses is forbidden (one bad answer refuses the name)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise Refused(f"the host {target.host!r} did not resolve in time") from None
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"the host {target.host!r} does not resolve") from exc
    found = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        for text in found:
            why = forbidden(ipaddress.ip_address(text.split("%", 1)[0]))
            if why is not None:
                raise Refused(f"the host {target.host!r} resolves to {why} ({text})")
    if not found:
        raise Refused(f"the host {target.host!r} does not resolve")
    return found
