#!/usr/bin/env python3
"""Long-run fuzzer: the MIME parser on its own, then the whole service over real SMTP.

Phase 1 feeds `ephemail.mail.parse.parse_message` generated and mutated inputs (the
hand-written fixtures under tests/fixtures with byte flips, cuts, duplications and splices;
random MIME trees; header floods; random bytes; deliberately costly nesting) in worker
processes, timing each input and checking the parser's promises on every result: it never
raises, every field is a string free of NUL, control characters and lone surrogates, and
attachment names are safe, unique and carry a lowercase extension. An input that takes more
than `--hang-seconds` of CPU time counts as a hang; a worker stuck for `--kill-seconds` of
wall time is killed and replaced, so a real infinite loop is reported instead of stalling
the run.

Phase 2 starts `ephemail serve` (bench/lib/server.py: free loopback ports, temporary data
directory), sends `--smtp-inputs` of the same kind of inputs over real SMTP and reads every
message that was answered `250` back through the API: the message, its attachments and its
mailbox listing. Any HTTP 5xx, any `250` message that cannot be read, any temporary failure
at DATA and any traceback in the server log is a failure.

Every input is a pure function of (`--seed`, its number), so a failure is replayed with
`--replay NUMBER`; failing inputs are also written to a directory the summary names.

    python bench/reliability/fuzz.py --inputs 100000              # both phases
    python bench/reliability/fuzz.py --inputs 100000 --write-doc  # ... and update the doc
    python bench/reliability/fuzz.py --inputs 2000 --smtp-inputs 200   # a quick look
    python bench/reliability/fuzz.py --replay 4711                # one parser input, in detail

After phase 2, the SMTP inputs of the security review (tests/support/smtp_hostile.py: floods with
no line end, slowloris, 1,000 sockets from one address, 5,000 recipient probes) run once
each against a server with short session bounds; one that breaks its time bound, or after
which another client cannot deliver, is a failure.

Exits non-zero if anything failed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import multiprocessing as mp
import os
import quopri
import random
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
import traceback
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, which holds lib/
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))  # the root, for tests.support

from ephemail.mail.parse import MAX_NAME, ParsedMessage, parse_message
from ephemail.mail.prepare import INLINE_PREPARE_BYTES
from lib.docs import RELIABILITY, today, write_section
from lib.machine import machine
from lib.options import add_options, script_parser
from lib.server import ROOT, Server, raise_limits, running_server
from lib.smtp_client import BlockingSmtp, SmtpReplyError
from lib.source import source_state
from lib.stats import percentile
from tests.support import smtp_hostile
from tests.support.hostile_mime import SHAPES, finding3_exact, finding4_exact

FIXTURES = ROOT / "tests" / "fixtures"
COMMAND = ".venv/bin/python bench/reliability/fuzz.py --inputs 100000 --write-doc"

# --- input generation ---------------------------------------------------------------------

KINDS = ("mutated", "generated", "spliced", "headers", "random", "stress")
WEIGHTS = (45.0, 26.0, 10.0, 10.0, 8.7, 0.3)
INTERESTING = (
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b"--",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"=",
    b"=\r\n",
    b"?=",
    b"=?utf-8?B?",
    b"=?iso-8859-1?Q?",
    b"=?x-unknown?B?",
    b'"',
    b";",
    b"\\",
    b"/",
    b"../",
    b" boundary=",
    b"; filename*0*=utf-8''",
    b"; name*=",
    b"Content-Type: multipart/mixed; boundary=x\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Disposition: attachment; filename=",
    b"\r\n--x\r\n",
    b"\r\n--x--\r\n",
    b"\t",
    b" ",
    b"\x1b[31m",
    b"\u202e".decode("unicode_escape").encode(),
)
CHARSETS = (
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "iso-8859-8-i",
    "koi8-r",
    "windows-1253",
    "gb2312",
    "shift_jis",
    "utf-16",
    "utf-7",
    "x-unknown",
    "base64",
    "zlib",
    "",
    "'utf-8'",
)
CONTENT_TYPES = (
    "text/plain",
    "text/html",
    "text/calendar",
    "application/octet-stream",
    "application/pdf",
    "image/png",
    "image/jpeg",
    "message/rfc822",
    "message/delivery-status",
    "multipart/mixed",
    "text",
    "bogus/",
    "",
)
HOSTILE_NAMES = (
    "../../etc/passwd",
    "..\\..\\boot.ini",
    ".hidden",
    "a\r\nX-Injected: yes.sh",
    "invoice\u202efdp.exe",
    "CON",
    "nul.txt",
    "x" * 400 + ".pdf",
    "photo.JPG",
    "photo.jpg",
    "PHOTO.jpg",
    "  spaced  .txt ",
    "tab\tname.doc",
    "zero\x00byte.bin",
    "emoji 😀.png",
    "e\u0301.txt",
    "...",
    ".",
    "",
    "name.averyveryverylongextensionindeed",
)


def _seed_corpus() -> list[bytes]:
    seeds = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]
    seeds.append(
        b"From: a@example.org\r\nSubject: tiny\r\n\r\nbody\r\n"
        b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\nx\r\n--q--\r\n"
    )
    return seeds


SEEDS = _seed_corpus()


def _word(rng: random.Random) -> str:
    encoded = base64.b64encode(rng.randbytes(rng.randint(0, 24))).decode()
    charset = rng.choice(CHARSETS)
    if rng.random() < 0.5:
        return f"=?{charset}?B?{encoded}?="
    text = "".join(rng.choice("abcXYZ_=?é09 ") for _ in range(rng.randint(0, 20)))
    return f"=?{charset}?{rng.choice('QqXB')}?{text}?="


def _header_text(rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.3:
        return " ".join(_word(rng) for _ in range(rng.randint(1, 5)))
    if choice < 0.6:
        return "".join(
            chr(rng.choice((rng.randint(32, 126), rng.randint(0, 0x2FFFF))))
            for _ in range(rng.randint(0, 60))
        )
    return rng.choice(("Hello", "Re: Fwd: report", "", "  ", "Grüße", "Привет", "📎 files"))


def _name(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(HOSTILE_NAMES)
    if rng.random() < 0.5:
        return _word(rng)
    stem = "".join(rng.choice("abcDEF 01-_.é/\\") for _ in range(rng.randint(0, 30)))
    return stem + rng.choice(("", ".pdf", ".PDF", ".tar.gz", ".", ".e x e"))


def _nl(rng: random.Random) -> bytes:
    return rng.choice((b"\r\n", b"\r\n", b"\n", b"\r"))


def _mime(rng: random.Random, depth: int = 0, max_depth: int = 4) -> bytes:
    """A random MIME entity; sometimes broken on purpose."""
    nl = _nl(rng)
    headers: list[str] = []
    if depth == 0:
        headers.append(f"From: {_header_text(rng)} <{rng.choice(('a', 'B.c', ''))}@Example.ORG>")
        headers.append(f"Subject: {_header_text(rng)}")
        headers.append("MIME-Version: 1.0")
    multipart = depth < max_depth and rng.random() < 0.35
    boundary = "".join(rng.choice("abc'()+_,-./:=? ") for _ in range(rng.randint(0, 20)))
    if multipart:
        sub = rng.choice(("mixed", "alternative", "related", "digest", "signed", "x-odd"))
        quoted = f'"{boundary}"' if rng.random() < 0.7 else boundary
        headers.append(f"Content-Type: multipart/{sub}; boundary={quoted}")
    else:
        ctype = rng.choice(CONTENT_TYPES)
        params = f"; charset={rng.choice(CHARSETS)}" if rng.random() < 0.6 else ""
        if rng.random() < 0.3:
            params += f'; name="{_name(rng)}"'
        if rng.random() < 0.1:
            params += "; name*0*=utf-8''%E2%82%AC; name*1=.txt"
        headers.append(f"Content-Type: {ctype}{params}")
        if rng.random() < 0.4:
            kind = rng.choice(("attachment", "inline", "weird", ""))
            headers.append(f'Content-Disposition: {kind}; filename="{_name(rng)}"')
        if rng.random() < 0.25:
            headers.append(f"Content-ID: <{_name(rng)}@example>")
    encoding = rng.choice(("", "7bit", "8bit", "binary", "base64", "quoted-printable", "x-uu"))
    if encoding:
        headers.append(f"Content-Transfer-Encoding: {encoding}")
    rng.shuffle(headers)
    head = nl.join(h.encode("utf-8", "surrogatepass") for h in headers)
    if multipart:
        dash = b"--" + boundary.encode()
        parts = [_mime(rng, depth + 1, max_depth) for _ in range(rng.randint(0, 5))]
        body = b"preamble" + nl + b"".join(dash + nl + part + nl for part in parts)
        if rng.random() < 0.8:
            body += dash + b"--" + nl + b"epilogue"
    else:
        size = rng.choice((0, 10, 100, 1000, 5000))
        payload = rng.randbytes(rng.randint(0, size))
        if rng.random() < 0.5:
            payload = "".join(rng.choice("hello wörld\n<b>x</b>") for _ in range(size)).encode()
        if encoding == "base64" and rng.random() < 0.8:
            payload = base64.encodebytes(payload)
        elif encoding == "quoted-printable" and rng.random() < 0.8:
            payload = quopri.encodestring(payload)
        body = payload
    return head + nl + nl + body


def _mutate(rng: random.Random, data: bytes, rounds: int) -> bytes:
    buf = bytearray(data)
    for _ in range(rounds):
        size = len(buf)
        at = rng.randint(0, size)
        op = rng.randrange(10)
        if op == 0 and size:
            buf[min(at, size - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and size:
            buf[min(at, size - 1)] = rng.randrange(256)
        elif op == 2:
            buf[at:at] = rng.choice(INTERESTING)
        elif op == 3:
            del buf[at : at + rng.randint(1, 64)]
        elif op == 4:
            end = min(size, at + rng.randint(1, 512))
            buf[at:at] = bytes(buf[at:end]) * rng.randint(1, 8)
        elif op == 5:
            del buf[at:]
        elif op == 6:
            other = rng.choice(SEEDS)
            start = rng.randint(0, len(other))
            buf[at:at] = other[start : start + rng.randint(1, 800)]
        elif op == 7:
            buf = bytearray(
                bytes(buf).replace(b"\r\n", b"\n")
                if rng.random() < 0.5
                else bytes(buf).replace(b"\n", b"\r\n")
            )
        elif op == 8:
            end = min(size, at + rng.randint(1, 200))
            chunk = bytes(buf[at:end])
            buf[at:end] = chunk.upper() if rng.random() < 0.5 else chunk.lower()
        else:
            line_start = bytes(buf).rfind(b"\n", 0, at) + 1
            line_end = bytes(buf).find(b"\n", at)
            line = bytes(buf[line_start : line_end + 1 if line_end >= 0 else size])
            buf[line_start:line_start] = line * rng.randint(1, 50)
    return bytes(buf)


def _headers_flood(rng: random.Random) -> bytes:
    nl = _nl(rng)
    lines: list[bytes] = []
    for _ in range(rng.randint(1, 120)):
        name = rng.choice(("Subject", "From", "Content-Type", "Content-Disposition", "X-A", "To"))
        value = _header_text(rng).encode("utf-8", "surrogatepass")
        if rng.random() < 0.1:
            value = (_word(rng) + " ").encode() * rng.randint(10, 200)
        if rng.random() < 0.1:
            value = b"x" * rng.randint(1000, 12000)
        if rng.random() < 0.2:
            value = nl.join(value[i : i + 40] for i in range(0, len(value), 40)).replace(
                nl, nl + b" "
            )
        if rng.random() < 0.05:
            value = b'"' * rng.randint(1, 3000) + b"<a@b>"
        lines.append(name.encode() + b": " + value)
    return nl.join(lines) + nl + nl + b"body" + nl


def _random_bytes(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return rng.randbytes(rng.randint(0, 4096))
    alphabet = b'abc:; ="<>@.-\r\n\t\x00\xff?'
    return bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 4096)))


def _stress(rng: random.Random) -> bytes:
    """Shapes that cost the parser the most: deep nesting, many parts, long everything."""
    shape = rng.randrange(7)
    if shape == 0:  # deep nesting, each level a new boundary
        depth = rng.randint(20, 400)
        head = b"".join(
            b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
            for i in range(depth)
        )
        return b"Subject: deep\r\n" + head + b"\r\nleaf\r\n" * rng.randint(1, 2000)
    if shape == 1:  # one multipart with thousands of parts
        count = rng.randint(500, 6000)
        part = b"--p\r\nContent-Type: application/octet-stream; name=a.bin\r\n\r\nxx\r\n"
        return b"Content-Type: multipart/mixed; boundary=p\r\n\r\n" + part * count + b"--p--\r\n"
    if shape == 2:  # many lines under many open boundaries
        levels = rng.randint(5, 60)
        head = b"".join(
            b"Content-Type: multipart/mixed; boundary=l%d\r\n\r\n--l%d\r\n" % (i, i)
            for i in range(levels)
        )
        return head + b"\r\n" + b"--nothing\r\n" * rng.randint(1000, 30000)
    if shape == 3:  # a huge folded header
        return b"Subject: " + b"word \r\n " * rng.randint(1000, 50000) + b"\r\n\r\nbody\r\n"
    if shape == 4:  # thousands of encoded words
        words = " ".join(_word(rng) for _ in range(rng.randint(500, 5000)))
        return f"Subject: {words}\r\nFrom: {words} <a@b.org>\r\n\r\nx\r\n".encode()
    if shape == 5:  # a long broken base64 attachment
        junk = base64.encodebytes(rng.randbytes(rng.randint(10_000, 400_000)))
        junk = _mutate(rng, junk, rng.randint(1, 50))
        return (
            b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
            b'Content-Type: application/pdf; name="a.pdf"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + junk + b"\r\n--z--\r\n"
        )
    # message/rfc822 inside message/rfc822, deeply
    depth = rng.randint(10, 200)
    inner = b"Subject: innermost\r\n\r\nhello\r\n"
    for _ in range(depth):
        inner = b"Content-Type: message/rfc822\r\n\r\n" + inner
    return b"Subject: wrapped\r\n" + inner


def generate(seed: int, number: int, max_size: int) -> tuple[str, bytes]:
    """Input `number` of run `seed`: the same bytes on every machine and every run."""
    rng = random.Random(f"{seed}:{number}")
    kind = rng.choices(KINDS, WEIGHTS)[0]
    if kind == "mutated":
        data = _mutate(rng, rng.choice(SEEDS), rng.randint(1, 12))
    elif kind == "generated":
        data = _mime(rng)
        if rng.random() < 0.3:
            data = _mutate(rng, data, rng.randint(1, 6))
    elif kind == "spliced":
        first, second = rng.choice(SEEDS), _mime(rng)
        data = first[: rng.randint(0, len(first))] + second[rng.randint(0, len(second)) :]
    elif kind == "headers":
        data = _headers_flood(rng)
    elif kind == "random":
        data = _random_bytes(rng)
    else:
        data = _stress(rng)
    return kind, data[:max_size]


# --- the parser's promises ----------------------------------------------------------------

_BAD_CHARS = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_MIME_TYPE = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+/[!#$%&'*+.^_`|~0-9a-z-]+$")


def violations(parsed: Any) -> list[str]:
    """What is wrong with one parse result; empty when every promise holds."""
    if not isinstance(parsed, ParsedMessage):
        return [f"result is {type(parsed).__name__}"]
    found: list[str] = []
    for name in ("subject", "from_name", "from_email", "content"):
        value = getattr(parsed, name)
        if not isinstance(value, str):
            found.append(f"{name} is {type(value).__name__}")
            continue
        if name == "content":
            if "\x00" in value or re.search("[\ud800-\udfff]", value):
                found.append("content holds NUL or a lone surrogate")
        elif _BAD_CHARS.search(value):
            found.append(f"{name} holds a control character or surrogate: {value[:80]!r}")
    if not isinstance(parsed.is_html, bool):
        found.append("is_html is not a bool")
    if "@" in parsed.from_email:
        local, _, domain = parsed.from_email.rpartition("@")
        if not local or not domain:
            found.append(f"from_email lacks a local part or domain: {parsed.from_email!r}")
        elif domain != domain.lower():
            found.append(f"from_email domain not lowercase: {parsed.from_email!r}")
    if not isinstance(parsed.attachments, tuple):
        found.append("attachments is not a tuple")
        return found
    taken: set[str] = set()
    for item in parsed.attachments:
        name, extension = item.name, item.extension
        if not isinstance(name, str) or not name:
            found.append(f"empty or non-string attachment name {name!r}")
            continue
        if len(name) > MAX_NAME:
            found.append(f"attachment name longer than {MAX_NAME}: {len(name)}")
        if "/" in name or "\\" in name or name.startswith(".") or name in (".", ".."):
            found.append(f"unsafe attachment name {name!r}")
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
            found.append(f"control/format character in attachment name {name!r}")
        if name != name.strip():
            found.append(f"attachment name with outer whitespace {name!r}")
        if unicodedata.normalize("NFC", name) != name:
            found.append(f"attachment name not NFC {name!r}")
        if name.casefold() in taken:
            found.append(f"duplicate attachment name {name!r}")
        taken.add(name.casefold())
        if not isinstance(extension, str) or extension != extension.lower():
            found.append(f"extension not lowercase {extension!r}")
        elif extension and not name.lower().endswith("." + extension):
            found.append(f"extension {extension!r} does not end {name!r}")
        elif "." in extension or len(extension) > 16 or any(c.isspace() for c in extension):
            found.append(f"odd extension {extension!r}")
        if not isinstance(item.content_type, str) or not _MIME_TYPE.match(item.content_type):
            found.append(f"bad attachment content type {item.content_type!r}")
        if item.content_id is not None and (
            not isinstance(item.content_id, str) or _BAD_CHARS.search(item.content_id)
        ):
            found.append(f"bad content id {item.content_id!r}")
        if not isinstance(item.data, bytes):
            found.append("attachment data is not bytes")
    return found


# --- the hostile corpus: known costly shapes, each with a time bound ----------------------

# A hostile input's parse may take at most this, in CPU seconds: linear in its size. Measured
# costs are ~10x below (docs/reliability.md, "Parser bounds"); the bound catches a regression
# to superlinear time, which at 1 MiB would be off by orders of magnitude.
HOSTILE_BASE_SECONDS = 0.05
HOSTILE_SECONDS_PER_MIB = 0.5
HOSTILE_SIZES = (64 * 2**10, 2**20)
# Over SMTP, per transaction: 2 s plus 8 s per MiB. The SMTP layer (aiosmtpd's DATA loop)
# costs ~13 µs per line, so 1 MiB of empty lines takes ~7 s to receive, whatever the parse.
HOSTILE_SMTP_SECONDS = 2.0
HOSTILE_SMTP_SECONDS_PER_MIB = 8.0
SMTP_MAX_LINE = 256 * 2**10  # longer DATA lines are refused with 500 by design


def hostile_corpus(sizes: tuple[int, ...] = HOSTILE_SIZES) -> list[tuple[str, bytes]]:
    """Every shape of tests/support/hostile_mime.py at each size, and findings 3 and 4 as
    reported."""
    corpus = [
        ("finding 3 as reported (105 KB)", finding3_exact()),
        ("finding 4 as reported, 1,000 parts", finding4_exact(parts=1000)),
    ]
    for size in sizes:
        corpus += [(f"{name} @ {size // 2**10:,} KiB", make(size)) for name, make in SHAPES.items()]
    return corpus


def hostile_bound(size: int) -> float:
    return HOSTILE_BASE_SECONDS + HOSTILE_SECONDS_PER_MIB * size / 2**20


@dataclasses.dataclass
class HostileStats:
    inputs: int = 0
    over_bound: list[Failure] = dataclasses.field(default_factory=list)
    worst_per_mib: float = 0.0  # the highest seconds per MiB, among inputs of 1 MiB or more
    worst_name: str = ""
    slowest: float = 0.0
    slowest_name: str = ""


def run_hostile(save: Callable[[str, int, bytes], None]) -> HostileStats:
    """Parse the hostile corpus in this process, each input timed in CPU seconds."""
    stats = HostileStats()
    for number, (name, data) in enumerate(hostile_corpus()):
        started = time.process_time()
        parsed = parse_message(data, "envelope@example.org")
        took = time.process_time() - started
        stats.inputs += 1
        problems = violations(parsed)
        if took > hostile_bound(len(data)) or problems:
            what = "; ".join(problems) or f"{took:.3f} s > {hostile_bound(len(data)):.3f} s"
            stats.over_bound.append(Failure(number, name, what, took))
            save("hostile", number, data)
        if took > stats.slowest:
            stats.slowest, stats.slowest_name = took, name
        if len(data) >= 2**20 and took / (len(data) / 2**20) > stats.worst_per_mib:
            stats.worst_per_mib, stats.worst_name = took / (len(data) / 2**20), name
    return stats


def bounds_table(sizes: tuple[int, ...], repeats: int) -> list[tuple[str, list[tuple[int, float]]]]:
    """(shape, [(input bytes, best CPU seconds of `repeats`)]) for every shape and size."""
    rows = []
    for name, make in SHAPES.items():
        cells = []
        for size in sizes:
            data = make(size)
            best = float("inf")
            for _ in range(repeats if size < 2**20 else 1):
                started = time.process_time()
                parse_message(data, "envelope@example.org")
                best = min(best, time.process_time() - started)
            cells.append((len(data), best))
        note(f"bounds: {name}: " + ", ".join(f"{n:,} B {t * 1000:.1f} ms" for n, t in cells))
        rows.append((name, cells))
    return rows


def bounds_section(rows: list[tuple[str, list[tuple[int, float]]]]) -> str:
    def cell(size: int, seconds: float) -> str:
        per_mib = seconds * 1000 / (size / 2**20)
        return f"{seconds * 1000:,.1f} ms ({per_mib:,.0f} ms/MiB)"

    sizes = [f"~{size / 2**10:,.0f} KiB" for size in BOUNDS_SIZES]
    lines = [f"| {name} | " + " | ".join(cell(*c) for c in cells) + " |" for name, cells in rows]
    worst_inline = max(c[1] for _, cells in rows for c in cells if c[0] <= INLINE_PREPARE_BYTES)
    worst_large = max(cells[-1][1] / (cells[-1][0] / 2**20) for _, cells in rows)
    return f"""## Parser bounds: `bench/reliability/fuzz.py --bounds`

