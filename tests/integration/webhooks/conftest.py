"""A service whose webhooks may reach receivers on loopback, with short backoffs, and a
receiver on loopback (the fixtures live in tests/support/webhooks.py, for the site's tests too)."""

from tests.support.webhooks import hooked, receiver

__all__ = ["hooked", "receiver"]
