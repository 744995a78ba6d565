"""What a mailbox owner sees of a received mail: subject, sender, body and files."""

from __future__ import annotations

import base64
import time
import unicodedata
from email import policy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ephemail.mail import parse
from ephemail.mail.parse import (
    MAX_HEADER_CHARS,
    MAX_NAME,
    MAX_PARTS,
    ParsedAttachment,
    ParsedMessage,
    parse_message,
    safe_filename,
)
from ephemail.mail.parse.addresses import normalize_address, parse_address
from ephemail.mail.parse.params import parse_params
from ephemail.mail.parse.text import clean_line
from tests.support.hostile_mime import SHAPES, finding3_exact, finding4_exact

FIXTURES = Path(__file__).parent.parent / "fixtures"
FIXTURE_NAMES = sorted(path.name for path in FIXTURES.glob("*.eml"))

PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db40000000049454e44ae426082"
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str, envelope_sender: str | None = None) -> ParsedMessage:
    return parse_message(raw(name), envelope_sender)


def names(message: ParsedMessage) -> list[str]:
    return [a.name for a in message.attachments]


def sender(message: ParsedMessage) -> tuple[str, str]:
    """(display name, address) of the sender, as the API shows them."""
    return message.from_name, message.from_email


def kind(attachment: ParsedAttachment) -> tuple[str, str, str]:
    """(name, extension, content type) of an attachment."""
    return attachment.name, attachment.extension, attachment.content_type


def mail(*lines: str, body: bytes = b"") -> bytes:
    """A small inline message, for cases too specific to earn a fixture."""
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- body choice --------------------------------------------------------------------------


def test_alternative_shows_the_html_part() -> None:
    message = load("alternative.eml")
    assert message.is_html
    assert message.content == (
        "<html><body><p>Hi,</p><p>the <b>quarterly numbers</b> are in.</p>"
        "<p>Alice</p></body></html>\n"
    )
    assert message.attachments == ()


def test_plain_message_without_mime_headers_is_text() -> None:
    message = load("plain_lf.eml")
    assert not message.is_html
    assert message.content == "No MIME headers at all.\nSecond line.\n"


def test_nested_multiparts_find_the_html_body() -> None:
    message = load("nested_related.eml")
    assert message.is_html
    assert '<img src="cid:logo@shop.example" alt="logo">' in message.content
    assert "May newsletter" in message.content


def test_text_part_marked_attachment_is_never_the_body() -> None:
    message = load("text_attachment_first.eml")
    assert not message.is_html
    assert message.content == "I am the body."
    page, notes = message.attachments
    assert (page.name, page.content_type, page.data) == (
        "page.html",
        "text/html",
        b"<p>I am a file, not the body.</p>",
    )
    assert (notes.name, notes.extension, notes.data) == (
        "notes.txt",
        "txt",
        b"line one\r\nline two",
    )


def test_plain_alternative_with_content_id_is_not_an_attachment() -> None:
    message = parse_message(
        mail(
            "From: a@example.com",
            'Content-Type: multipart/alternative; boundary="b"',
            body=(
                b"--b\r\nContent-Type: text/plain\r\nContent-ID: <plain@x>\r\n\r\nplain\r\n"
                b"--b\r\nContent-Type: text/html\r\nContent-ID: <html@x>\r\n\r\n<p>html</p>\r\n"
                b"--b--\r\n"
            ),
        )
    )
    assert message.is_html
    assert message.content == "<p>html</p>"
    assert message.attachments == ()


def test_content_has_unix_newlines_and_no_nul() -> None:
    message = parse_message(mail("Subject: x", body=b"one\r\ntwo\x00three\r\n"))
    assert message.content == "one\ntwothree\n"


# --- body encodings and charsets ----------------------------------------------------------


def test_quoted_printable_latin1_body() -> None:
    # iso-8859-1 is read as its superset cp1252, as mail clients do: =80 is the euro sign.
    assert load("qp_latin1.eml").content == (
        "Grüße aus Köln! Ein Café crème kostet 3 € "
        "und das ist eine sehr lange Zeile, die weich umbrochen wurde.\n"
    )


def test_base64_utf8_html_body() -> None:
    message = load("base64_utf8.eml")
    assert message.is_html
    assert message.content == "<p>Привет, мир! 你好 🌍</p>\n"


def test_windows_1253_body() -> None:
    assert load("windows1253.eml").content == "Καλημέρα κόσμε! Τι κάνεις;\n"


