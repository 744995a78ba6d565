"""What the service decides for each SMTP event: RCPT only for a live mailbox (so nothing
relays), and DATA answered `250` only after the group-commit writer has committed it."""

from __future__ import annotations

import logging

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

    def mail(self, event: MailFrom) -> str:
        if self._gate.closing:
            return REPLY_SHUTDOWN
        if not _storable(event.address):
            # Refused now, for good: accepting it would fail every DATA with a temporary error.
            return "553 5.1.7 Sender address has characters that cannot be stored"
        return "250 2.1.0 OK"

    async def rcpt(self, address: str, client: str) -> tuple[Recipient | None, str]:
        if self._gate.probing(client):
            return None, _refused(
                "421 4.7.0 Too many unknown recipients from your address, closing"
            )
        try:
            recipient = await self._delivery.resolve(address)
        except Exception:
            log.exception("recipient lookup failed")
            return None, _refused("451 4.3.0 Temporary lookup failure, try again later")
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
        metrics.get().MESSAGES_RECEIVED.inc(len(ids))
        return f"250 2.0.0 OK queued as {ids[0]}"


def _refused(reply: str) -> str:
    """Count a refusal by its code (/metrics), and pass the reply on."""
    metrics.get().MESSAGES_REFUSED.labels(reply[:3]).inc()
    return reply


def _storable(address: str) -> bool:
    """No control characters and nothing that is not text (8-bit bytes arrive as surrogates)."""
    return not any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in address)