Every step of the MIME parser (`src/ephemail/mail/parse/`) is one pass, or a constant number
of passes, over its input, and every loop over parts, headers, parameters, comments or
delimiter-like lines stops at a bound in `limits.py`: at most 1,000 MIME entities (and, past the
first 64, one per 64 bytes of input), 50 nesting levels, 1,000 header lines
per entity, 8,192 characters per header value, 128 parameters and 256 parentheses per value,
2,048 characters of a file name or From value decoded, 1,000 lines shaped like a delimiter
that are none and 20,000 boundary look-alikes. No nested multipart searches for its
delimiter past its parent's part. No regular expression has two unbounded quantifiers that
compete for the same characters. So a parse costs at most a constant per byte plus a constant
per part: the shapes of many tiny parts cost ~50 µs a part, so their per-MiB figure is high
in small messages, but 1,000 parts cap them at ~60 ms for any message.

The table parses each shape of `tests/support/hostile_mime.py`, which repeats its costly unit up to
the size (a few need more than 4 KiB for one unit: their first cell is at that size), in
CPU time on one core: best of {BOUNDS_REPEATS} below 1 MiB, one run at 8 MiB. Messages up to
`INLINE_PREPARE_BYTES` = 4 KiB (`mail/prepare.py`) are parsed on the event loop, larger ones
in a thread; the worst of the first column's cells of at most 4 KiB is the inline worst
case: **{worst_inline * 1000:,.1f} ms**. The last column is the per-MiB bound near the
10 MiB size limit:
**{worst_large * 1000:,.0f} ms per MiB** at most, so a message at the limit parses in under
{worst_large * 10 + 0.05:.1f} s (in a thread, which gives up the GIL every 5 ms). The fuzzer's
hostile corpus holds every input to {HOSTILE_BASE_SECONDS * 1000:.0f} ms +
{HOSTILE_SECONDS_PER_MIB * 1000:.0f} ms per MiB. The machine is shared, so repeated runs
vary by up to about 2x.