def test_koi8_r_html_body() -> None:
    message = load("koi8r.eml")
    assert message.is_html
    assert message.content == "<p>Привет из Москвы</p>\n"


def test_unknown_charset_is_read_as_utf8_with_replacement() -> None:
    message = load("unknown_charset.eml")
    assert message.subject == "café"
    assert message.content == "Café naïve — ok\n\ufffd end\n"


def test_non_text_codec_as_charset_is_ignored() -> None:
    body = base64.b64encode(b"plain words")
    message = parse_message(mail("Content-Type: text/plain; charset=base64", body=body))
    assert message.content == body.decode()


def test_hostile_charset_parameter_keeps_the_body_and_files() -> None:
    message = parse_message(
        mail(
            'Content-Type: multipart/mixed; boundary="x"',
            body=(
                b'--x\r\nContent-Type: text/plain; charset="\x00"\r\n\r\ncaf\xc3\xa9\r\n'
                b"--x\r\nContent-Type: image/png; name=a.png\r\n\r\nzz\r\n--x--\r\n"
            ),
        )
    )
    assert message.content == "café"
    assert names(message) == ["a.png"]


def test_content_type_missing_its_semicolon_still_counts() -> None:
    message = parse_message(mail("Content-Type: text/html charset=utf-8", body=b"<p>x</p>"))
    assert message.is_html
    assert message.content == "<p>x</p>"


def test_invalid_base64_decodes_what_it_can() -> None:
    message = load("invalid_base64.eml")
    assert message.content == "Hello, world!"
    (blob,) = message.attachments
    assert blob.name == "blob.bin"
    assert blob.data == bytes(range(7))


# --- headers ------------------------------------------------------------------------------


def test_subject_rfc2047_base64_utf8_across_folded_words() -> None:
    assert load("subject_b_utf8.eml").subject == "🎉 Fête de la musique — invitation"


def test_subject_rfc2047_q_in_two_latin_charsets() -> None:
    assert load("subject_q_iso8859.eml").subject == "Relatório de vendas - preço €"


def test_subject_and_sender_in_windows_1253_and_koi8_r() -> None:
    greek = load("windows1253.eml")
    assert (greek.subject, greek.from_name) == ("Καλημέρα", "Σέργιος")
    russian = load("koi8r.eml")
    assert (russian.subject, *sender(russian)) == ("Привет", "Наташа", "natasha@example.ru")


def test_encoded_display_name() -> None:
    message = load("subject_b_utf8.eml")
    assert sender(message) == ("Zoë Dupré", "zoe@example.fr")


def test_display_name_and_lowercased_domain() -> None:
    message = load("alternative.eml")
    assert sender(message) == ("Alice Example", "alice@example.com")


def test_quoted_display_name_with_comma() -> None:
    assert load("plain_lf.eml").from_name == "Smith, John"


def test_from_with_only_an_address_uses_it_as_name() -> None:
    message = load("from_address_only.eml")
    assert sender(message) == ("bob.Smith@example.org", "bob.Smith@example.org")


def test_missing_from_uses_the_envelope_sender() -> None:
    message = load("no_from.eml", "<Bounce@Relay.Example>")
    assert sender(message) == ("Bounce@relay.example", "Bounce@relay.example")


def test_missing_from_and_no_envelope_sender_is_empty() -> None:
    message = load("no_from.eml")
    assert sender(message) == ("", "")
    assert message.subject == "No sender here"


def test_from_without_address_uses_the_envelope_sender() -> None:
    message = parse_message(mail("From: undisclosed-recipients:;"), "relay@example.net")
    assert sender(message) == ("relay@example.net", "relay@example.net")


def test_from_with_name_but_empty_address_keeps_the_name() -> None:
    message = parse_message(mail('From: "Alice" <>'), "alice@example.net")
    assert sender(message) == ("Alice", "alice@example.net")


def test_raw_utf8_headers_come_out_as_text() -> None:
    message = load("raw_8bit_headers.eml")
    assert message.subject == "Grüße — привет 👋"
    assert sender(message) == ("Jürgen Müller", "juergen@example.de")
    assert message.content == "Schöne Grüße."
    assert names(message) == ["résumé.pdf"]


def test_raw_latin1_header_is_read_as_cp1252() -> None:
    message = parse_message(b"Subject: M\xfcller \x93quoted\x94\r\n\r\nx")
    assert message.subject == "Müller \u201cquoted\u201d"


