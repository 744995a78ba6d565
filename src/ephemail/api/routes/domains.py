"""GET /api/domains: the domains the reader's plan allows."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ephemail.api.deps import api_route, context, current_user
from ephemail.api.errors import ApiError
from ephemail.api.respond import json_response
from ephemail.api.schemas import DomainsResponse
from ephemail.store.accounts import DOMAIN_TYPES
from ephemail.store.domains import allowed_types, domains_for_user

router = APIRouter()


@api_route(
    router,
    "GET",
    "/domains",
    "Domains allowed for the current plan and account",
    403,
    422,
    model=DomainsResponse,
)
async def list_domains(
    request: Request,
    type_: str | None = Query(
        None, alias="type", description="free, premium, custom or all (default: all)"
    ),
) -> Response:
    user = current_user(request)
    allowed = allowed_types(user)
    requested = (type_ or "all").strip().lower()
    if requested != "all" and requested not in DOMAIN_TYPES:
        raise ApiError(
            422,
            "The selected type is invalid.",
            {"type": ["The type must be one of free, premium, custom or all."]},
        )
    if requested != "all" and requested not in allowed:
        raise ApiError(403, f"Your plan does not allow {requested} domains.")
    types = allowed if requested == "all" else [requested]
    async with context(request).engine.connect() as conn:
        found = await domains_for_user(conn, user, types)
    body = {
        "status": True,
        "data": {
            "requested_type": requested,
            "allowed_types": allowed,
            "domains": [
                {"domain": d.name, "type": d.type.capitalize(), "custom": d.type == "custom"}
                for d in found
            ],
        },
    }
    return json_response(body)