Memory per parse: the input, one lowered copy for the delimiter search, the header values
(each cut to 8,192 characters) and the decoded parts, so a few times the message size; an
SMTP session holds at most one message of at most 10 MiB while it is received.

    {BOUNDS_COMMAND}

Last run: {today()}, {machine()}.

| Shape | {" | ".join(sizes)} |
|---|{"---|" * len(sizes)}
{chr(10).join(lines)}
"""


BOUNDS_REPEATS = 5
BOUNDS_COMMAND = ".venv/bin/python bench/reliability/fuzz.py --bounds --write-doc"
BOUNDS_SIZES = (4 * 2**10, 64 * 2**10, 8 * 2**20)


# --- phase 1: the parser in worker processes ----------------------------------------------


@dataclasses.dataclass
class Failure:
    number: int
    kind: str
    what: str
    seconds: float = 0.0


@dataclasses.dataclass
class ParserStats:
    inputs: int = 0
    crashes: list[Failure] = dataclasses.field(default_factory=list)
    hangs: list[Failure] = dataclasses.field(default_factory=list)
    violations: list[Failure] = dataclasses.field(default_factory=list)
    times: list[float] = dataclasses.field(default_factory=list)
    slowest: Failure = dataclasses.field(default_factory=lambda: Failure(-1, "", "", 0.0))
    kinds: Counter[str] = dataclasses.field(default_factory=Counter)
    bytes_parsed: int = 0
    seconds: float = 0.0
    hostile: HostileStats = dataclasses.field(default_factory=HostileStats)

    def findings(self) -> list[tuple[str, list[Failure]]]:
        """Each kind of failure with its label, in the order reports list them."""
        return [("crash", self.crashes), ("hang", self.hangs), ("violation", self.violations)]


def _parse_one(seed: int, number: int, max_size: int, hang: float) -> dict[str, Any]:
    kind, data = generate(seed, number, max_size)
    started = time.process_time()  # CPU time: other load on the machine does not count
    try:
        parsed = parse_message(data, "envelope@example.org" if number % 2 else None)
    except BaseException as exc:  # parse_message promises never to raise
        if isinstance(exc, KeyboardInterrupt):
            raise
        elapsed = time.process_time() - started
        return {"kind": kind, "size": len(data), "t": elapsed, "crash": traceback.format_exc()}
    elapsed = time.process_time() - started
    result: dict[str, Any] = {"kind": kind, "size": len(data), "t": elapsed}
    problems = violations(parsed)
    if problems:
        result["violations"] = problems
    if elapsed > hang:
        result["hang"] = True
    return result


def _worker(
    seed: int,
    first: tuple[int, int],
    counter: Any,
    total: int,
    slot: int,
    started: Any,
    current: Any,
    batch: Any,
    results: Any,
    max_size: int,
    hang: float,
    memory_mib: int,
    skip: frozenset[int],
) -> None:
    """Parse inputs: first the range it was given, then batches from the shared counter.

    One report per batch, sent with a synchronous queue between inputs, so a worker killed
    while parsing never leaves half a report in the pipe.
    """
    with contextlib.suppress(ValueError, OSError):
        limit = memory_mib * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    start, end = first
    while True:
        batch[2 * slot], batch[2 * slot + 1] = start, end
        report: dict[str, Any] = {"times": [], "kinds": Counter(), "bytes": 0, "failures": []}
        for number in range(start, end):
            if number in skip:
                continue
            current[slot] = number
            started[slot] = time.monotonic()
            result = _parse_one(seed, number, max_size, hang)
            started[slot] = 0.0
            report["times"].append((result["t"], number, result["kind"]))
            report["kinds"][result["kind"]] += 1
            report["bytes"] += result["size"]
            if "crash" in result:
                report["failures"].append(("crash", number, result["kind"], result["crash"]))
            if "violations" in result:
                text = "; ".join(result["violations"])[:2000]
                report["failures"].append(("violation", number, result["kind"], text))
            if result.get("hang"):
                report["failures"].append(("hang", number, result["kind"], "slow input"))
        results.put(report)
        with counter.get_lock():
            start = counter.value
            if start >= total:
                return
            end = min(total, start + 200)
            counter.value = end


def run_parser(args: argparse.Namespace, save: Callable[[str, int, bytes], None]) -> ParserStats:
    stats = ParserStats()
    context = mp.get_context("fork")
    total = args.inputs
    jobs = max(1, min(args.jobs, total))
    counter = context.Value("q", 0)
    started = context.Array("d", jobs)
    current = context.Array("q", jobs)
    batch = context.Array("q", 2 * jobs)  # (start, end) of each worker's current batch
    results = context.SimpleQueue()
    workers: list[Any] = [None] * jobs
    killed: set[int] = set()  # inputs that stopped a worker: skipped when a batch is redone

    def spawn(slot: int, first: tuple[int, int]) -> None:
        process = context.Process(
            target=_worker,
            args=(
                args.seed,
                first,
                counter,
                total,
                slot,
                started,
                current,
                batch,
                results,
                args.max_size,
                args.hang_seconds,
                args.memory_mib,
                frozenset(killed),
            ),
            daemon=True,
        )
        process.start()
        workers[slot] = process

    def take(size: int) -> tuple[int, int]:
        with counter.get_lock():
            begin = counter.value
            counter.value = min(total, begin + size)
            return begin, counter.value

    began = time.monotonic()
    for slot in range(jobs):
        spawn(slot, take(200))
    last_note = began

    def absorb(report: dict[str, Any]) -> None:
        stats.kinds.update(report["kinds"])
        stats.bytes_parsed += report["bytes"]
        for seconds, number, kind in report["times"]:
            stats.times.append(seconds)
            if seconds > stats.slowest.seconds:
                stats.slowest = Failure(number, kind, "slowest", seconds)
        for what, number, kind, text in report["failures"]:
            failure = Failure(number, kind, text)
            if what == "hang":
                failure.seconds = next(t for t, n, _ in report["times"] if n == number)
                stats.hangs.append(failure)
            else:
                (stats.crashes if what == "crash" else stats.violations).append(failure)
            _, data = generate(args.seed, number, args.max_size)
            save(f"parser-{what}", number, data)

    def redo(slot: int, number: int) -> tuple[int, int]:
        """The unreported batch of a worker that stopped at `number`, to run again."""
        killed.add(number)
        return batch[2 * slot], max(batch[2 * slot + 1], number + 1)

    while True:
        if not results.empty():
            absorb(results.get())
            continue
        time.sleep(0.1)
        now = time.monotonic()
        for slot, process in enumerate(workers):
            busy = started[slot]
            if process.is_alive() and busy and now - busy > args.kill_seconds:
                number = current[slot]
                process.kill()
                process.join()
                kind, data = generate(args.seed, number, args.max_size)
                stats.hangs.append(Failure(number, kind, "killed", now - busy))
                stats.times.append(now - busy)
                stats.kinds[kind] += 1
                save("parser-hang", number, data)
                if now - busy > stats.slowest.seconds:
                    stats.slowest = Failure(number, kind, "killed", now - busy)
                spawn(slot, redo(slot, number))
            elif not process.is_alive() and process.exitcode not in (0, None):
                # Died without a report (e.g. the interpreter itself crashed).
                number = current[slot]
                kind, data = generate(args.seed, number, args.max_size)
                stats.crashes.append(Failure(number, kind, f"worker exit {process.exitcode}"))
                stats.kinds[kind] += 1
                save("parser-crash", number, data)
                process.join()
                spawn(slot, redo(slot, number))
        if all(not p.is_alive() for p in workers) and results.empty():
            break
        if now - last_note > 15:
            last_note = now
            note(
                f"parser: {len(stats.times):,}/{total:,} inputs, {len(stats.crashes)} crashes, "
                f"{len(stats.hangs)} hangs, {len(stats.violations)} violations, "
                f"slowest {stats.slowest.seconds:.2f} s"
            )
    stats.inputs = len(stats.times)
    stats.seconds = time.monotonic() - began
    return stats


# --- phase 2: the whole service over SMTP -------------------------------------------------


@dataclasses.dataclass
class SmtpStats:
    inputs: int = 0
    accepted: int = 0
    refused: Counter[int] = dataclasses.field(default_factory=Counter)
    tempfail: list[Failure] = dataclasses.field(default_factory=list)
    http_5xx: list[str] = dataclasses.field(default_factory=list)
    lost: list[str] = dataclasses.field(default_factory=list)
    bad_json: list[str] = dataclasses.field(default_factory=list)
    server_errors: list[str] = dataclasses.field(default_factory=list)
    dropped: int = 0
    hostile: int = 0  # hostile-corpus messages sent
    hostile_slow: list[Failure] = dataclasses.field(default_factory=list)
    hostile_slowest: float = 0.0
    slowest_reply: float = 0.0
    requests: int = 0
    seconds: float = 0.0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)


_QUEUED = re.compile(rb"queued as (\S+)")
SENDERS = (b"fuzz@example.org", b"", b"F.U.Z.Z@Example.ORG", b"\xc3\xa9t\xc3\xa9@example.org")


def _check_json(data: Any) -> list[str]:
    problems: list[str] = []
    if not isinstance(data, dict):
        return ["data is not an object"]
    for name in ("subject", "from", "from_email", "content", "id", "to", "receivedAt"):
        if not isinstance(data.get(name), str):
            problems.append(f"{name} is not a string")
    if not isinstance(data.get("html"), bool):
        problems.append("html is not a bool")
    names: set[str] = set()
    for item in data.get("attachments", []):
        name = item.get("name")
        if not isinstance(name, str) or not name or "/" in name or name.casefold() in names:
            problems.append(f"bad attachment name {name!r}")
            continue
        names.add(name.casefold())
        extension = item.get("extension")
        if not isinstance(extension, str) or extension != extension.lower():
            problems.append(f"bad extension {extension!r}")
    return problems


class Mailbox:
    def __init__(self, http: httpx.Client) -> None:
        response = http.post("/api/emails")
        if response.status_code != 200:
            raise RuntimeError(f"POST /api/emails: {response.status_code} {response.text}")
        self.address: str = response.json()["data"]["email"]
        self.ids: list[str] = []


def run_smtp(args: argparse.Namespace, save: Callable[[str, int, bytes], None]) -> SmtpStats:
    stats = SmtpStats()
    numbers = iter(range(args.inputs, args.inputs + args.smtp_inputs))
    numbers_lock = threading.Lock()
    env = {"EPHEMAIL_MAILBOX_MESSAGE_CAP": "1000000", "EPHEMAIL_MAX_SMTP_CONNECTIONS": "100"}
    began = time.monotonic()
    with running_server(1, env) as server:
        raise_limits(server)

        def next_number() -> int | None:
            with numbers_lock:
                return next(numbers, None)

        def get(http: httpx.Client, url: str, **params: str) -> httpx.Response:
            response = http.get(url, params=params or None)
            with stats.lock:
                stats.requests += 1
                if response.status_code >= 500:
                    stats.http_5xx.append(f"GET {url} -> {response.status_code}")
            return response

        def verify_listing(http: httpx.Client, box: Mailbox) -> None:
            if not box.ids:
                return
            response = get(http, "/api/messages", email=box.address)
            listed = (
                {m["id"] for m in response.json().get("messages", [])}
                if response.status_code == 200
                else set()
            )
            missing = [i for i in box.ids if i not in listed]
            with stats.lock:
                stats.lost.extend(f"{i} not listed in {box.address}" for i in missing)

        def client_loop() -> None:
            with server.api(timeout=60) as http:
                box = Mailbox(http)
                smtp: BlockingSmtp | None = None
                try:
                    while (number := next_number()) is not None:
                        if len(box.ids) >= args.per_mailbox:
                            verify_listing(http, box)
                            box = Mailbox(http)
                        _, raw = generate(args.seed, number, args.smtp_max_size)
                        sender = SENDERS[number % len(SENDERS)]
                        try:
                            smtp = smtp or BlockingSmtp(server.smtp_port)
                            sent = time.monotonic()
                            stage, code, text = smtp.send(sender, box.address, raw)
                            took = time.monotonic() - sent
                        except (OSError, ValueError, SmtpReplyError):
                            with stats.lock:
                                stats.dropped += 1
                            if smtp is not None:
                                smtp.close()
                            smtp = None
                            continue
                        with stats.lock:
                            stats.inputs += 1
                            stats.slowest_reply = max(stats.slowest_reply, took)
                        if code == 250 and stage == "DATA":
                            found = _QUEUED.search(text)
                            message_id = found.group(1).decode() if found else ""
                            box.ids.append(message_id)
                            with stats.lock:
                                stats.accepted += 1
                            read_back(http, number, message_id, raw)
                        elif 400 <= code < 500:
                            with stats.lock:
                                stats.tempfail.append(
                                    Failure(
                                        number, stage, f"{code} {text.decode(errors='replace')}"
                                    )
                                )
                            save("smtp-tempfail", number, raw)
                        else:
                            with stats.lock:
                                stats.refused[code] += 1
                    verify_listing(http, box)
                finally:
                    if smtp is not None:
                        smtp.close()

        def read_back(http: httpx.Client, number: int, message_id: str, raw: bytes) -> None:
            response = get(http, f"/api/messages/{message_id}")
            if response.status_code != 200:
                with stats.lock:
                    stats.lost.append(f"#{number} {message_id}: GET {response.status_code}")
                save("smtp-lost", number, raw)
                return
            try:
                data = response.json()["data"]
            except (ValueError, KeyError) as exc:
                data = exc
            problems = _check_json(data)
            if problems:
                with stats.lock:
                    stats.bad_json.append(f"#{number} {message_id}: {'; '.join(problems)}")
                save("smtp-json", number, raw)
                return
            for item in data["attachments"][:3]:
                download = get(http, item["url"])
                if download.status_code != 200 or len(download.content) != item["size"]:
                    with stats.lock:
                        stats.lost.append(
                            f"#{number} {message_id}: attachment {item['name']!r} "
                            f"GET {download.status_code}, {len(download.content)} bytes"
                        )
                    save("smtp-attachment", number, raw)

        def send_hostile() -> None:
            """The hostile corpus first, one message at a time, each within its bound."""
            with server.api(timeout=60) as http:
                box = Mailbox(http)
                smtp = BlockingSmtp(server.smtp_port)
                try:
                    for index, (name, raw) in enumerate(hostile_corpus()):
                        number = -1 - index
                        sent = time.monotonic()
                        stage, code, text = smtp.send(b"fuzz@example.org", box.address, raw)
                        took = time.monotonic() - sent
                        stats.hostile += 1
                        stats.hostile_slowest = max(stats.hostile_slowest, took)
                        bound = (
                            HOSTILE_SMTP_SECONDS + HOSTILE_SMTP_SECONDS_PER_MIB * len(raw) / 2**20
                        )
                        too_long = max(map(len, raw.split(b"\n"))) > SMTP_MAX_LINE
                        if too_long and code == 500 and took <= bound:
                            with stats.lock:
                                stats.refused[code] += 1
                            continue
                        if took > bound or code != 250:
                            what = f"{name}: {stage} {code} in {took:.2f} s (bound {bound:.2f} s)"
                            stats.hostile_slow.append(Failure(number, "hostile", what, took))
                            save("smtp-hostile", number, raw)
                            continue
                        found = _QUEUED.search(text)
                        message_id = found.group(1).decode() if found else ""
                        box.ids.append(message_id)
                        read_back(http, number, message_id, raw)
                    verify_listing(http, box)
                finally:
                    smtp.close()

        send_hostile()
        with ThreadPoolExecutor(args.smtp_clients) as pool:
            for future in [pool.submit(client_loop) for _ in range(args.smtp_clients)]:
                future.result()
        stats.server_errors = _server_log_errors(server)
    stats.seconds = time.monotonic() - began
    return stats


def run_smtp_hostile() -> list[tuple[str, float, str]]:
    """The security review's SMTP inputs (tests/support/smtp_hostile.py), each with a time bound,
    against a server with short session bounds so a slowloris ends within seconds."""
    env = {
        "EPHEMAIL_SMTP_TIMEOUT": "2",
        "EPHEMAIL_SMTP_DATA_TIMEOUT": "3",
        "EPHEMAIL_SMTP_SESSION_TIMEOUT": "5",
    }
    with running_server(1, env) as server:
        raise_limits(server)
        with server.api(timeout=60) as http:
            box = Mailbox(http).address
        note("smtp: hostile inputs (floods, slowloris, connection flood, recipient probes)")
        return smtp_hostile.run_all(server.smtp_port, box)


def _server_log_errors(server: Server) -> list[str]:
    log = server.data_dir / "server.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line for line in text.splitlines() if line.startswith("Traceback")]


# --- reporting ----------------------------------------------------------------------------


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def summary(args: argparse.Namespace, parser: ParserStats, smtp: SmtpStats | None) -> str:
    lines = [
        f"parser: {parser.inputs:,} inputs tried ({parser.bytes_parsed / 2**20:,.1f} MiB) in "
        f"{parser.seconds:.0f} s on {args.jobs} process(es)",
        f"parser: {len(parser.crashes)} crashes, {len(parser.hangs)} hangs "
        f"(> {args.hang_seconds:g} CPU s), {len(parser.violations)} invariant violations",
        f"parser: slowest input {parser.slowest.seconds:.3f} s (#{parser.slowest.number}, "
        f"{parser.slowest.kind}); median {statistics.median(parser.times or [0]) * 1000:.2f} ms, "
        f"p99 {percentile(parser.times, 0.99, empty=0.0) * 1000:.1f} ms",
    ]
    hostile = parser.hostile
    lines.append(
        f"parser: hostile corpus {hostile.inputs} inputs, {len(hostile.over_bound)} over their "
        f"bound; slowest {hostile.slowest * 1000:.1f} ms ({hostile.slowest_name}), worst "
        f"{hostile.worst_per_mib * 1000:.0f} ms/MiB ({hostile.worst_name})"
    )
    for label, items in [*parser.findings(), ("hostile over bound", hostile.over_bound)]:
        lines.extend(f"  {label} #{f.number} ({f.kind}): {f.what[:300]}" for f in items[:10])
    if smtp is not None:
        refused = ", ".join(f"{n} x {code}" for code, n in sorted(smtp.refused.items())) or "none"
        lines += [
            f"smtp: {smtp.inputs:,} inputs sent in {smtp.seconds:.0f} s, {smtp.accepted:,} "
            f"answered 250, refused: {refused}, {smtp.dropped} connections dropped, "
            f"slowest transaction {smtp.slowest_reply:.2f} s",
            f"smtp: {len(smtp.http_5xx)} HTTP 5xx in {smtp.requests:,} requests, "
            f"{len(smtp.lost)} lost, {len(smtp.tempfail)} temporary failures at DATA, "
            f"{len(smtp.bad_json)} bad JSON bodies, {len(smtp.server_errors)} server tracebacks",
            f"smtp: hostile corpus {smtp.hostile} messages, {len(smtp.hostile_slow)} over their "
            f"bound or refused, slowest {smtp.hostile_slowest:.2f} s",
        ]
        lines.extend(f"  hostile: {f.what[:300]}" for f in smtp.hostile_slow[:10])
        for label, texts in (("5xx", smtp.http_5xx), ("lost", smtp.lost), ("json", smtp.bad_json)):
            lines.extend(f"  {label}: {t[:300]}" for t in texts[:10])
        lines.extend(f"  tempfail #{f.number}: {f.what[:300]}" for f in smtp.tempfail[:10])
    return "\n".join(lines)


def failures(parser: ParserStats, smtp: SmtpStats | None) -> int:
    count = len(parser.crashes) + len(parser.hangs) + len(parser.violations)
    count += len(parser.hostile.over_bound)
    if smtp is not None:
        count += len(smtp.http_5xx) + len(smtp.lost) + len(smtp.tempfail)
        count += len(smtp.bad_json) + len(smtp.server_errors) + smtp.dropped
        count += len(smtp.hostile_slow)
    return count


ABUSE_CASES = (
    (
        "Command line over 512 octets (600 B, 1 KB, 100 KB, 1 MiB)",
        "`500 Command line too long`; the session goes on",
    ),
    ("DATA line of 200 KiB (allowed: the limit is 256 KiB per line)", "`250`, stored whole"),
    (
        "DATA line of 300 KiB and of 4 MiB",
        "`500 Line too long` after the final dot; session goes on, nothing stored",
    ),
    ("Bare LF line endings in DATA", "`250`, stored and parsed (subject, sender, body)"),
    (
        "`LF.LF`, `CRLF.LF`, `CR.CR` inside DATA (smuggling attempts)",
        "do not end DATA: one message, the rest is its body",
    ),
    ("NUL in a command verb (`HE\\0LO`, `NOOP\\0`, `MA\\0IL`)", "`500`"),
    ("NUL in a RCPT address", "`550 5.1.1`; DATA without a recipient gets `503`"),
    ("NUL bytes in headers and body", "`250`; subject, sender and content served without NUL"),
    (
        "Raw 8-bit bytes in MAIL FROM",
        "`553 5.1.7` at MAIL when the address cannot be stored, for good, rather than a "
        "temporary `451` at every DATA (the test takes `250` at DATA or `5xx` at MAIL)",
    ),
    (
        "Pipelining: two transactions and QUIT in one write",
        "replies in order: `250 250 250 550 354 250 250 250 354 250 250 221`",
    ),
    (
        "3,000 RCPTs (+ 200 unknown) in one transaction",
        "`550` for unknown, `250` up to `max_recipients`, then `452 4.5.3`; "
        "one copy stored, session usable",
    ),
    (
        "Client stalls mid-command or mid-DATA (`smtp_timeout=1`)",
        "connection closed within the timeout, nothing stored, others served meanwhile",
    ),
    (
        "Slow but active DATA upload longer than `smtp_timeout`",
        "`250`: any byte restarts the idle clock; the DATA and session clocks still bound it",
    ),
    (
        "6th connection with `max_smtp_connections=5`",
        "`421 4.7.0 Too many connections` and close; slots come back after the 5 close",
    ),
    (
        "Unknown commands (`TURN`, `XYZZY`, `ETRN`, `XEXCH50`); `EXPN`",
        "`500`; `502` for EXPN; the 5th unknown command gets `502 5.5.1` and close",
    ),
    (
        "AUTH PLAIN / LOGIN / CRAM-MD5 (no AUTH configured)",
        "never advertised; `503` before EHLO, `538 5.7.11` after EHLO, `500` after HELO; "
        "no 334 prompt, envelope untouched",
    ),
    (
        "STARTTLS without TLS configured",
        "not advertised; `454 TLS not available` (`501` with an argument); "
        "the session continues in plain text",
    ),
    ("MAIL before EHLO, RCPT before MAIL, DATA before MAIL/RCPT, nested MAIL", "`503`"),
    (
        "Disconnect (FIN or RST) in the middle of DATA",
        "nothing stored, the connection slot released",
    ),
)


def doc_section(args: argparse.Namespace, parser: ParserStats, smtp: SmtpStats | None) -> str:
    mix = ", ".join(f"{parser.kinds[k]:,} {k}" for k in KINDS if parser.kinds[k])
    rows = [
        ("Parser inputs", f"{parser.inputs:,} ({parser.bytes_parsed / 2**20:,.0f} MiB): {mix}"),
        ("Crashes (parse_message raised or the worker died)", str(len(parser.crashes))),
        (f"Hangs (> {args.hang_seconds:g} CPU s for one input)", str(len(parser.hangs))),
        ("Invariant violations", str(len(parser.violations))),
        (
            "Slowest input",
            f"{parser.slowest.seconds:.3f} s (#{parser.slowest.number}, {parser.slowest.kind})",
        ),
        (
            "Parse CPU time, median / p99",
            f"{statistics.median(parser.times or [0]) * 1000:.2f} ms / "
            f"{percentile(parser.times, 0.99, empty=0.0) * 1000:.1f} ms",
        ),
        ("Parser phase", f"{parser.seconds:.0f} s on {args.jobs} process(es)"),
        (
            "Hostile corpus (each input's bound: "
            f"{HOSTILE_BASE_SECONDS * 1000:.0f} ms + {HOSTILE_SECONDS_PER_MIB * 1000:.0f} ms/MiB)",
            f"{parser.hostile.inputs} inputs, {len(parser.hostile.over_bound)} over the bound; "
            f"slowest {parser.hostile.slowest * 1000:.1f} ms, worst "
            f"{parser.hostile.worst_per_mib * 1000:.0f} ms/MiB",
        ),
    ]
    if smtp is not None:
        refused = ", ".join(f"{n:,} x `{code}`" for code, n in sorted(smtp.refused.items()))
        rows += [
            ("SMTP inputs", f"{smtp.inputs:,} over {args.smtp_clients} connections"),
            ("Answered `250` and read back", f"{smtp.accepted:,}"),
            ("Refused at DATA (by design)", refused or "none"),
            ("Temporary failures at DATA (`4xx`)", str(len(smtp.tempfail))),
            ("HTTP 5xx", f"{len(smtp.http_5xx)} in {smtp.requests:,} requests"),
            ("Lost (`250` but not readable or not listed)", str(len(smtp.lost))),
            ("Server tracebacks", str(len(smtp.server_errors))),
            ("Slowest transaction (MAIL to the DATA reply)", f"{smtp.slowest_reply:.2f} s"),
            (
                f"Hostile corpus over SMTP (bound: {HOSTILE_SMTP_SECONDS:g} s + "
                f"{HOSTILE_SMTP_SECONDS_PER_MIB:g} s/MiB; lines over 256 KiB refused by design)",
                f"{smtp.hostile} messages, {len(smtp.hostile_slow)} over the bound or refused; "
                f"slowest {smtp.hostile_slowest:.2f} s",
            ),
            ("SMTP phase", f"{smtp.seconds:.0f} s"),
        ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    cases = "\n".join(f"| {case} | {reply} |" for case, reply in ABUSE_CASES)
    count = failures(parser, smtp)
    plural = "" if count == 1 else "s"
    verdict = "no failures" if count == 0 else f"{count} failure{plural}, listed below the table"
    found = [
        f"- {label} #{f.number} ({f.kind}{f', {f.seconds:.2f} s' if f.seconds else ''}): "
        f"{f.what.strip().splitlines()[-1][:160] if f.what.strip() else label}"
        for label, items in parser.findings()
        for f in items[:15]
    ]
    if smtp is not None:
        found += [
            f"- SMTP temporary failure #{f.number}: {f.what[:160]}" for f in smtp.tempfail[:5]
        ]
        found += [f"- {text[:200]}" for text in (smtp.http_5xx + smtp.lost + smtp.bad_json)[:10]]
        found += [f"- server log: {text[:200]}" for text in smtp.server_errors[:5]]
    findings = ""
    if found:
        findings = (
            "\nFailures of this run (replay one with `bench/reliability/fuzz.py --seed "
            f"{args.seed} --replay N`):\n\n" + "\n".join(found) + "\n"
        )
    return f"""## Fuzzing

