"""Reading a posted form: the named fields as stripped strings ("" when absent)."""

from __future__ import annotations

from fastapi import Request


async def fields(request: Request, *names: str, strip: bool = True) -> dict[str, str]:
    form = await request.form()
    values: dict[str, str] = {}
    for name in names:
        value = form.get(name)
        text = value if isinstance(value, str) else ""
        values[name] = text.strip() if strip else text
    return values


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