def test_missing_subject_is_empty() -> None:
    assert parse_message(mail("From: a@example.com", body=b"hi")).subject == ""


def test_subject_has_no_control_characters() -> None:
    assert parse_message(mail("Subject: a\x00b\x1bc\td")).subject == "abc d"


# --- attachments --------------------------------------------------------------------------


def test_inline_images_and_attachment_in_nested_message() -> None:
    logo, image001, terms = load("nested_related.eml").attachments
    assert logo == ParsedAttachment("logo.png", "png", "image/png", "logo@shop.example", PNG_1X1)
    assert image001 == ParsedAttachment(
        "image001.png", "png", "image/png", "image001.png@01DAA6B1.4C2E9F00", PNG_1X1
    )
    assert terms == ParsedAttachment("terms.pdf", "pdf", "application/pdf", None, PDF)


def test_inline_part_with_useless_content_id_is_numbered() -> None:
    message = parse_message(
        mail(
            'Content-Type: multipart/related; boundary="r"',
            body=(
                b"--r\r\nContent-Type: text/html\r\n\r\n<img src=cid:x>\r\n"
                b"--r\r\nContent-Type: image/gif\r\nContent-ID: <@example.com>\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\nR0lGODlh\r\n--r--\r\n"
            ),
        )
    )
    (gif,) = message.attachments
    assert (gif.name, gif.extension, gif.content_id, gif.data) == (
        "inline-1.gif",
        "gif",
        "@example.com",
        b"GIF89a",
    )


def test_rfc2231_greek_file_name() -> None:
    pdf = load("rfc2231_name.eml").attachments[0]
    assert (pdf.name, pdf.extension, pdf.content_type, len(pdf.data)) == (
        "αρχείο.pdf",
        "pdf",
        "application/pdf",
        len(PDF),
    )


def test_rfc2231_continued_latin1_file_name() -> None:
    notes = load("rfc2231_name.eml").attachments[1]
    assert notes.name == "résumé de la réunion.txt"
    assert notes.data == "Résumé de la réunion.".encode("latin-1")


def test_rfc2047_encoded_file_names() -> None:
    docx, csv = load("rfc2047_name.eml").attachments
    assert (docx.name, docx.extension, docx.data) == ("Отчёт.docx", "docx", b"PK\x03\x04fake-docx")
    assert docx.content_type == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert kind(csv) == ("München übersicht.csv", "csv", "text/csv")


def test_hostile_file_names_are_made_safe() -> None:
    message = load("hostile_names.eml")
    assert names(message) == [
        "passwd",  # ../../etc/passwd
        "x.exe",  # C:\evil\x.exe
        "hiddenX-Injected: yes.sh",  # ../.hidden CR LF X-Injected: yes NUL .sh
        "invoicefdp.exe",  # right-to-left override removed: no fake ".pdf"
        "attachment-5.pdf",  # " ... " leaves nothing
    ]
    assert [a.extension for a in message.attachments] == ["", "exe", "sh", "exe", "pdf"]
    assert message.attachments[0].data == b"root:x:0:0"


def test_duplicate_names_are_numbered_case_insensitively() -> None:
    message = load("duplicate_names.eml")
    assert names(message) == ["photo.jpg", "photo (2).jpg", "PHOTO (3).JPG"]
    assert [a.extension for a in message.attachments] == ["jpg", "jpg", "jpg"]
    assert [a.data for a in message.attachments] == [
        b"\xff\xd8\xff\x01",
        b"\xff\xd8\xff\x02",
        b"\xff\xd8\xff\x03",
    ]


def test_single_part_binary_message_is_an_attachment() -> None:
    message = load("octet_stream_single.eml")
    assert message.content == ""
    assert not message.is_html
    assert message.attachments == (
        ParsedAttachment(
            "attachment-1.bin", "bin", "application/octet-stream", None, bytes(range(10))
        ),
    )


def test_attached_message_is_one_file_not_the_body() -> None:
    message = load("forwarded.eml")
    assert message.content == "See the message below."
    (eml,) = message.attachments
    assert kind(eml) == ("attachment-1.eml", "eml", "message/rfc822")
    assert b"Subject: lunch" in eml.data
    assert b"<p>Lunch at noon?</p>" in eml.data


