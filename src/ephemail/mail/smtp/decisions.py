"""What the service decides for each SMTP event: RCPT only for a live mailbox (so nothing
relays), and DATA answered `250` only after the group-commit writer has committed it."""

from __future__ import annotations

import logging
import re

from ephemail.core import metrics
from ephemail.mail.delivery import Delivery
from ephemail.mail.smtp.events import MailFrom, Message
from ephemail.mail.smtp.gate import REPLY_SHUTDOWN, ConnectionGate, SmtpLimits
from ephemail.store.ingest import NotStored, WriterClosed
from ephemail.store.models import Recipient

log = logging.getLogger("ephemail.mail.smtp")  # the whole SMTP front logs under one name


class DeliveryHandler:
    """The service's decisions: who may send, who receives, and storing before `250`."""

    def __init__(
        self,
        delivery: Delivery,
        limits: SmtpLimits,
        gate: ConnectionGate,
    ) -> None:
        self._delivery = delivery
        self._limits = limits
        self._gate = gate
        self.eager = delivery.eager
        self._tally = metrics.smtp()  # made after any fork: the handler is made in the worker

    def mail(self, event: MailFrom) -> str:
        if self._gate.closing:
            return REPLY_SHUTDOWN
        if not _storable(event.address):
            # Refused now, for good: accepting it would fail every DATA with a temporary error.
            return "553 5.1.7 Sender address has characters that cannot be stored"
        return "250 2.1.0 OK"

    def rcpt_now(self, address: str, client: str) -> tuple[Recipient | None, str]:
        """RCPT decided without waiting: only for a delivery whose look-ups are inline."""
        if self._gate.probing(client):
            return None, _probing()
        try:
            recipient = self._delivery.resolve_now(address)
        except Exception:
            return None, _lookup_failed()
        return self._recipient_or_refusal(recipient, client)

    async def rcpt(self, address: str, client: str) -> tuple[Recipient | None, str]:
        if self._gate.probing(client):
            return None, _probing()
        try:
            recipient = await self._delivery.resolve(address)
        except Exception:
            return None, _lookup_failed()
        return self._recipient_or_refusal(recipient, client)

    def _recipient_or_refusal(
        self, recipient: Recipient | None, client: str
    ) -> tuple[Recipient | None, str]:
        if recipient is None:
            self._gate.unknown_recipient(client)
            return None, _refused("550 5.1.1 No such mailbox here")
        if recipient.message_count >= self._limits.mailbox_message_cap:
            return None, _refused("452 4.2.2 Mailbox full, try again later")
        return recipient, "250 2.1.5 OK"

    async def data(self, message: Message[Recipient]) -> str:
        boxes = {r.mailbox_id: r for r in message.recipients}  # one copy per mailbox
        try:
            ids = await self._delivery.deliver(message.sender, list(boxes.values()), message.data)
        except WriterClosed:
            return _refused(REPLY_SHUTDOWN)
        except NotStored as exc:
            return _refused(exc.reply)
        except Exception:
            log.exception("storing message failed")
            return _refused("451 4.3.0 Could not store the message, try again later")
        self._tally.received(len(ids))
        return f"250 2.0.0 OK queued as {ids[0]}"


def _refused(reply: str) -> str:
    """Count a refusal by its code (/metrics), and pass the reply on."""
    metrics.smtp().refused(reply[:3])
    return reply


def _probing() -> str:
    return _refused("421 4.7.0 Too many unknown recipients from your address, closing")


def _lookup_failed() -> str:
    log.exception("recipient lookup failed")
    return _refused("451 4.3.0 Temporary lookup failure, try again later")


# Control characters, and 8-bit bytes that were not UTF-8 (they arrive as lone surrogates).
_UNSTORABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def _storable(address: str) -> bool:
    """Nothing in the address that the store could not keep as text."""
    return _UNSTORABLE.search(address) is None
