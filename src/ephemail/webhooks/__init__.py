"""Webhooks: the receiver guard (guard.py), signatures (signing.py) and the dispatcher that
delivers the durable outbox (dispatcher.py). Registrations and the outbox live in the store
(store/webhooks.py, store/outbox.py, store/ingest/hooks.py); docs/webhooks.md is the guide.
"""

from typing import Literal, get_args

EventType = Literal[
    "message.received",
    "message.deleted",
    "mailbox.created",
    "mailbox.renamed",
    "mailbox.deleted",
    "mailbox.expired",
]
"""The event types a receiver can choose; the API's schemas take them from here."""
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
TEST_EVENT = "webhook.test"