`bench/reliability/fuzz.py` runs two phases. First the MIME parser alone
(`ephemail.mail.parse.parse_message`), in worker processes, on generated and mutated
inputs: the fixtures under `tests/fixtures` after byte flips, cuts, duplications and
splices; random MIME trees with hostile names, charsets and encodings; header floods;
random bytes; and costly shapes (deep nesting, thousands of parts, huge folded headers,
thousands of encoded words, broken base64). Every input is timed in CPU seconds, so other
load on the machine does not count: more than {args.hang_seconds:g} s is a hang, and a worker
stuck for {args.kill_seconds:g} s of wall time is killed and replaced. Every result is
checked: `parse_message` never raises; subject, sender name and address hold no control
characters, NUL or lone surrogates; an address with an `@` has a local part and a lowercase
domain; the content holds no NUL or lone surrogates; attachment names are non-empty, at
most {MAX_NAME} characters, NFC, free of path separators, leading dots and control or format
characters, unique ignoring case, and end in their extension, which is lowercase; content
types are `type/subtype`. Before the random inputs, the hostile corpus
(`tests/support/hostile_mime.py`: every costly shape at 64 KiB and 1 MiB, findings 3 and 4 as
reported) is parsed with a bound per input of {HOSTILE_BASE_SECONDS * 1000:.0f} ms +
{HOSTILE_SECONDS_PER_MIB * 1000:.0f} ms per MiB of CPU time (see "Parser bounds").

