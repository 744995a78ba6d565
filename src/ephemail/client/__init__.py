"""The Python SDK of ephemail: `Client` (blocking) and `AsyncClient` over httpx.

It imports nothing of the service, so it can be used from any test suite or script:

    from ephemail.client import Client

    with Client() as mail:  # EPHEMAIL_BASE_URL, EPHEMAIL_API_KEY
        box = mail.create_mailbox()
        code = mail.wait_for_code(box.email, timeout=60)
"""

from ephemail.client.aio import AsyncClient
from ephemail.client.errors import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    EphemailError,
    Forbidden,
    NotFound,
    QuotaExceeded,
    ServerError,
    Unauthenticated,
    ValidationFailed,
    WaitTimedOut,
)
from ephemail.client.inbox import Inbox
from ephemail.client.models import (
    ACTION_KINDS,
    Attachment,
    Code,
    CreatedWebhook,
    Delivery,
    Domain,
    DomainList,
    Event,
    Extraction,
    Link,
    Mailbox,
    Message,
    RateLimit,
    Webhook,
)
from ephemail.client.sync import Client

__all__ = [
    "ACTION_KINDS",
    "AsyncClient",
    "Attachment",
    "BadRequest",
    "Client",
    "Code",
    "Conflict",
    "ConnectionFailed",
    "CreatedWebhook",
    "Delivery",
    "Domain",
    "DomainList",
    "EphemailError",
    "Event",
    "Extraction",
    "Forbidden",
    "Inbox",
    "Link",
    "Mailbox",
    "Message",
    "NotFound",
    "QuotaExceeded",
    "RateLimit",
    "ServerError",
    "Unauthenticated",
    "ValidationFailed",
    "WaitTimedOut",
    "Webhook",
]
