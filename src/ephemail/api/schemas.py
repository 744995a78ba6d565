"""The contract's JSON as pydantic models: they document the API and are checked in tests.

Hot routes build plain dicts (see shapes.py) and serialise them with orjson; these models
are what OpenAPI publishes and what the tests validate those dicts against.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema


class ErrorBody(BaseModel):
    """`errors` comes with a 422 only, `request_id` with a 500 only; neither is ever null."""

    status: Literal[False]
    message: str
    errors: dict[str, list[str]] | SkipJsonSchema[None] = None
    request_id: str | SkipJsonSchema[None] = None


class StatusMessage(BaseModel):
    status: Literal[True]
    message: str


class DomainItem(BaseModel):
    domain: str
    type: Literal["Free", "Premium", "Custom"]
    custom: bool


class DomainsData(BaseModel):
    requested_type: Literal["free", "premium", "custom", "all"]
    allowed_types: list[Literal["free", "premium", "custom"]]
    domains: list[DomainItem]


class DomainsResponse(BaseModel):
    status: Literal[True]
    data: DomainsData


class MailboxData(BaseModel):
    id: int
    email: str
    domain: str
    expire_at: str = Field(examples=["2026-06-28T11:06:52+00:00"])
    expires_in_seconds: int
    created_at: str = Field(examples=["2026-06-28T10:56:52+00:00"])
    email_token: str


class MailboxResponse(BaseModel):
    status: Literal[True]
    data: MailboxData


class AttachmentItem(BaseModel):
    name: str
    extension: str
    size: int
    url: str


class MessageItem(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    is_seen: bool
    subject: str
    from_: str = Field(alias="from")
    from_email: str
    to: str
    receivedAt: str = Field(examples=["2026-06-28 10:56:52"])
    id: str
    html: bool
    content: str
    attachments: list[AttachmentItem]
    content_truncated: Literal[True] | None = Field(
        None, description="Extension, listings only: present when `content` was cut"
    )


class MessagesResponse(BaseModel):
    status: Literal[True]
    mailbox: str
    messages: list[MessageItem]
    next_before: str | None = Field(
        None, description="Extension: present when more messages follow; pass it as `before`"
    )


class MessageResponse(BaseModel):
    status: Literal[True]
    data: MessageItem


class CreateMailboxBody(BaseModel):
    """Extension: choose the domain and/or the username of a new mailbox. No other keys."""

    model_config = ConfigDict(extra="forbid")

    domain: str | None = None
    username: str | None = None


class CodeItem(BaseModel):
    code: str = Field(examples=["482913"])
    context: str = Field(examples=["Your verification code is 482913."])


class LinkItem(BaseModel):
    url: str = Field(examples=["https://app.example.com/verify?token=Zx81kQ"])
    text: str = Field(description="The anchor text; empty for a link in plain text")
    kind: Literal["verify", "reset", "magic", "unsubscribe", "other"]


class ExtractData(BaseModel):
    id: str
    codes: list[CodeItem] = Field(description="One-time codes, best first")
    links: list[LinkItem] = Field(
        description="verify, reset and magic sign-in links first, then other, unsubscribe last"
    )


class ExtractResponse(BaseModel):
    status: Literal[True]
    data: ExtractData