def test_attachment_without_content_type_is_octet_stream() -> None:
    message = parse_message(
        mail(
            'Content-Type: multipart/mixed; boundary="m"',
            body=b"--m\r\nContent-Disposition: attachment; filename=a.dat\r\n\r\nxyz\r\n--m--\r\n",
        )
    )
    assert message.attachments == (
        ParsedAttachment("a.dat", "dat", "application/octet-stream", None, b"xyz"),
    )


def test_long_file_name_is_cut_keeping_the_extension() -> None:
    message = parse_message(
        mail(
            "Content-Type: application/pdf",
            f'Content-Disposition: attachment; filename="{"n" * 300}.pdf"',
        )
    )
    (pdf,) = message.attachments
    assert pdf.name == "n" * (MAX_NAME - 4) + ".pdf"
    assert pdf.extension == "pdf"


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\evil\\x.exe", "x.exe"),
        ("report.pdf/", "report.pdf"),
        ("  ..hidden.txt. ", "hidden.txt"),
        ("a \t  b\r\n.txt", "a b.txt"),
        ("\x00\u200b/..", ""),
        ("Cafe\u0301.txt", "Café.txt"),
    ],
)
def test_safe_filename(given_name: str, expected: str) -> None:
    assert safe_filename(given_name) == expected


# --- broken MIME ----------------------------------------------------------------------------


def test_missing_closing_boundary_keeps_every_part() -> None:
    message = load("missing_close_boundary.eml")
    assert message.content == "The body survives."
    (data,) = message.attachments
    assert (data.name, data.data) == ("data.bin", bytes(range(6)))


def test_boundary_never_found_shows_the_raw_body() -> None:
    message = load("bad_boundary.eml")
    assert not message.is_html
    assert "Text behind a boundary that was never declared." in message.content
    assert message.attachments == ()


def test_multipart_without_boundary_shows_the_raw_body() -> None:
    message = parse_message(mail("Content-Type: multipart/mixed", body=b"just text\r\n"))
    assert message.content == "just text\n"


def test_headers_only_message() -> None:
    message = load("headers_only.eml")
    assert (message.subject, *sender(message)) == ("Nothing below", "Empty", "empty@example.com")
    assert (message.content, message.is_html, message.attachments) == ("", False, ())


def test_empty_input() -> None:
    assert parse_message(b"") == ParsedMessage("", "", "", False, "", ())


def test_parser_failure_falls_back_to_a_line_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(raw: bytes) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(parse.tree, "parse_tree", broken)
    message = parse_message(raw("subject_b_utf8.eml"))
    assert message.subject == "🎉 Fête de la musique — invitation"
    assert sender(message) == ("Zoë Dupré", "zoe@example.fr")
    assert "You are invited." in message.content


# --- bounded work on hostile input ------------------------------------------------------------


def nested(depth: int, body_lines: int = 1) -> bytes:
    levels = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    leaf = b"Content-Type: text/plain\r\n\r\n" + b"deep text\r\n" * body_lines
    return b"Subject: nested\r\n" + levels + leaf


def test_parts_within_the_depth_cap_are_read() -> None:
    assert parse_message(nested(parse.MAX_DEPTH)).content == "deep text"


def test_parts_below_the_depth_cap_are_ignored() -> None:
    message = parse_message(nested(parse.MAX_DEPTH + 1))
    assert (message.subject, message.content) == ("nested", "")


def test_nesting_beyond_the_interpreter_limit_still_returns() -> None:
    message = parse_message(nested(3000))
    assert message.subject == "nested"


def test_deep_nesting_with_a_long_body_stays_fast() -> None:
    started = time.perf_counter()
    message = parse_message(nested(200, body_lines=200_000))
    assert time.perf_counter() - started < 3
    assert (message.subject, message.content) == ("nested", "")  # the leaf is too deep


def test_number_of_parts_is_capped() -> None:
    part = b"--m\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n"
    body = part * (MAX_PARTS + 500) + b"--m--\r\n"
    message = parse_message(mail('Content-Type: multipart/mixed; boundary="m"', body=body))
    assert len(message.attachments) == MAX_PARTS - 1  # the container counts too


def test_huge_encoded_subject_is_cut_and_fast() -> None:
    started = time.perf_counter()
    message = parse_message(b"Subject: " + b"=?utf-8?q?ab?= " * 50_000 + b"\r\n\r\n")
    assert time.perf_counter() - started < 3
    assert message.subject.startswith("abababab")
    assert len(message.subject) <= MAX_HEADER_CHARS


# --- properties -------------------------------------------------------------------------------


