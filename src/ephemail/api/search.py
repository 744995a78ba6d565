"""`GET /api/messages?email=…` with filters (extension): `q` (full text over subject, sender
and body), `from`, `subject`, `since`, `unread=true`. The answer is the listing's shape,
paged the same way (`limit`, `before`, `next_before`).

The plain listing stays on the hot path; a filtered one comes through FastAPI to here.
`from` and `subject` match as in `GET /api/messages/wait` (a part, any case); `since` too
(a message id or an event id: only messages after it).
"""

from __future__ import annotations

from dataclasses import dataclass

from ephemail.api.context import ApiContext
from ephemail.api.errors import ApiError, invalid, valid_address
from ephemail.api.live import since_seq
from ephemail.api.reading import MAILBOX_NOT_FOUND, listing_json, listing_page, messages_base
from ephemail.core.search import MAX_QUERY_CHARS, query_words
from ephemail.store import search
from ephemail.store.search import Found

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True, slots=True)
class Filters:
    q: str | None = None
    sender: str | None = None
    subject: str | None = None
    since: str | None = None
    unread: str | None = None

    def given(self) -> bool:
        return any(
            v not in (None, "") for v in (self.q, self.sender, self.subject, self.since)
        ) or self.unread not in (None, "")


def _checked(filters: Filters) -> tuple[list[str], bool]:
    """The words of `q` and whether only unread mail is wanted; 422 naming the field."""
    problems: dict[str, list[str]] = {}
    words: list[str] = []
    for field, value in (("q", filters.q), ("from", filters.sender), ("subject", filters.subject)):
        if value is not None and len(value) > MAX_QUERY_CHARS:
            problems[field] = [f"must be at most {MAX_QUERY_CHARS} characters"]
    if filters.q and "q" not in problems:
        words = query_words(filters.q)
        if not words:
            problems["q"] = ["has no letters or digits to search for"]
    unread = (filters.unread or "").lower()
    if unread not in ("", *_TRUE, *_FALSE):
        problems["unread"] = ["must be true or false"]
    if problems:
        raise invalid(problems)
    return words, unread in _TRUE


def _matches(found: Found, filters: Filters) -> bool:
    if filters.sender:
        who = f"{found.from_name} {found.from_email}".casefold()
        if filters.sender.casefold() not in who:
            return False
    return not filters.subject or filters.subject.casefold() in found.subject.casefold()


async def filtered_listing(
    ctx: ApiContext,
    user_id: int,
    email: str,
    limit: int | None,
    before: str | None,
    filters: Filters,
) -> bytes:
    """The listing of the messages that match every filter given, newest first."""
    page = listing_page(limit, before)
    words, unread = _checked(filters)
    box = await ctx.reads.owned_mailbox(user_id, valid_address(email, "email"))
    if box is None:
        raise ApiError(404, MAILBOX_NOT_FOUND)
    after = await since_seq(ctx, box[0], filters.since)
    async with ctx.engine.connect() as conn:
        found = await search.matching(conn, box[0], words, after, unread)
    kept = [f for f in found if _matches(f, filters)]
    if page.before is not None:
        at = next((i for i, f in enumerate(kept) if f.id == page.before), None)
        if at is None:
            raise invalid({"before": ["is not a message of this listing"]})
        kept = kept[at + 1 :]
    versions = [(f.id, f.is_seen) for f in kept[: page.limit + 1]]
    return await listing_json(ctx, box[0], box[1], messages_base(ctx), page, versions)
