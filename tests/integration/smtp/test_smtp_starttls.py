"""STARTTLS (RFC 3207) with Python's smtplib: the certificate and key from the settings,
reloaded when the files change, and a session that starts over after the handshake."""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
from pathlib import Path
from typing import Any

import pytest

from tests.support import Running, make_settings, serving
from tests.support.certs import write_certificate
from tests.support.smtp import listed, live_box


def trusting(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    return context


@pytest.fixture
async def tls_service(tmp_path: Path) -> Any:
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, key, der = write_certificate(certs, "mx.ephemail.test")
    async with serving(make_settings(tmp_path, tls_cert=cert, tls_key=key)) as svc:
        yield svc, cert, der


async def test_smtplib_delivers_over_starttls(tls_service: tuple[Running, Path, bytes]) -> None:
    svc, cert, der = tls_service
    box, key = await live_box(svc)
    raw = b"From: a@example.org\r\nSubject: over tls\r\n\r\nsecret\r\n"

    def go() -> tuple[bool, str | None, bytes | None, dict[str, Any]]:
        with smtplib.SMTP("127.0.0.1", svc.smtp_port, timeout=10) as smtp:
            smtp.ehlo("client.example")
            offered = smtp.has_extn("starttls")
            assert smtp.starttls(context=trusting(cert))[0] == 220
            sock = smtp.sock
            assert isinstance(sock, ssl.SSLSocket)
            refused = smtp.sendmail("a@example.org", [box], raw)
            return offered, sock.version(), sock.getpeercert(binary_form=True), refused

    offered, version, peer, refused = await asyncio.to_thread(go)
    assert offered
    assert version in ("TLSv1.2", "TLSv1.3")
    assert peer == der
    assert refused == {}
    assert [m["subject"] for m in await listed(svc, key, box)] == ["over tls"]


async def test_after_the_handshake_the_session_starts_over(
    tls_service: tuple[Running, Path, bytes],
) -> None:
    svc, cert, _ = tls_service
    box, _ = await live_box(svc)

    def go() -> dict[str, Any]:
        with smtplib.SMTP("127.0.0.1", svc.smtp_port, timeout=10) as smtp:
            smtp.ehlo("client.example")
            assert smtp.docmd("MAIL FROM:<a@example.org>")[0] == 250  # before TLS
            assert smtp.starttls(context=trusting(cert))[0] == 220
            out = {
                "MAIL before EHLO": smtp.docmd("MAIL FROM:<a@example.org>")[0],
                "RCPT (old transaction gone)": smtp.docmd(f"RCPT TO:<{box}>")[0],
            }
            code, features = smtp.ehlo("client.example")
            out["EHLO"] = code
            out["STARTTLS offered again"] = b"STARTTLS" in features.upper()
            out["second STARTTLS"] = smtp.docmd("STARTTLS")[0]
            out["MAIL after EHLO"] = smtp.docmd("MAIL FROM:<a@example.org>")[0]
            return out

    assert await asyncio.to_thread(go) == {
        "MAIL before EHLO": 503,
        "RCPT (old transaction gone)": 503,
        "EHLO": 250,
        "STARTTLS offered again": False,
        "second STARTTLS": 503,
        "MAIL after EHLO": 250,
    }


async def test_a_renewed_certificate_is_used_without_a_restart(
    tls_service: tuple[Running, Path, bytes], tmp_path: Path
) -> None:
    svc, cert, old = tls_service
    renewed = tmp_path / "renewed"
    renewed.mkdir()
    new_cert, new_key, new = write_certificate(renewed, "mx2.ephemail.test")

    def peer_certificate(trust: Path) -> bytes | None:
        with smtplib.SMTP("127.0.0.1", svc.smtp_port, timeout=10) as smtp:
            smtp.ehlo("client.example")
            smtp.starttls(context=trusting(trust))
            sock = smtp.sock
            assert isinstance(sock, ssl.SSLSocket)
            assert smtp.noop()[0] == 250
            return sock.getpeercert(binary_form=True)

    assert await asyncio.to_thread(peer_certificate, cert) == old
    # Replace both files in place, as a certificate renewal does.
    os.replace(new_key, cert.parent / "key.pem")
    os.replace(new_cert, cert)
    assert await asyncio.to_thread(peer_certificate, cert) == new
    assert new != old


async def test_a_client_that_fails_the_handshake_does_not_stop_others(
    tls_service: tuple[Running, Path, bytes],
) -> None:
    svc = tls_service[0]

    def garbage_handshake() -> None:
        with smtplib.SMTP("127.0.0.1", svc.smtp_port, timeout=10) as smtp:
            smtp.ehlo("client.example")
            assert smtp.docmd("STARTTLS")[0] == 220
            assert smtp.sock is not None
            smtp.sock.sendall(b"this is not a TLS ClientHello\r\n" * 10)
            smtp.sock.settimeout(10)
            while smtp.sock.recv(4096):
                pass

    await asyncio.to_thread(garbage_handshake)
    box, _ = await live_box(svc)
    assert await svc.send(b"Subject: after garbage\r\n\r\nhi\r\n", [box]) == {}
