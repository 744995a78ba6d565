"""`Client`: the blocking client. Each method runs one flow of endpoints.py."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Self, TypeVar, Unpack

import httpx

from ephemail.client import endpoints as api
from ephemail.client import models
from ephemail.client.core import Answer, Call, ClientBase, EventReader, Flow, Stepper, Transport
from ephemail.client.endpoints import MessageFilters, WaitOptions
from ephemail.client.errors import EphemailError
from ephemail.client.models import ACTION_KINDS, Event

T = TypeVar("T")


class Client(ClientBase):
    """A blocking client of one ephemail service.

    Settings as in `ClientBase`. Errors are `EphemailError` subclasses; `rate_limit` holds
    the latest `X-RateLimit-*` values.
    """

    _http: httpx.Client

    def _connect(self, transport: Transport | None) -> None:
        if transport is not None and not isinstance(transport, httpx.BaseTransport):
            raise TypeError("Client takes an httpx.BaseTransport")
        self._http = httpx.Client(transport=transport, **self._core.client_options())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, call: Call) -> Answer | EphemailError:
        try:
            response = self._http.send(self._core.build(self._http, call))
        except httpx.HTTPError as exc:
            return self._core.unreachable(exc)
        return self._core.receive(response)

    def _run(self, flow: Flow[T]) -> T:
        stepper = Stepper(flow)
        step = stepper.start()
        while isinstance(step, Call):
            step = stepper.advance(self._send(step))
        return step.value

    def _stream(self, call: Call) -> Iterator[Event]:
        try:
            with self._http.stream(**self._core.request_options(call)) as response:
                if not response.is_success:
                    response.read()
                if error := self._core.check(response):
                    raise error
                reader = EventReader()
                for line in response.iter_lines():
                    if (event := reader.feed(line)) is not None:
                        yield event
        except httpx.HTTPError as exc:
            raise self._core.unreachable(exc) from exc

    # The endpoints, in the order of the contract, then the extensions.

    def domains(self, type: str | None = None) -> models.DomainList:
        return self._run(api.domains(type))

    def create_mailbox(
        self, domain: str | None = None, username: str | None = None
    ) -> models.Mailbox:
        return self._run(api.create_mailbox(domain, username))

    def rename_mailbox(self, email: str, new_username: str, domain: str) -> models.Mailbox:
        return self._run(api.rename_mailbox(email, new_username, domain))

    def delete_mailbox(self, email: str) -> None:
        self._run(api.delete_mailbox(email))

    def messages(self, email: str, **filters: Unpack[MessageFilters]) -> list[models.Message]:
        return self._run(api.messages(email, **filters))

    def message(self, message_id: str) -> models.Message:
        return self._run(api.message(message_id))

    def delete_message(self, message_id: str) -> None:
        self._run(api.delete_message(message_id))

    def download_attachment(self, message_id: str, name: str) -> bytes:
        return self._run(api.download_attachment(message_id, name))

    def token_messages(self, email_token: str) -> list[models.Message]:
        return self._run(api.token_messages(email_token))

    def token_message(self, email_token: str, message_id: str) -> models.Message:
        return self._run(api.token_message(email_token, message_id))

    def token_attachment(self, email_token: str, message_id: str, name: str) -> bytes:
        return self._run(api.token_attachment(email_token, message_id, name))

    def extend_mailbox(self, email: str) -> models.Mailbox:
        return self._run(api.extend_mailbox(email))

    def raw(self, message_id: str) -> bytes:
        return self._run(api.raw(message_id))

    def extract(self, message_id: str) -> models.Extraction:
        return self._run(api.extract(message_id))

    def create_webhook(
        self, url: str, email: str | None = None, events: list[str] | None = None
    ) -> models.CreatedWebhook:
        """A receiver for the account, or the mailbox `email`; the answer alone has the
        signing `secret`. `events` None: every event type."""
        return self._run(api.create_webhook(url, email, events))

    def webhooks(self) -> list[models.Webhook]:
        return self._run(api.webhooks())

    def delete_webhook(self, webhook_id: int) -> None:
        self._run(api.delete_webhook(webhook_id))

    def test_webhook(self, webhook_id: int) -> None:
        self._run(api.test_webhook(webhook_id))

    def webhook_deliveries(self, webhook_id: int) -> list[models.Delivery]:
        """The latest 100 delivery attempts, newest first."""
        return self._run(api.webhook_deliveries(webhook_id))

    def wait_for_message(self, email: str, **options: Unpack[WaitOptions]) -> models.Message:
        return self._run(api.wait_for_message(email, self.clock, **options))

    def wait_for_code(self, email: str, **options: Unpack[WaitOptions]) -> str:
        """The code of the first message after `since` that has one."""
        return self._run(api.wait_for_extraction(email, api.code_of, self.clock, **options))[1]

    def wait_for_link(
        self, email: str, kinds: tuple[str, ...] = ACTION_KINDS, **options: Unpack[WaitOptions]
    ) -> str:
        """The first link of `kinds` in the first message after `since` that has one."""
        found = api.link_finder(kinds)
        return self._run(api.wait_for_extraction(email, found, self.clock, **options))[1]

    def events(self, email: str, last_event_id: str | None = None) -> Iterator[Event]:
        """The mailbox's events as they happen; ends after mailbox.deleted or .expired."""
        return self._stream(api.events(email, last_event_id))

    def token_events(self, email_token: str, last_event_id: str | None = None) -> Iterator[Event]:
        return self._stream(api.token_events(email_token, last_event_id))
