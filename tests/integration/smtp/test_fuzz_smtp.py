"""Property tests over real SMTP: fuzzed mail is stored and readable, fuzzed dialogues are
answered. Short runs for the suite; `bench/reliability/fuzz.py` is the long run.

Each test starts one service and then runs Hypothesis' whole search in a worker thread
(`asyncio.to_thread`), so the blocking sockets and HTTP calls of every example leave the
test's event loop, where the server runs, free. No fixture is shared with the examples.
"""

from __future__ import annotations

import asyncio
import base64
import quopri
import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import FIXTURES, Running, make_settings, start_service
from tests.support.hostile_mime import SHAPES, finding3_exact, finding4_exact
from tests.support.smtp import REPLY_LINE, Closed, RawSMTP, data_block

T = TypeVar("T")
FUZZ_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    print_blob=True,
)
SEEDS = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]
QUEUED = re.compile(rb"queued as (\S+)")
MESSAGES_PER_BOX = 40  # a fresh mailbox now and then keeps the listings small


# --- generated mail -----------------------------------------------------------------------


@st.composite
def mutated_fixture(draw: st.DrawFn) -> bytes:
    """A hand-written fixture after a few byte flips, cuts, duplications and splices."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "duplicate", "delete", "splice"]))
        size = len(data)
        at = draw(st.integers(0, max(0, size - 1)))
        if op == "flip" and size:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and size:
            data[at] = draw(st.sampled_from(b'\x00\r\n.=-"\\:;<>\x80\xff?'))
        elif op == "truncate":
            del data[at:]
        elif op == "duplicate":
            end = min(size, at + draw(st.integers(1, 400)))
            data[at:at] = data[at:end] * draw(st.integers(1, 4))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 200))]
        else:
            other = draw(st.sampled_from(SEEDS))
            start = draw(st.integers(0, len(other)))
            data[at:at] = other[start : start + draw(st.integers(1, 600))]
    return bytes(data)


CHARSETS = ["utf-8", "iso-8859-1", "koi8-r", "windows-1253", "gb2312", "x-unknown", "base64", ""]
ENCODED_WORD = st.builds(
    lambda cs, enc, text: f"=?{cs}?{enc}?{text}?=",
    st.sampled_from(CHARSETS),
    st.sampled_from(["B", "Q", "b", "X"]),
    st.text(alphabet="aZ09+/=_?-é ", max_size=20),
)
HEADER_TEXT = st.one_of(
    st.text(max_size=60).map(lambda t: t.replace("\r", " ").replace("\n", " ")),
    ENCODED_WORD,
    st.lists(ENCODED_WORD, max_size=4).map(" ".join),
)
FILENAME = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "../../etc/passwd",
            "..\\boot.ini",
            ".hidden",
            "a\r\nX-Injected: yes",
            "rtl\u202egnp.exe",
            "CON",
            "x" * 300 + ".pdf",
            "photo.JPG",
            "photo.jpg",
            "",
        ]
    ),
    ENCODED_WORD,
)


@st.composite
def mime_part(draw: st.DrawFn, depth: int = 0) -> bytes:
    """One MIME entity: headers and a body, multipart (possibly broken) below a few levels."""
    nl = draw(st.sampled_from([b"\r\n", b"\n"]))
    headers = []
    multipart = depth < 3 and draw(st.integers(0, 3)) == 0
    boundary = draw(st.text(alphabet="abc'()+_,-./:=? ", min_size=0, max_size=12))
    if multipart:
        sub = draw(st.sampled_from(["mixed", "alternative", "related", "digest", "x-odd"]))
        headers.append(f'Content-Type: multipart/{sub}; boundary="{boundary}"')
    else:
        ctype = draw(
            st.sampled_from(
                [
                    "text/plain",
                    "text/html",
                    "application/octet-stream",
                    "image/png",
                    "message/rfc822",
                    "text/calendar",
                    "bogus",
                    "multipart/mixed",
                    "",
                ]
            )
        )
        charset = draw(st.sampled_from(CHARSETS))
        if ctype:
            headers.append(f"Content-Type: {ctype}; charset={charset}")
        if draw(st.booleans()):
            name = draw(FILENAME)
            kind = draw(st.sampled_from(["attachment", "inline", "weird"]))
            headers.append(f'Content-Disposition: {kind}; filename="{name}"')
        if draw(st.booleans()):
            headers.append(f"Content-ID: <{draw(FILENAME)}@example>")
    encoding = draw(st.sampled_from(["", "7bit", "8bit", "base64", "quoted-printable", "x-uu"]))
    if encoding:
        headers.append(f"Content-Transfer-Encoding: {encoding}")
    if depth == 0:
        headers.insert(0, f"Subject: {draw(HEADER_TEXT)}")
        headers.insert(0, f"From: {draw(HEADER_TEXT)} <{draw(st.emails())}>")
    head = nl.join(
        h.replace("\r", "").replace("\n", "").encode("utf-8", "surrogateescape") for h in headers
    )
    if multipart:
        children = draw(st.lists(mime_part(depth + 1), max_size=4))
        dash = b"--" + boundary.encode()
        body = b"preamble" + nl
        for child in children:
            body += dash + nl + child + nl
        if draw(st.booleans()):
            body += dash + b"--" + nl
    else:
        payload = draw(st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode)))
        if encoding == "base64" and draw(st.booleans()):
            payload = base64.encodebytes(payload)
        elif encoding == "quoted-printable" and draw(st.booleans()):
            payload = quopri.encodestring(payload)
        body = payload
    return head + nl + nl + body


RAW_MESSAGES = st.one_of(mutated_fixture(), mime_part(), st.binary(max_size=2000))


# --- generated dialogues ------------------------------------------------------------------

VERBS = [
    b"HELO",
    b"EHLO",
    b"MAIL FROM:",
    b"RCPT TO:",
    b"DATA",
    b"BDAT",
    b"RSET",
    b"NOOP",
    b"VRFY",
    b"QUIT",
    b"HELP",
    b"EXPN",
    b"STARTTLS",
    b"AUTH",
    b"helo",
    b"mail from:",
    b"rcpt to:",
    b"",
]


def args(box: str) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.just(b""),
        st.just(f"<{box}>".encode()),
        st.just(box.upper().encode()),
        st.just(b"<>"),
        st.sampled_from(
            [
                b"<a@example.org> SIZE=1000",
                b"<a@example.org> SIZE=99999999999999999999",
                b"<a@example.org> BODY=8BITMIME SMTPUTF8",
                b"<a@example.org> BODY=BINARYMIME",
                b"<a@example.org> FOO=BAR",
                b"<\xc3\xa9@example.org> SMTPUTF8",
                b"PLAIN AHVzZXIAcGFzcw==",
                b"client.example",
                b"<@relay:a@example.org>",
                b"5",
                b"0 LAST",
                b"12 LAST",
                b"3 last",
            ]
        ),
        st.binary(max_size=80),
        st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.integers(400, 700).map(lambda n: b"<" + b"x" * n + b"@example.org>"),
    )


def random_line(box: str) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=60),
        st.builds(
            lambda verb, sep, arg: verb + sep + arg,
            st.sampled_from(VERBS),
            st.sampled_from([b" ", b"", b"  ", b"\t"]),
            args(box),
        ),
    )


@st.composite
def dialogue(draw: st.DrawFn, box: str) -> list[bytes]:
    """Command lines without their line ending; any byte but CR and LF.

    Half the dialogues are a valid transaction with random lines inserted, replaced or
    dropped, so the later states (after MAIL, after RCPT, DATA) are reached too.
    """
    if draw(st.booleans()):
        lines = [
            draw(st.sampled_from([b"EHLO client.example", b"HELO client.example", b"ehlo x"])),
            b"MAIL FROM:" + draw(args(box)),
            f"RCPT TO:<{box}>".encode(),
            b"DATA",
            draw(st.sampled_from([b"RSET", b"NOOP", b"QUIT", b"MAIL FROM:<a@example.org>"])),
        ]
        for _ in range(draw(st.integers(0, 4))):
            at = draw(st.integers(0, len(lines)))
            action = draw(st.sampled_from(["insert", "replace", "drop"]))
            if action == "insert" or not lines[at:]:
                lines.insert(at, draw(random_line(box)))
            elif action == "replace":
                lines[at] = draw(random_line(box))
            else:
                del lines[at]
    else:
        lines = draw(st.lists(random_line(box), min_size=1, max_size=12))
    return [line.replace(b"\r", b"").replace(b"\n", b"") for line in lines]


# --- checks -------------------------------------------------------------------------------

# A BDAT whose size the server can read: it answers only after that many octets.
BDAT_LINE = re.compile(rb"(?i)BDAT +(\d{1,6})(?: LAST)? *\Z")

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def check_message(data: dict[str, Any]) -> None:
    for name in ("subject", "from", "from_email", "content", "id", "to"):
        assert isinstance(data[name], str), name
    for name in ("subject", "from", "from_email"):
        assert CONTROL.search(data[name]) is None and "\n" not in data[name], (name, data[name])
    assert "\x00" not in data["content"]
    assert isinstance(data["html"], bool)
    names: set[str] = set()
    for attachment in data["attachments"]:
        name, extension = attachment["name"], attachment["extension"]
        assert isinstance(name, str) and name, attachment
        assert "/" not in name and "\\" not in name and not name.startswith("."), name
        assert all(unicodedata.category(ch) not in ("Cc", "Cf", "Cs") for ch in name), name
        assert name.casefold() not in names, name
        names.add(name.casefold())
        assert extension == extension.lower(), extension
        if extension:
            assert name.lower().endswith("." + extension), (name, extension)
        assert isinstance(attachment["size"], int) and attachment["size"] >= 0


def send_raw(port: int, box: str, raw: bytes) -> bytes:
    """One transaction over a fresh connection; the final DATA reply line.

    HELO, not EHLO: the server sends a multi-line reply as several small writes, and with
    no TCP_NODELAY on the in-process server's sockets each EHLO stalls on delayed ACKs.
    """
    with RawSMTP(port, timeout=30) as client:
        assert client.greeting() == 220
        assert client.command(b"HELO client.example") == 250
        client.begin_data(box)
        client.send(data_block(raw))
        code, text = client.reply()
        client.command(b"QUIT")
        return str(code).encode() + b" " + text


class Mailboxes:
    """A live mailbox for the examples, replaced every MESSAGES_PER_BOX messages."""

    def __init__(self, svc: Running, loop: asyncio.AbstractEventLoop, email: str) -> None:
        self.svc, self.loop, self.email = svc, loop, email
        self.box = ""
        self.used = MESSAGES_PER_BOX

    def on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def current(self) -> str:
        if self.used >= MESSAGES_PER_BOX:
            self.box = self.on_loop(self.svc.new_mailbox(self.email))
            self.used = 0
        self.used += 1
        return self.box


async def with_service(
    tmp_path: Path, search: Callable[[Running, Mailboxes, str], None], **overrides: Any
) -> None:
    """Start one service, run the whole Hypothesis search in a thread, then check it lives."""
    svc = await start_service(make_settings(tmp_path, **overrides))
    try:
        email, key = await svc.new_user()
        boxes = Mailboxes(svc, asyncio.get_running_loop(), email)
        await asyncio.to_thread(search, svc, boxes, key)
        await asyncio.to_thread(normal_send_works, svc, boxes, key)
    finally:
        await svc.service.stop(grace=1)


def api(svc: Running, key: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    return httpx.Client(base_url=svc.base_url, headers=headers, timeout=30)


def normal_send_works(svc: Running, boxes: Mailboxes, key: str) -> None:
    box = boxes.current()
    subject = f"normal {secrets.token_hex(4)}"
    reply = send_raw(svc.smtp_port, box, f"Subject: {subject}\r\n\r\nhi\r\n".encode())
    assert reply.startswith(b"250 "), reply
    with api(svc, key) as http:
        listing = http.get("/api/messages", params={"email": box})
        assert listing.status_code == 200
        assert subject in [m["subject"] for m in listing.json()["messages"]]


# --- the properties -----------------------------------------------------------------------


async def test_fuzzed_mail_is_stored_and_readable(tmp_path: Path) -> None:
    def search(svc: Running, boxes: Mailboxes, key: str) -> None:
        with api(svc, key) as http:

            @FUZZ_SETTINGS
            @given(raw=RAW_MESSAGES)
            def accepted_mail_is_readable(raw: bytes) -> None:
                box = boxes.current()
                reply = send_raw(svc.smtp_port, box, raw)
                assert reply.startswith(b"250 "), reply  # small, well-framed: always taken
                listed_and_readable(http, box, reply)

            accepted_mail_is_readable()

    await with_service(tmp_path, search)


def listed_and_readable(http: httpx.Client, box: str, reply: bytes) -> None:
    """The message a `250` reply names is listed, readable and its files download."""
    found = QUEUED.search(reply)
    assert found is not None, reply
    message_id = found.group(1).decode()
    listing = http.get("/api/messages", params={"email": box})
    assert listing.status_code == 200, listing.text
    listed = {m["id"]: m for m in listing.json()["messages"]}
    assert message_id in listed
    check_message(listed[message_id])
    one = http.get(f"/api/messages/{message_id}")
    assert one.status_code == 200, one.text
    data = one.json()["data"]
    check_message(data)
    for attachment in data["attachments"][:3]:
        download = http.get(attachment["url"])
        assert download.status_code == 200, (attachment, download.text)
        assert len(download.content) == attachment["size"]


# Every costly shape of tests/support/hostile_mime.py at 64 KiB, and findings 3 and 4 as
# reported. Each transaction must end within a "not stuck" bound (bench/reliability/fuzz.py
# runs them at 1 MiB too).
HOSTILE_INPUTS = [(name, make(64 * 2**10)) for name, make in sorted(SHAPES.items())] + [
    ("finding 3 as reported", finding3_exact()),
    ("finding 4, 7 parts", finding4_exact(parts=7)),
]
HOSTILE_SECONDS = 5.0


async def test_hostile_mail_is_stored_and_readable_in_bounded_time(tmp_path: Path) -> None:
    def search(svc: Running, boxes: Mailboxes, key: str) -> None:
        with api(svc, key) as http:
            for name, raw in HOSTILE_INPUTS:
                box = boxes.current()
                started = time.monotonic()
                reply = send_raw(svc.smtp_port, box, raw)
                took = time.monotonic() - started
                assert reply.startswith(b"250 "), (name, reply)
                assert took < HOSTILE_SECONDS, (name, took)
                listed_and_readable(http, box, reply)

    await with_service(tmp_path, search)


async def test_fuzzed_dialogues_always_get_well_formed_replies(tmp_path: Path) -> None:
    def search(svc: Running, boxes: Mailboxes, key: str) -> None:
        @FUZZ_SETTINGS
        @given(data=st.data(), body=st.binary(max_size=500))
        def every_line_is_answered(data: st.DataObject, body: bytes) -> None:
            box = boxes.current()
            lines = data.draw(dialogue(box))
            with RawSMTP(svc.smtp_port, timeout=5) as client:
                assert client.greeting() == 220
                sender_not_utf8 = False
                for line in lines:
                    sent = line + b"\r\n"
                    chunk = BDAT_LINE.match(line)
                    if chunk is not None:  # the reply comes once the chunk's octets are in
                        filler = body or b"x"
                        size = int(chunk.group(1))
                        sent += (filler * (size // len(filler) + 1))[:size]
                    try:
                        client.send(sent)
                        code, text = client.reply()  # timeout 5 s: a hang fails here
                    except Closed as exc:
                        raise AssertionError(f"closed without a reply to {line!r}") from exc
                    if line[:4].upper() == b"MAIL" and code == 250:
                        try:
                            line.decode("utf-8")
                        except UnicodeDecodeError:
                            sender_not_utf8 = True
                    if chunk is not None:
                        assert code == 250 or 500 <= code < 600 or sender_not_utf8, text
                    if code == 354:
                        client.send(data_block(body))
                        code, text = client.reply()
                        # A 451 here is the known 8-bit envelope sender bug (see
                        # test_smtp_abuse); any other storage failure is a new one.
                        assert code == 250 or 500 <= code < 600 or sender_not_utf8, text
                    if (
                        code in (221, 421)
                        or text.startswith(b"5.5.1 Too many")
                        or text.endswith(b"closing connection")
                    ):
                        closed, rest = client.wait_closed(5)
                        assert closed, f"no close after {code} {text!r}"
                        assert rest == b"", rest
                        return
                    assert 200 <= code < 600

        every_line_is_answered()

    await with_service(tmp_path, search)


def test_reply_line_pattern_is_strict() -> None:
    """The dialogue property is only as good as the reply check it relies on."""
    assert REPLY_LINE.match(b"250 OK\r\n")
    assert REPLY_LINE.match(b"250-SIZE 10\r\n")
    for bad in (b"250OK\r\n", b"25 OK\r\n", b"250 OK\n", b"650 x\r\n", b"250 a\rb\r\n"):
        assert REPLY_LINE.match(bad) is None, bad


# --- hostile inputs (security findings 5 and 6), each with a time bound ---------------------

MIB = 1024 * 1024
HOSTILE_PAYLOADS = st.one_of(
    st.integers(1, 24).map(lambda m: b"X" * (m * MIB)),  # a line that never ends
    st.integers(1, 8).map(lambda m: (b"Y" * 1000 + b"\r\n") * (m * 1024)),  # MiB of lines
    st.integers(1, 400).map(lambda n: b"RCPT TO:<nobody@ephemail.test>\r\n" * n),  # probing
    st.integers(1, 2000).map(lambda n: b"NOOP\r\n" * n),  # a pipelined flood
    st.binary(min_size=1, max_size=4096),
)
PREFIXES = ["", "EHLO hostile.example\r\n", "HELO h\r\nMAIL FROM:<a@example.org>\r\n", "DATA"]
HOSTILE_BOUND = 20.0  # seconds for one input, from connect to the last reply


async def test_hostile_inputs_in_any_split_are_answered_within_a_bound(tmp_path: Path) -> None:
    def search(svc: Running, boxes: Mailboxes, key: str) -> None:
        @settings(FUZZ_SETTINGS, max_examples=40)
        @given(
            prefix=st.sampled_from(PREFIXES),
            payload=HOSTILE_PAYLOADS,
            cuts=st.lists(st.integers(1, 3 * MIB), max_size=6),
        )
        def hostile_input_is_bounded(prefix: str, payload: bytes, cuts: list[int]) -> None:
            box = boxes.current()
            if prefix == "DATA":
                prefix = f"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<{box}>\r\nDATA\r\n"
            stream = prefix.encode() + payload + b"\r\n.\r\nQUIT\r\n"
            began = time.monotonic()
            with RawSMTP(svc.smtp_port, timeout=HOSTILE_BOUND) as client:
                at = 0
                for cut in [*sorted(cuts), len(stream)]:
                    if cut > at:
                        try:
                            client.send(stream[at:cut])
                        except OSError:  # closed early (421, too many errors): fine
                            break
                        at = cut
                closed, received = client.wait_closed(HOSTILE_BOUND)
            assert closed, "the session neither ended at QUIT nor was closed"
            assert time.monotonic() - began < HOSTILE_BOUND * 2
            lines = received.split(b"\r\n")
            assert lines[-1] == b"", received[-200:]
            for line in lines[:-1]:
                assert REPLY_LINE.match(line + b"\r\n"), line[:200]

        hostile_input_is_bounded()

    # Probe floods from one address would use up its unknown-recipient budget and defer
    # the checks' own mail (test_smtp_limits.py tests that budget): here it is lifted.
    await with_service(tmp_path, search, smtp_max_unknown_recipients_per_client=10**9)