Then the whole service: `ephemail serve` on free loopback ports, the same kind of input sent
over real SMTP by {args.smtp_clients} clients, and every message answered `250` read back
through the API (the message, up to three attachments, its mailbox listing). An HTTP 5xx, a
`250` message that cannot be read or is not listed, a `4xx` at DATA, a dropped connection or
a traceback in the server log is a failure. The hostile corpus goes first, one message at
a time, each transaction within {HOSTILE_SMTP_SECONDS:g} s + {HOSTILE_SMTP_SECONDS_PER_MIB:g} s
per MiB. Inputs are a pure function of the seed and their number:
`bench/reliability/fuzz.py --replay N` re-runs one.

    {COMMAND}

Last run: {today()}, {machine()}, at commit {source_state()}, seed {args.seed}: **{verdict}**.

| | |
|---|---|
{table}
{findings}
### SMTP abuse cases

`tests/integration/smtp/test_smtp_abuse.py` sends each of these to a real server over raw
sockets, checks the reply, and then checks that a normal message to a live mailbox is still
accepted and listed by the API. `tests/integration/smtp/test_fuzz_smtp.py` adds Hypothesis runs:
mutated and generated mail over SMTP (every `250` is listed and readable) and random command
dialogues (every line gets a well-formed reply within 5 s, and the server still takes mail).

