"""Query parameters more than one route takes, declared once so that they read and document
alike wherever they appear (`GET /api/messages`, `/api/messages/wait`, `/api/events`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

MailboxAddress = Annotated[
    str, Query(description="The mailbox address", examples=["box@example.com"])
]
SenderFilter = Annotated[
    str | None,
    Query(
        alias="from",
        description="Extension: only messages whose sender name or address contains this "
        "(any case)",
        examples=["acme.example"],
    ),
]
SubjectFilter = Annotated[
    str | None,
    Query(
        description="Extension: only messages whose subject contains this (any case)",
        examples=["code"],
    ),
]