def assert_well_formed(message: ParsedMessage) -> None:
    for text in (message.subject, message.from_name, message.from_email, message.content):
        text.encode("utf-8")  # no lone surrogates: storable and serialisable
        assert "\x00" not in text
    seen: set[str] = set()
    for attachment in message.attachments:
        assert_safe_name(attachment.name)
        assert attachment.name.casefold() not in seen
        seen.add(attachment.name.casefold())
        assert attachment.extension == attachment.extension.lower()
        if attachment.extension:
            assert attachment.name.lower().endswith("." + attachment.extension)
        assert attachment.content_type == attachment.content_type.lower()
        assert "/" in attachment.content_type
        assert isinstance(attachment.data, bytes)


def assert_safe_name(name: str) -> None:
    assert 0 < len(name) <= MAX_NAME
    assert "/" not in name and "\\" not in name
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in name)
    assert not name.startswith((".", " "))
    assert name == name.strip()
    name.encode("utf-8")


@settings(max_examples=250, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert_well_formed(parse_message(data, "env@example.com"))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(FIXTURE_NAMES),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.binary(max_size=8), st.integers(0, 8)),
        min_size=1,
        max_size=8,
    ),
)
def test_mutated_fixtures_never_raise(name: str, edits: list[tuple[float, bytes, int]]) -> None:
    data = bytearray(raw(name))
    for where, insert, delete in edits:
        at = int(where * len(data))
        data[at : at + delete] = insert
    assert_well_formed(parse_message(bytes(data)))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_safe_filename_output_is_always_safe(text: str) -> None:
    name = safe_filename(text)
    if name:
        assert_safe_name(name)


# --- our header readers agree with the stdlib's header classes on well-formed values -------

PLAIN_TYPES = [
    "text/plain; charset=utf-8",
    'text/plain; charset="us-ascii"; format=flowed',
    'application/pdf; name="report 2026.pdf"',
    'attachment; filename="a \\"quoted\\" name.txt"',
    'multipart/alternative; boundary="b1"; charset=UTF-8',
    "inline; filename=plain.png; size=42",
    "attachment (a comment); filename=(another)x.txt",
    "attachment; filename*=UTF-8''%CE%B1%CF%81.pdf",
    "attachment; filename*0*=iso-8859-1'fr'r%E9sum%E9%20; filename*1*=final.txt",
]


def _stdlib_header(name: str, value: str) -> Any:
    return policy.default.header_factory(name, value)


@pytest.mark.parametrize("value", PLAIN_TYPES)
def test_params_match_the_header_classes(value: str) -> None:
    header = "content-disposition" if value.startswith(("attachment", "inline")) else "content-type"
    stdlib = {str(k).lower(): str(v) for k, v in _stdlib_header(header, value).params.items()}
    assert dict(parse_params(value)[1]) == stdlib


@pytest.mark.parametrize(
    "value",
    [
        "Ann Example <ann@example.org>",
        "ann@example.org",
        '"Smith, John" <js@example.com>',
        "<only@example.net>",
        "Bob <Bob.Smith@Example.ORG>",
        "ann@example.org (Ann (the) Example)",
        "=?utf-8?q?Zo=C3=AB?= <zoe@example.fr>",
        "team: first@example.org, second@example.org;",
    ],
)
def test_from_matches_the_header_classes(value: str) -> None:
    first = _stdlib_header("from", value).addresses[0]
    expected = (str(first.display_name), normalize_address(str(first.addr_spec)))
    assert parse_address(value) == expected


def test_every_one_of_many_parts_with_one_name_gets_its_own() -> None:
    parts = "".join(
        f'--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="{name}"'
        f"\r\n\r\npart {i}\r\n"
        for i, name in enumerate(["report.txt"] * 997 + ["report (2).txt", "REPORT.TXT"])
    )
    raw = f"Content-Type: multipart/mixed; boundary=b\r\n\r\n{parts}--b--\r\n".encode()
    message = parse_message(raw)
    got = names(message)
    assert len(got) == MAX_PARTS - 1  # the multipart container is a part too
    assert len({n.casefold() for n in got}) == len(got)
    assert got[:3] == ["report.txt", "report (2).txt", "report (3).txt"]
    assert got[996] == "report (997).txt"
    assert got[997] == "report (2) (2).txt"  # the name it asked for was taken by then
    assert got[998] == "REPORT (998).TXT"
    assert [a.data for a in message.attachments][:2] == [b"part 0", b"part 1"]


