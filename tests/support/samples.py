"""Sample mail the tests send, and the seeded data the API fuzzers draw from.

`bench/api_fuzz.py` seeds its server with the same mail and draws the same way, so the
suite's short run and the bench's long run fuzz the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GREEK_NAME = "αρχείο αναφοράς.pdf"


def fixture_bytes(name: str) -> bytes:
    """One hand-written message of tests/fixtures/."""
    return (FIXTURES / name).read_bytes()


def text_mail(
    to: str,
    subject: str,
    body: str,
    *,
    sender: str = "sender@example.org",
    attachment: tuple[str, bytes] | None = None,
) -> EmailMessage:
    """Plain text mail, with one text attachment `(name, bytes)` if given; a message, not
    bytes, so that a caller may add parts or choose how it is serialised."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment[1], maintype="text", subtype="plain", filename=attachment[0])
    return msg


def rich_message(to: str, subject: str = "Welcome to Temp Mail") -> bytes:
    """Text, HTML and two attachments, one with a Greek name: every field the API shows."""
    msg = EmailMessage()
    msg["From"] = "Example Sender <hello@example.org>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Hello from the inbox.")
    msg.add_alternative("<p>Hello from the inbox.</p>", subtype="html")
    msg.add_attachment(b"x" * 91, maintype="text", subtype="plain", filename="file.txt")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename=GREEK_NAME)
    return msg.as_bytes()


# --- what the API fuzzers seed and draw ---------------------------------------------------


def seed_subject(number: int) -> str:
    return f"Seed {number}: ünïcödé and <b>markup</b>"


def seed_message(to: str, number: int) -> EmailMessage:
    """A seeded message: text and HTML, attachments with ASCII, Greek and spaced names."""
    msg = EmailMessage()
    msg["From"] = "Fuzz Sender <fuzz@example.org>"
    msg["To"] = to
    msg["Subject"] = seed_subject(number)
    msg.set_content(f"Plain body {number}.")
    msg.add_alternative(f"<p>HTML body <b>{number}</b></p>", subtype="html")
    msg.add_attachment(b"x" * 91, maintype="text", subtype="plain", filename=f"file{number}.txt")
    msg.add_attachment(
        b"\x89PNG\r\n\x1a\n....", maintype="image", subtype="png", filename="εικόνα.png"
    )
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="a b.pdf")
    return msg


@dataclass
class Seeds:
    """Real objects for the fuzzer to draw: the reads use the kept ones, DELETE and rename
    eat the spare ones, so the reads never lose their data."""

    key: str = ""
    emails: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    spare_emails: list[str] = field(default_factory=list)
    spare_ids: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)  # webhook ids the reads use
    spare_hooks: list[str] = field(default_factory=list)  # … and those DELETE may eat

    def record(self, box: dict[str, Any], messages: list[dict[str, Any]], *, spare: bool) -> None:
        """A seeded mailbox (as POST /api/emails answered) and its listing's messages."""
        ids = [m["id"] for m in messages]
        if spare:
            self.spare_emails.append(box["email"])
            self.spare_ids.extend(ids)
            return
        self.emails.append(box["email"])
        self.tokens.append(box["email_token"])
        self.ids.extend(ids)
        names = {a["name"] for m in messages for a in m["attachments"]}
        self.names = sorted(names.union(self.names))

    def dictionaries(self, usernames: list[str]) -> dict[str, list[str]]:
        """Schemathesis dictionaries: the seeds, and valid names, domains and types."""
        return {
            "emails": self.emails,
            "tokens": self.tokens,
            "ids": self.ids,
            "names": self.names,
            "spare_emails": self.spare_emails,
            "spare_ids": self.spare_ids,
            "hooks": self.hooks,
            "spare_hooks": self.spare_hooks,
            "domains": ["ephemail.test"],
            "types": ["free", "premium", "custom", "all"],
            "usernames": usernames,
        }


def draw(dictionary: str) -> dict[str, Any]:
    """Half of a parameter's values from one dictionary, half generated."""
    return {"dictionary": dictionary, "probability": 0.5}


# Which parameter draws from which dictionary (DELETE and rename are set per operation).
DRAWN_PARAMETERS = {
    "query.email": draw("emails"),
    "path.email_token": draw("tokens"),
    "path.message_id": draw("ids"),
    "path.name": draw("names"),
    "path.domain": draw("domains"),
    "query.domain": draw("domains"),
    "query.type": draw("types"),
    "query.username": draw("usernames"),
    "path.new_username": draw("usernames"),
    "path.webhook_id": draw("hooks"),
}
