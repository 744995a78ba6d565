"""Codes and links from sign-up, reset and notification mails (mail/extract/)."""

from __future__ import annotations

import time

import pytest

from ephemail.mail.extract import extract, extract_message
from ephemail.mail.extract.codes import find_codes
from ephemail.mail.extract.html import read_html
from ephemail.mail.extract.links import ORDER
from tests.support.extract_corpus import CASES, Case, build


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CASES) >= 40
    names = " ".join(case.name for case in CASES)
    for lang in ("en_", "de_", "fr_", "es_", "pt_", "ru_", "zh_", "el_"):
        assert lang in names
    raws = b"".join(case.raw for case in CASES)
    for shape in (b"quoted-printable", b"base64", b"multipart/alternative", b"text/html"):
        assert shape in raws
    assert sum(case.code is None for case in CASES) >= 10  # mails with no code at all
    assert b"/ls/click?upn=" in raws  # tracking redirects


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_mail_gives_its_code_and_first_link(case: Case) -> None:
    found = extract_message(case.raw)
    assert (found.codes[0].code if found.codes else None) == case.code
    assert (found.links[0].url if found.links else None) == case.link


def test_links_come_in_order_of_what_they_are_for() -> None:
    html = (
        '<a href="https://x.test/unsubscribe">Unsubscribe</a>'
        '<a href="https://x.test/blog">Blog</a>'
        '<a href="https://x.test/login?t=1">Sign in</a>'
        '<a href="https://x.test/pw">Reset your password</a>'
        '<a href="https://x.test/a">Confirm your email</a>'
    )
    links = extract("", None, html).links
    assert [link.kind for link in links] == ["verify", "reset", "magic", "other", "unsubscribe"]
    assert links[0].text == "Confirm your email"
    assert list(ORDER) == ["verify", "reset", "magic", "other", "unsubscribe"]


def test_a_tracking_redirect_is_kept_as_received_and_classified_by_its_target() -> None:
    url = "https://click.example.net/ls/click?upn=Xy_1&u=https%3A%2F%2Fapp.test%2Fverify%3Ft%3D1"
    (link,) = extract("", f"Hello,\n\n{url}\n", None).links
    assert link.url == url and link.kind == "verify" and link.text == ""


def test_plain_text_links_take_their_meaning_from_the_line_before() -> None:
    text = "Reset your password:\nhttps://x.test/r/9\n\nStop these mails: https://x.test/u/9"
    links = extract("", text, None).links
    assert [(link.url, link.kind) for link in links] == [
        ("https://x.test/r/9", "reset"),
        ("https://x.test/u/9", "other"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Your order #482913 has shipped.",
        "Total: $4829.13, tax 1234.00",
        "Call us at +1 555 123 4567 or (555) 123-4567.",
        "Berlin 10115, Germany. Founded 1998.",
        "Meeting on 2026-12-02 at 14:30.",
        "Use promo code SAVE2026 for 20% off.",
        "Your zip code 94043 is outside our area.",
        "Invoice 20261182 is attached.",
    ],
)
def test_numbers_that_are_not_codes_are_not_codes(text: str) -> None:
    assert find_codes(text) == []


def test_css_colours_and_attributes_in_html_are_never_codes() -> None:
    html = (
        '<html><head><style>.a{color:#123456} p{margin:0}</style></head><body bgcolor="#654321">'
        '<p style="color:#998877">Your code</p><p>is below</p><div>557120</div>'
        '<img src="https://x.test/p/123456.png" width="600"></body></html>'
    )
    found = extract("", None, html)
    assert [code.code for code in found.codes] == ["557120"]
    assert found.codes[0].context  # the words around it, for a person to check


def test_the_context_is_the_sentence_around_the_code() -> None:
    (code,) = find_codes("Hello there. Your verification code is 482913. It expires soon.")
    assert code.context == "Your verification code is 482913."


# Hostile inputs: every one ends in well under its bound, with nothing found.
HOSTILE = {
    "digits": "1" * 1_000_000,
    "digit groups": "123 " * 250_000,
    "whitespace": " \t\n" * 333_333 + "code",
    "nested tags": "<div>" * 200_000,
    "open tags": "<a " * 333_333,
    "open comments": "<!--" * 250_000,
    "lone angles": "<" * 1_000_000,
    "end tags": "</" * 500_000,
    "quotes": '<a href="' * 100_000,
    "entities": "&#" * 500_000,
    "keywords": "code " * 200_000,
    "urls": "https://x " * 100_000,
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_megabyte_inputs_end_quickly(name: str) -> None:
    data = HOSTILE[name]
    started = time.perf_counter()
    found = extract(data[:200], data, data)
    read_html(data)
    assert time.perf_counter() - started < 10  # linear: ~1 s per MB for the worst
    assert all(len(code.code) <= 8 for code in found.codes)


def test_a_broken_message_gives_an_empty_answer_not_an_error() -> None:
    assert extract_message(b"\x00\xff--\r\n\r\n<<<<").codes == []
    raw = build("Your code", text="Your code is 8812.").replace(b"Content-Type", b"Content-Tpye")
    assert [code.code for code in extract_message(raw).codes] == ["8812"]