def test_header_text_loses_exactly_the_control_characters() -> None:
    """Every code point: breaks and tabs become spaces, other Cc characters go, the rest stays."""
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    expected = "".join(
        " " if ch in "\t\r\n\v\f" else ch
        for ch in every
        if ch in "\t\r\n\v\f" or unicodedata.category(ch) != "Cc"
    ).strip()
    assert clean_line(every) == expected
    subject = parse_message(b"Subject: a\x01b\x7fc\xc2\x85d \te\r\n\r\nx\r\n").subject
    assert subject == "abcd  e"  # \x01, DEL and U+0085 (NEL, 8-bit UTF-8 here) go; tab a space


# --- real-world mail the stdlib parser got wrong ----------------------------------------------


def test_encoded_word_with_raw_8bit_text_is_decoded_in_its_charset() -> None:
    message = load("rfc2047_raw_8bit.eml")
    assert message.subject == "Die Hasen und die Frösche"
    assert sender(message) == ("Jürgen Fröhlich", "juergen@example.de")


def test_broken_first_header_line_is_skipped_and_the_rest_kept() -> None:
    message = load("broken_first_header.eml", "bounce@relay.example")
    assert message.subject == "Headers after a broken line"
    assert message.is_html
    assert message.content == "<p>The body is kept.</p>\n"
    assert message.from_email == "bounce@relay.example"  # the only From line was broken


def test_boundaries_that_are_prefixes_of_one_another_stay_apart() -> None:
    message = load("prefix_boundaries.eml")
    assert message.is_html
    assert message.content == "<p>HTML words.</p>"
    (pdf,) = message.attachments
    assert (pdf.name, pdf.data) == ("terms.pdf", b"%PDF-1.4\n%%EOF\n")


def test_delimiters_in_another_case_and_an_unclosed_multipart_keep_every_part() -> None:
    message = load("boundary_case_unclosed.eml")
    assert message.is_html
    assert message.content == "<p>HTML words.</p>"
    (png,) = message.attachments
    assert (png.name, png.content_type, png.data) == ("dot.png", "image/png", PNG_1X1[:8])


def test_from_without_a_domain_is_kept_as_the_header_says() -> None:
    message = load("from_without_domain.eml", "bounce@relay.example")
    assert sender(message) == ("moderator", "moderator")


# --- hostile input: every parse ends soon and says something sensible ---------------------------
# "Not stuck" bounds only; the measured figures are in docs/reliability.md
# (bench/reliability/fuzz.py --bounds). Before the parser package, finding 3 took 20 s and
# finding 4 0.49 s per part.


def test_finding_3_boundary_whitespace_parses_at_once() -> None:
    started = time.perf_counter()
    message = parse_message(finding3_exact())
    assert time.perf_counter() - started < 2
    assert message.subject == "x"
    assert message.content.startswith("boundary" * 602)


def test_finding_4_comment_and_semicolons_in_disposition_parse_at_once() -> None:
    started = time.perf_counter()
    message = parse_message(finding4_exact(parts=50))
    assert time.perf_counter() - started < 2
    assert message.subject == "hostile"
    assert names(message) == [f"attachment-{n}.bin" for n in range(1, 51)]
    assert {a.data for a in message.attachments} == {b"x"}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_hostile_shapes_of_a_mebibyte_parse_at_once(shape: str) -> None:
    data = SHAPES[shape](2**20)
    started = time.perf_counter()
    message = parse_message(data, "envelope@example.org")
    assert time.perf_counter() - started < 2, shape
    assert_well_formed(message)
    assert message.from_email  # From or the envelope sender, always
    assert len(message.attachments) < MAX_PARTS


def test_bare_cr_line_ends_still_separate_headers_and_parts() -> None:
    message = parse_message(
        b"Subject: old mac\rFrom: Ann <ann@example.org>\rContent-Type: multipart/mixed; "
        b'boundary="c"\r\r--c\rContent-Type: text/html\r\r<p>x</p>\r--c--\r'
    )
    assert (message.subject, message.from_email) == ("old mac", "ann@example.org")
    assert (message.is_html, message.content) == (True, "<p>x</p>")


def test_parentheses_in_an_unquoted_boundary_are_kept_when_the_body_uses_them() -> None:
    message = parse_message(
        mail(
            "Content-Type: multipart/mixed; boundary=(x)y",
            body=b"--(x)y\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--(x)y--\r\n",
        )
    )
    assert (message.is_html, message.content) == (True, "<p>x</p>")
