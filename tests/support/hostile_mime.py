"""Mail built to cost the MIME parser the most, at any size: the parser-bounds corpus.

Each shape repeats a small unit up to the requested size, so the same shape can be timed at
64 KiB (what may be parsed on the event loop) and at 8 MiB (near the size limit) to show the
cost is linear. Used by `bench/fuzz.py` (its hostile corpus and `--bounds` table) and by the
tests that send these over SMTP.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

CRLF = b"\r\n"
MULTIPART = b'Subject: hostile\r\nContent-Type: multipart/mixed; boundary="p"\r\n\r\n'


def _fill(head: bytes, unit: bytes, size: int, tail: bytes = b"") -> bytes:
    count = max(1, (size - len(head) - len(tail)) // max(1, len(unit)))
    return head + unit * count + tail


def _parts(unit_headers: bytes, size: int, body: bytes = b"x") -> bytes:
    unit = b"--p\r\n" + unit_headers + b"\r\n\r\n" + body + b"\r\n"
    return _fill(MULTIPART, unit, size, b"--p--\r\n")


def boundary_whitespace(size: int) -> bytes:
    """Finding 3: `boundary` x 602, then CRLFs (at 105 KB the old parser took 20 s)."""
    return _fill(b"Subject: x\r\n\r\n" + b"boundary" * 602, CRLF, size)


def disposition_comment(size: int) -> bytes:
    """Finding 4: `Content-Disposition: attachment(x)` and 8,000 `;`, in every part."""
    return _parts(b"Content-Disposition: attachment(x)" + b";" * 8000, size)


def many_empty_parts(size: int) -> bytes:
    return _fill(MULTIPART, b"--p\r\n\r\n", size, b"--p--\r\n")


def many_small_parts(size: int) -> bytes:
    return _parts(b'Content-Type: application/octet-stream; name="a.bin"', size)


def deep_nesting(size: int) -> bytes:
    """3,000 nesting levels (as many as fit, in a small message)."""
    levels = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(min(3000, size // 64))
    )
    return _fill(b"Subject: deep\r\n" + levels + b"\r\n", b"deep text line\r\n", size)


def nested_open_boundaries(size: int) -> bytes:
    """Fifty open multiparts whose boundaries share a long prefix, then lines that start
    like each of them."""
    stem = b"q" * (150 if size >= 2**16 else 20)
    levels = b"".join(
        b'Content-Type: multipart/mixed; boundary="%s%02d"\r\n\r\n--%s%02d\r\n' % (stem, i, stem, i)
        for i in range(50 if size >= 2**16 else 20)
    )
    return _fill(b"Subject: open\r\n" + levels + b"\r\n", b"--" + stem + b"0x\r\n", size)


def false_delimiters(size: int) -> bytes:
    """Lines that start like the delimiter of boundary `a` but are none."""
    head = b'Content-Type: multipart/mixed; boundary="a"\r\n\r\n--a\r\n\r\n'
    return _fill(head, b"--a--x\r\n", size)


def long_header_line(size: int) -> bytes:
    return _fill(b"Subject: ", b"x", size, b"\r\n\r\nbody\r\n")


def folded_header(size: int) -> bytes:
    return _fill(b"Subject: ", b"word\r\n ", size, b"\r\n\r\nbody\r\n")


def many_headers(size: int) -> bytes:
    return _fill(b"", b"X-A: b\r\n", size, b"Subject: last\r\n\r\nbody\r\n")


def encoded_words(size: int) -> bytes:
    words = b"=?utf-8?q?a=C3=A9?= " * min(700, size // 50)
    unit = b"Subject: " + words + b"\r\nFrom: " + words + b"<a@example.org>\r\n"
    return _fill(b"", unit, size, b"\r\nbody\r\n")


def encoded_word_names(size: int) -> bytes:
    name = b"=?utf-8?b?w6k=?=" * 400
    return _parts(
        b'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="' + name + b'"',
        size,
    )


def long_line_without_crlf(size: int) -> bytes:
    return _fill(b"Subject: x\r\n\r\n", b"a", size)


def huge_base64_line(size: int) -> bytes:
    head = (
        b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
        b'Content-Type: application/pdf; name="a.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    data = base64.b64encode(b"\x00\xffab" * (size // 6))
    return head + data[: size - len(head) - 10] + b"\r\n--z--\r\n"


def rfc2231_segments(size: int) -> bytes:
    segments = b"".join(b";\r\n filename*%d*=%%41" % i for i in range(min(2000, size // 24)))
    return _parts(b"Content-Disposition: attachment" + segments, size)


def unterminated_quotes(size: int) -> bytes:
    head = b'From: "' + b'\\"' * 3000 + b"\r\n" + MULTIPART
    unit = b'--p\r\nContent-Type: text/plain; name="' + b'\\"' * 2000 + b"\r\n\r\nx\r\n"
    return _fill(head, unit, size, b"--p--\r\n")


def unterminated_comments(size: int) -> bytes:
    from_line = b"From: " + b"(" * 8000 + b"\r\n"
    parts = _parts(b"Content-Disposition: attachment" + b"(" * 8000, size)
    return from_line + parts


def alternating_comments(size: int) -> bytes:
    return _parts(b"Content-Type: text/plain; a=b" + b"()" * 4000, size)


def quotes_in_from(size: int) -> bytes:
    unit = b"X-Pad: x\r\n"
    return _fill(b"From: " + b'"' * 8000 + b"<a@example.org>\r\n", unit, size, b"\r\nbody\r\n")


def commas_in_from(size: int) -> bytes:
    return _fill(b"From: a@b" + b"," * 8000 + b"\r\n", b"X-Pad: x\r\n", size, b"\r\nbody\r\n")


def bare_cr_flood(size: int) -> bytes:
    half = size // 2
    return b"Subject: " + b"\r" * half + b"\r\n\r\n" + b"\r" * (size - half)


def semicolons_in_content_type(size: int) -> bytes:
    return _parts(b'Content-Type: multipart/mixed; boundary="in"' + b";" * 8000, size)


SHAPES: dict[str, Callable[[int], bytes]] = {
    "boundary whitespace (finding 3)": boundary_whitespace,
    "attachment(x) and 8,000 ; per part (finding 4)": disposition_comment,
    "empty parts": many_empty_parts,
    "small named parts": many_small_parts,
    "3,000 nesting levels, long body": deep_nesting,
    "50 open boundaries, lines like them": nested_open_boundaries,
    "lines like a delimiter (--a--x)": false_delimiters,
    "one long header line": long_header_line,
    "one header folded into many lines": folded_header,
    "many headers": many_headers,
    "encoded words in Subject and From": encoded_words,
    "encoded words in file names": encoded_word_names,
    "a long line without CRLF": long_line_without_crlf,
    "one huge base64 line": huge_base64_line,
    "RFC 2231 name in 2,000 segments per part": rfc2231_segments,
    "unterminated quotes": unterminated_quotes,
    "unterminated comments": unterminated_comments,
    "alternating () in parameters": alternating_comments,
    "8,000 quotes in From": quotes_in_from,
    "8,000 commas in From": commas_in_from,
    "bare CR flood": bare_cr_flood,
    "8,000 ; in nested Content-Types": semicolons_in_content_type,
}


def finding3_exact() -> bytes:
    """The input of finding 3 as reported: 105 KB, 20 s before."""
    return b"Subject: x\r\n\r\n" + b"boundary" * 602 + CRLF * 50_000


def finding4_exact(parts: int = 1) -> bytes:
    """The input of finding 4 as reported: 0.49 s per part before."""
    unit = b"--p\r\nContent-Disposition: attachment(x)" + b";" * 8000 + b"\r\n\r\nx\r\n"
    return MULTIPART + unit * parts + b"--p--\r\n"
