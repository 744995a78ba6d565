"""Webhooks: the receiver guard (guard.py), signatures (signing.py) and the dispatcher that
delivers the durable outbox (dispatcher.py). Registrations and the outbox live in the store
(store/webhooks.py, store/outbox.py, store/ingest/hooks.py); docs/webhooks.md is the guide.
"""

EVENT_TYPES = (
    "message.received",
    "message.deleted",
    "mailbox.created",
    "mailbox.renamed",
    "mailbox.deleted",
    "mailbox.expired",
)
TEST_EVENT = "webhook.test"
