"""The webhook extension's JSON, for OpenAPI (with examples) and the tests."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ephemail.webhooks import EventType


class CreateWebhookBody(BaseModel):
    """A receiver for the account (no `email`) or for one of its mailboxes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://ci.example.org/hooks/mail",
                    "email": "signup-test@ephemail.test",
                    "events": ["message.received"],
                }
            ]
        },
    )

    url: str = Field(max_length=2048, examples=["https://ci.example.org/hooks/mail"])
    email: str | None = Field(None, description="Only this mailbox's events; it dies with it")
    events: list[EventType] | None = Field(None, description="Default: every event type")


class WebhookData(BaseModel):
    id: int
    url: str
    email: str | None
    events: list[EventType]
    created_at: str = Field(examples=["2026-06-28T10:56:52+00:00"])


class CreatedWebhookData(WebhookData):
    secret: str = Field(
        description="The HMAC-SHA256 key of the signatures; shown only in this answer",
        examples=["whsec_9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c"],
    )


class CreatedWebhookResponse(BaseModel):
    status: Literal[True]
    data: CreatedWebhookData


class WebhooksResponse(BaseModel):
    status: Literal[True]
    data: list[WebhookData]


class DeliveryItem(BaseModel):
    event_id: str = Field(examples=["evt_5c1f0e3a9b7d4e2f8a6c1b0d"])
    event_type: str = Field(examples=["message.received"])
    attempt: int
    status_code: int | None = Field(description="The receiver's answer; null when none came")
    error: str | None = Field(examples=["timeout"])
    latency_ms: int
    at: str = Field(examples=["2026-06-28T10:56:53+00:00"])
    next_retry_at: str | None = Field(description="null: delivered, or given up")


class DeliveriesResponse(BaseModel):
    status: Literal[True]
    data: list[DeliveryItem]
