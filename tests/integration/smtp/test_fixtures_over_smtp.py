"""Hand-written mail sent over real SMTP, then read back through the API as a user would."""

from __future__ import annotations

import pytest

from tests.support import Running, fixture_bytes

# fixture: (subject, from, from_email, html, a piece of content, attachment names)
EXPECTED: dict[str, tuple[str, str, str, bool, str, list[str]]] = {
    "alternative.eml": (
        "Quarterly numbers",
        "Alice Example",
        "alice@example.com",
        True,
        "quarterly numbers",
        [],
    ),
    "nested_related.eml": (
        "Your May newsletter",
        "Newsletter Team",
        "news@shop.example",
        True,
        'src="cid:logo@shop.example"',
        ["logo.png", "image001.png", "terms.pdf"],
    ),
    "rfc2231_name.eml": (
        "Αρχείο",
        "Μαρία Παπαδακη",
        "maria@example.gr",
        False,
        "Σας στέλνω το αρχείο.",
        ["αρχείο.pdf", "résumé de la réunion.txt"],
    ),
    "rfc2047_name.eml": (
        "Report",
        "Ivan Petrov",
        "ivan@example.ru",
        False,
        "See attached.",
        ["Отчёт.docx", "München übersicht.csv"],
    ),
    "qp_latin1.eml": ("Gruss", "Klaus", "klaus@example.de", False, "Grüße aus Köln!", []),
    "base64_utf8.eml": (
        "Base64 body",
        "sender@example.net",
        "sender@example.net",
        True,
        "Привет, мир! 你好 🌍",
        [],
    ),
    "windows1253.eml": ("Καλημέρα", "Σέργιος", "sergios@example.gr", False, "Καλημέρα κόσμε!", []),
    "koi8r.eml": ("Привет", "Наташа", "natasha@example.ru", True, "Привет из Москвы", []),
    "subject_b_utf8.eml": (
        "🎉 Fête de la musique — invitation",
        "Zoë Dupré",
        "zoe@example.fr",
        False,
        "You are invited.",
        [],
    ),
    "subject_q_iso8859.eml": (
        "Relatório de vendas - preço €",
        "André",
        "andre@example.pt",
        False,
        "Numbers inside.",
        [],
    ),
    "no_from.eml": (
        "No sender here",
        "bounce@lists.example",
        "bounce@lists.example",
        False,
        "Who sent this?",
        [],
    ),
    "from_address_only.eml": (
        "Just an address",
        "bob.Smith@example.org",
        "bob.Smith@example.org",
        False,
        "Hello from Bob.",
        [],
    ),
    "missing_close_boundary.eml": (
        "Cut short",
        "Truncated",
        "trunc@example.com",
        False,
        "The body survives.",
        ["data.bin"],
    ),
    "bad_boundary.eml": (
        "Boundary mismatch",
        "Wrong Boundary",
        "wrong@example.com",
        False,
        "Text behind",
        [],
    ),
    "unknown_charset.eml": ("café", "Odd Charset", "odd@example.com", False, "Café naïve", []),
    "invalid_base64.eml": (
        "Invalid base64",
        "Broken Encoder",
        "enc@example.com",
        False,
        "Hello, world!",
        ["blob.bin"],
    ),
    "raw_8bit_headers.eml": (
        "Grüße — привет 👋",
        "Jürgen Müller",
        "juergen@example.de",
        False,
        "Schöne Grüße.",
        ["résumé.pdf"],
    ),
    "headers_only.eml": ("Nothing below", "Empty", "empty@example.com", False, "", []),
    "hostile_names.eml": (
        "Totally safe files",
        "Mallory",
        "mallory@evil.example",
        False,
        "Open these.",
        ["passwd", "x.exe", "hiddenX-Injected: yes.sh", "invoicefdp.exe", "attachment-5.pdf"],
    ),
    "duplicate_names.eml": (
        "Photos",
        "Camera",
        "camera@example.com",
        False,
        "Three photos.",
        ["photo.jpg", "photo (2).jpg", "PHOTO (3).JPG"],
    ),
    "plain_lf.eml": (
        "Plain old mail",
        "Smith, John",
        "john.smith@example.com",
        False,
        "No MIME headers at all.",
        [],
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_fixture_is_stored_and_served(running: Running, name: str) -> None:
    subject, sender, sender_email, html, fragment, files = EXPECTED[name]
    async with running.client(running.admin_key) as client:
        box = (await client.post("/api/emails")).json()["data"]["email"]
        refused = await running.send(fixture_bytes(name), [box], sender="bounce@lists.example")
        assert refused == {}
        (message,) = (await client.get("/api/messages", params={"email": box})).json()["messages"]
        assert message["subject"] == subject
        assert (message["from"], message["from_email"]) == (sender, sender_email)
        assert message["html"] is html
        assert fragment in message["content"]
        assert [a["name"] for a in message["attachments"]] == files
        for attachment in message["attachments"]:
            assert "/" not in attachment["name"] and "\r" not in attachment["name"]
            download = await client.get(attachment["url"])
            assert download.status_code == 200
            assert len(download.content) == attachment["size"]
            assert "\n" not in download.headers["content-disposition"]
