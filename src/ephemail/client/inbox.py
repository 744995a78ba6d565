"""`Inbox`: one mailbox a test owns, read in order: each wait returns the next message."""

from __future__ import annotations

import contextlib
from typing import Unpack

from ephemail.client import endpoints as api
from ephemail.client.endpoints import WaitOptions
from ephemail.client.errors import NotFound
from ephemail.client.models import ACTION_KINDS, Mailbox, Message
from ephemail.client.sync import Client


class Inbox:
    """A fresh mailbox and the waits a test makes on it.

    Without an explicit `since`, every wait looks only at messages after the one the
    previous wait returned, so a test that expects two mails gets the first, then the second.
    """

    def __init__(self, client: Client, mailbox: Mailbox) -> None:
        self.client = client
        self.mailbox = mailbox
        self.last_id: str | None = None

    @property
    def address(self) -> str:
        return self.mailbox.email

    @property
    def email_token(self) -> str:
        return self.mailbox.email_token

    def messages(self) -> list[Message]:
        """Everything in the mailbox now, newest first."""
        return self.client.messages(self.address)

    def wait_for_message(self, **options: Unpack[WaitOptions]) -> Message:
        msg = self.client.wait_for_message(self.address, **self._after(options))
        self.last_id = msg.id
        return msg

    def wait_for_code(self, **options: Unpack[WaitOptions]) -> str:
        """The code of the next message that has one (those without are passed over)."""
        return self._found(api.code_of, options)

    def wait_for_link(
        self, kinds: tuple[str, ...] = ACTION_KINDS, **options: Unpack[WaitOptions]
    ) -> str:
        """The first verify / reset / magic link (or of `kinds`) of the next message with one."""
        return self._found(api.link_finder(kinds), options)

    def delete(self) -> None:
        """Delete the mailbox; one already gone (deleted, renamed, expired) is fine."""
        with contextlib.suppress(NotFound):
            self.client.delete_mailbox(self.address)

    def _after(self, options: WaitOptions) -> WaitOptions:
        if options.get("since") is None and self.last_id is not None:
            return {**options, "since": self.last_id}
        return options

    def _found(self, finder: api.Finder, options: WaitOptions) -> str:
        flow = api.wait_for_extraction(
            self.address, finder, self.client.clock, **self._after(options)
        )
        msg, value = self.client._run(flow)  # the flow gives the message too: kept for `since`
        self.last_id = msg.id
        return value
