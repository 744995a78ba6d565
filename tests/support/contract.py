"""The contract's JSON examples and one shape checker used by every API test."""

from __future__ import annotations

import re
from typing import Any

DOMAINS_EXAMPLE = {
    "status": True,
    "data": {
        "requested_type": "free",
        "allowed_types": ["free"],
        "domains": [{"domain": "example.com", "type": "Free", "custom": False}],
    },
}
MAILBOX_EXAMPLE = {
    "status": True,
    "data": {
        "id": 2301,
        "email": "randombox@example.com",
        "domain": "example.com",
        "expire_at": "2026-06-28T11:06:52+00:00",
        "expires_in_seconds": 600,
        "created_at": "2026-06-28T10:56:52+00:00",
        "email_token": "encrypted-email-token",
    },
}
MESSAGE_EXAMPLE = {
    "is_seen": False,
    "subject": "Welcome to Temp Mail",
    "from": "Example Sender",
    "from_email": "hello@example.org",
    "to": "randombox@example.com",
    "receivedAt": "2026-06-28 10:56:52",
    "id": "ap94AWDg123ELQz07vrVB9dLXlbqZM5NGwYxOJKko8n6m1",
    "html": True,
    "content": "<p>Hello from the inbox.</p>",
    "attachments": [
        {
            "name": "file.txt",
            "extension": "txt",
            "size": 91,
            "url": "https://api.example.com/api/messages/ap94AWDg123ELQz07vrVB9dLXlbqZM5NGwYxOJKko8n6m1/attachments/file.txt",
        }
    ],
}
MESSAGES_EXAMPLE = {
    "status": True,
    "mailbox": "randombox@example.com",
    "messages": [MESSAGE_EXAMPLE],
}
MESSAGE_ONE_EXAMPLE = {"status": True, "data": {**MESSAGE_EXAMPLE, "is_seen": True}}
DELETE_EMAIL_EXAMPLE = {"status": True, "message": "Email has been successfully deleted."}
DELETE_MESSAGE_EXAMPLE = {"status": True, "message": "Message was deleted successfully."}
ERROR_EXAMPLE = {"status": False, "message": "Unauthenticated."}

# Value formats the contract fixes, by field name.
FORMATS = {
    "expire_at": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$"),
    "created_at": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$"),
    "receivedAt": re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"),
    "id": re.compile(r"^(\d+|[0-9A-Za-z]{46})$"),
    "extension": re.compile(r"^[a-z0-9]*$"),
}


def assert_shape(actual: Any, example: Any, path: str = "$") -> None:
    """Same keys (no more, no fewer), same JSON types, same formats, recursively.

    Lists are checked element by element against the example's first element.
    """
    if isinstance(example, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        assert set(actual) == set(example), f"{path}: keys {sorted(actual)} != {sorted(example)}"
        for key, value in example.items():
            assert_shape(actual[key], value, f"{path}.{key}")
            pattern = FORMATS.get(key)
            if (
                pattern
                and isinstance(actual[key], (str, int))
                and not isinstance(actual[key], bool)
            ):
                assert pattern.match(str(actual[key])), f"{path}.{key}: bad format {actual[key]!r}"
    elif isinstance(example, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        if example:
            for i, item in enumerate(actual):
                assert_shape(item, example[0], f"{path}[{i}]")
    elif isinstance(example, bool):
        assert isinstance(actual, bool), f"{path}: expected a boolean, got {actual!r}"
    elif isinstance(example, int):
        assert isinstance(actual, int) and not isinstance(actual, bool), f"{path}: expected int"
    elif isinstance(example, str):
        assert isinstance(actual, str), f"{path}: expected a string, got {actual!r}"
    else:  # pragma: no cover - the examples hold only the types above
        raise AssertionError(f"{path}: unexpected example type")


RATE_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-used",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
)


def rate(headers: Any) -> tuple[int, int, int, str]:
    """(limit, used, remaining, reset) from a response, checking Used + Remaining = Limit."""
    limit = int(headers["x-ratelimit-limit"])
    used = int(headers["x-ratelimit-used"])
    remaining = int(headers["x-ratelimit-remaining"])
    assert used + remaining == limit
    return limit, used, remaining, headers["x-ratelimit-reset"]
