"""`AsyncClient`: the asyncio client. Each method runs one flow of endpoints.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
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


class AsyncClient(ClientBase):
    """An asyncio client of one ephemail service; the same methods as `Client`, awaited."""

    _http: httpx.AsyncClient

    def _connect(self, transport: Transport | None) -> None:
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise TypeError("AsyncClient takes an httpx.AsyncBaseTransport")
        self._http = httpx.AsyncClient(transport=transport, **self._core.client_options())

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _send(self, call: Call) -> Answer | EphemailError:
        try:
            response = await self._http.send(self._core.build(self._http, call))
        except httpx.HTTPError as exc:
            return self._core.unreachable(exc)
        return self._core.receive(response)

    async def _run(self, flow: Flow[T]) -> T:
        stepper = Stepper(flow)
        step = stepper.start()
        while isinstance(step, Call):
            step = stepper.advance(await self._send(step))
        return step.value

    async def _stream(self, call: Call) -> AsyncIterator[Event]:
        try:
            async with self._http.stream(**self._core.request_options(call)) as response:
                if not response.is_success:
                    await response.aread()
                if error := self._core.check(response):
                    raise error
                reader = EventReader()
                async for line in response.aiter_lines():
                    if (event := reader.feed(line)) is not None:
                        yield event
        except httpx.HTTPError as exc:
            raise self._core.unreachable(exc) from exc

    # The endpoints, in the order of the contract, then the extensions.

    async def domains(self, type: str | None = None) -> models.DomainList:
        return await self._run(api.domains(type))

    async def create_mailbox(
        self, domain: str | None = None, username: str | None = None
    ) -> models.Mailbox:
        return await self._run(api.create_mailbox(domain, username))

    async def rename_mailbox(self, email: str, new_username: str, domain: str) -> models.Mailbox:
        return await self._run(api.rename_mailbox(email, new_username, domain))

    async def delete_mailbox(self, email: str) -> None:
        await self._run(api.delete_mailbox(email))

    async def messages(self, email: str, **filters: Unpack[MessageFilters]) -> list[models.Message]:
        return await self._run(api.messages(email, **filters))

    async def message(self, message_id: str) -> models.Message:
        return await self._run(api.message(message_id))

    async def delete_message(self, message_id: str) -> None:
        await self._run(api.delete_message(message_id))

    async def download_attachment(self, message_id: str, name: str) -> bytes:
        return await self._run(api.download_attachment(message_id, name))

    async def token_messages(self, email_token: str) -> list[models.Message]:
        return await self._run(api.token_messages(email_token))

    async def token_message(self, email_token: str, message_id: str) -> models.Message:
        return await self._run(api.token_message(email_token, message_id))

    async def token_attachment(self, email_token: str, message_id: str, name: str) -> bytes:
        return await self._run(api.token_attachment(email_token, message_id, name))

    async def extend_mailbox(self, email: str) -> models.Mailbox:
        return await self._run(api.extend_mailbox(email))

    async def raw(self, message_id: str) -> bytes:
        return await self._run(api.raw(message_id))

    async def extract(self, message_id: str) -> models.Extraction:
        return await self._run(api.extract(message_id))

    async def create_webhook(
        self, url: str, email: str | None = None, events: list[str] | None = None
    ) -> models.CreatedWebhook:
        """A receiver for the account, or the mailbox `email`; the answer alone has the
        signing `secret`. `events` None: every event type."""
        return await self._run(api.create_webhook(url, email, events))

    async def webhooks(self) -> list[models.Webhook]:
        return await self._run(api.webhooks())

    async def delete_webhook(self, webhook_id: int) -> None:
        await self._run(api.delete_webhook(webhook_id))

    async def test_webhook(self, webhook_id: int) -> None:
        await self._run(api.test_webhook(webhook_id))

    async def webhook_deliveries(self, webhook_id: int) -> list[models.Delivery]:
        """The latest 100 delivery attempts, newest first."""
        return await self._run(api.webhook_deliveries(webhook_id))

    async def wait_for_message(self, email: str, **options: Unpack[WaitOptions]) -> models.Message:
        return await self._run(api.wait_for_message(email, self.clock, **options))

    async def wait_for_code(self, email: str, **options: Unpack[WaitOptions]) -> str:
        """The code of the first message after `since` that has one."""
        flow = api.wait_for_extraction(email, api.code_of, self.clock, **options)
        return (await self._run(flow))[1]

    async def wait_for_link(
        self, email: str, kinds: tuple[str, ...] = ACTION_KINDS, **options: Unpack[WaitOptions]
    ) -> str:
        """The first link of `kinds` in the first message after `since` that has one."""
        found = api.link_finder(kinds)
        return (await self._run(api.wait_for_extraction(email, found, self.clock, **options)))[1]

    def events(self, email: str, last_event_id: str | None = None) -> AsyncIterator[Event]:
        """The mailbox's events as they happen; ends after mailbox.deleted or .expired."""
        return self._stream(api.events(email, last_event_id))

    def token_events(
        self, email_token: str, last_event_id: str | None = None
    ) -> AsyncIterator[Event]:
        return self._stream(api.token_events(email_token, last_event_id))
