"""Mail HTML as the reader frame gets it: nothing active, images only from the message's own
parts unless remote images were asked for, and hostile sizes handled whole."""

from __future__ import annotations

import re

from ephemail.web.mailhtml import (
    TOO_COMPLEX,
    clean_mail_html,
    frame_policy,
    linkify_text,
    text_preview,
    too_complex,
)

PARTS = {"logo@shop.example": "/parts/m/0/sig"}


def test_active_content_goes_and_layout_stays() -> None:
    html, blocked = clean_mail_html(
        "<style>body{}</style><script>alert(1)</script>"
        "<table bgcolor='#eee' width='600'><tr><td align='center' style='color:red'>Hi</td></tr>"
        "</table><a href='javascript:alert(1)' onclick='x()'>bad</a>"
        "<a href='https://shop.example/'>good</a><form action='/x'><input name=a></form>"
        "<iframe src='https://evil.example'></iframe><svg onload='x()'></svg><!-- note -->",
        PARTS,
        remote_images=False,
    )
    assert blocked == 0
    for gone in ("<script", "<style", "javascript:", "onclick", "onload", "<form", "<input",
                 "<iframe", "<svg", "note"):  # fmt: skip
        assert gone not in html, gone
    assert 'bgcolor="#eee"' in html and 'align="center"' in html and "color:red" in html
    assert (
        '<a href="https://shop.example/" target="_blank" rel="noopener noreferrer nofollow">'
        in (html)
    )


def test_cid_images_point_at_the_parts_and_remote_ones_wait_to_be_asked() -> None:
    source = (
        "<img src='cid:logo%40shop.example'><img src='CID:<logo@shop.example>'>"
        "<img src='cid:other@x'><img src='https://track.example/p.gif'>"
        "<img src='//track.example/q.gif'><img src='data:image/png;base64,AAAA'><img src='rel.png'>"
    )
    held, blocked = clean_mail_html(source, PARTS, remote_images=False)
    shown, none_blocked = clean_mail_html(source, PARTS, remote_images=True)
    assert re.findall(r'src="([^"]+)"', held) == ["/parts/m/0/sig", "/parts/m/0/sig"]
    assert blocked == 2 and none_blocked == 0
    assert re.findall(r'src="([^"]+)"', shown) == [
        "/parts/m/0/sig",
        "/parts/m/0/sig",
        "https://track.example/p.gif",
        "//track.example/q.gif",
    ]


def test_the_frame_policy_allows_only_the_parts_until_asked() -> None:
    parts = ["http://127.0.0.1:8025/parts/m/"]
    held = frame_policy(parts, remote_images=False)
    shown = frame_policy(parts, remote_images=True)
    assert "default-src 'none'" in held and "script-src" not in held
    assert "img-src http://127.0.0.1:8025/parts/m/;" in held
    assert "img-src http://127.0.0.1:8025/parts/m/ https: http:;" in shown
    assert "img-src 'none'" in frame_policy([], remote_images=False)
    assert "sandbox" in held and "allow-scripts" not in held and "allow-same-origin" not in held


def test_hostile_shapes_are_cleaned_or_refused_never_parsed_at_length() -> None:
    """The HTML parser's work grows with the square of nesting depth (and of formatting
    elements left open): such mail is refused after one linear scan, shown as a note."""
    deep = "<div>" * 50_000 + "<script>x</script>" + "</div>" * 50_000
    reopened = "".join(f"<p><b id={i}>x</p>" for i in range(20_000))  # closed by </p> only
    misclosed = "<div></x>" * 20_000
    nested_lists = "<li><ul>" * 5_000
    for source in (deep, reopened, misclosed, nested_lists):
        assert too_complex(source)
        html, _ = clean_mail_html(source, PARTS, remote_images=False)
        assert html == TOO_COMPLEX
        assert text_preview(source, True) == ""
    long_attribute = "<img alt='" + "a" * 1_000_000 + "' src='https://t.example/x' onerror='y'>"
    unclosed = "<a href='" + "<" * 200_000
    for source in (long_attribute, unclosed):
        html, _ = clean_mail_html(source, PARTS, remote_images=False)
        assert "onerror" not in html and "t.example" not in html


def test_ordinary_mail_shapes_are_not_refused() -> None:
    rows = "<table>" + "<tr><td>a<td><p>b<p>c" * 5_000 + "</table>"
    lists = "<ul>" + "<li><a href='https://x.example'>x</a>" * 5_000 + "</ul>"
    layout = ("<div>" * 60 + "<font color=red><b>hi</b></font>" + "</div>" * 60) * 200
    for source in (rows, lists, layout):
        assert not too_complex(source)


def test_the_preview_is_one_line_of_text() -> None:
    html = "<html><head><title>T</title><style>p{}</style></head><body><h1>Hello</h1><p>there"
    assert text_preview(html + " &amp; you</p>", True) == "Hello there & you"
    assert text_preview("line one\n\nline two", False) == "line one line two"
    assert text_preview("x" * 500, False).endswith("…")


def test_text_mail_links_are_clickable_and_nothing_else_is_markup() -> None:
    text = 'Confirm: https://x.example/c?a=1&b=2. Or <script>alert(1)</script> "https://q.example/"'
    html = str(linkify_text(text))
    assert '<a href="https://x.example/c?a=1&amp;b=2" target="_blank"' in html
    assert ">https://x.example/c?a=1&amp;b=2</a>. Or &lt;script&gt;" in html
    assert '<a href="https://q.example/"' in html and "<script>" not in html
    assert str(linkify_text("no links here & <b>")) == "no links here &amp; &lt;b&gt;"