| Abuse | Expected reply |
|---|---|
{cases}
"""


def write_doc(body: str) -> None:
    """Replace this script's section of docs/reliability.md, keeping everyone else's."""
    write_section(RELIABILITY, "fuzz", body)


# --- entry point --------------------------------------------------------------------------


@contextlib.contextmanager
def failure_dir() -> Iterator[Callable[[str, int, bytes], None]]:
    """Where failing inputs go; created on the first failure only."""
    made: list[Path] = []
    lock = threading.Lock()

    def save(what: str, number: int, data: bytes) -> None:
        with lock:
            if not made:
                made.append(Path(tempfile.mkdtemp(prefix="ephemail-fuzz-")))
            (made[0] / f"{what}-{number}.eml").write_bytes(data)

    yield save
    if made:
        note(f"failing inputs saved in {made[0]}")


def replay(args: argparse.Namespace) -> int:
    kind, data = generate(args.seed, args.replay, args.max_size)
    print(f"input #{args.replay} of seed {args.seed}: {kind}, {len(data):,} bytes")
    started = time.process_time()
    parsed = parse_message(data, "envelope@example.org" if args.replay % 2 else None)
    print(f"parsed in {time.process_time() - started:.3f} CPU s")
    print(
        f"subject={parsed.subject[:200]!r}\nfrom={parsed.from_name[:100]!r} "
        f"<{parsed.from_email[:100]}>\nhtml={parsed.is_html} content={parsed.content[:200]!r}"
    )
    for item in parsed.attachments[:20]:
        print(
            f"attachment {item.name!r} .{item.extension} {item.content_type} {len(item.data)} bytes"
        )
    problems = violations(parsed)
    for problem in problems:
        print(f"VIOLATION: {problem}")
    if args.save:
        args.save.write_bytes(data)
        print(f"input written to {args.save}")
    return 1 if problems else 0


def main() -> int:
    parser = script_parser(__doc__)
    add_options(
        parser,
        [
            ("--inputs", int, 100_000, "parser inputs (phase 1)"),
            ("--smtp-inputs", int, 5_000, "inputs sent over SMTP (phase 2; 0 skips)"),
            ("--seed", int, 20_260_101, "run seed"),
            ("--jobs", int, min(2, os.cpu_count() or 1), "parser worker processes"),
            ("--smtp-clients", int, 4, "concurrent SMTP clients"),
            ("--per-mailbox", int, 250, "messages per mailbox before a new one"),
            ("--hang-seconds", float, 2.0, "one input slower than this is a hang"),
            ("--kill-seconds", float, 30.0, "kill a worker stuck this long"),
            ("--max-size", int, 4 * 2**20, "largest parser input, bytes"),
            ("--smtp-max-size", int, 512 * 2**10, "largest SMTP input, bytes"),
            ("--memory-mib", int, 2048, "address-space limit per parser worker"),
        ],
    )
    parser.add_argument("--write-doc", action="store_true", help="update docs/reliability.md")
    parser.add_argument("--replay", type=int, help="parse one input by number, in detail")
    parser.add_argument(
        "--bounds", action="store_true", help="time the hostile shapes at 4 KiB, 64 KiB, 8 MiB"
    )
    parser.add_argument("--save", type=Path, help="with --replay: write the input to this file")
    args = parser.parse_args()
    if args.replay is not None:
        return replay(args)
    if args.bounds:
        section = bounds_section(bounds_table(BOUNDS_SIZES, BOUNDS_REPEATS))
        print(section)
        if args.write_doc:
            write_section(RELIABILITY, "parser-bounds", section)
        return 0
    with failure_dir() as save:
        note("parser: the hostile corpus, each input within its bound")
        hostile = run_hostile(save)
        note(f"parser: {args.inputs:,} inputs, seed {args.seed}, {args.jobs} process(es)")
        parser_stats = run_parser(args, save)
        parser_stats.hostile = hostile
        smtp_stats = None
        if args.smtp_inputs > 0:
            note(f"smtp: {args.smtp_inputs:,} inputs over a real server")
            smtp_stats = run_smtp(args, save)
        smtp_hostile = run_smtp_hostile() if args.smtp_inputs > 0 else []
    print(summary(args, parser_stats, smtp_stats))
    for name, took, problem in smtp_hostile:
        print(f"hostile SMTP input: {name}: {took:.1f} s {problem or 'ok'}")
    total = failures(parser_stats, smtp_stats) + sum(1 for *_, problem in smtp_hostile if problem)
    print(
        f"RESULT inputs={parser_stats.inputs + (smtp_stats.inputs if smtp_stats else 0)} "
        f"failures={total}"
    )
    if args.write_doc:
        write_doc(doc_section(args, parser_stats, smtp_stats))
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
