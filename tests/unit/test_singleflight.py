"""Concurrent callers of one key share one run, its result and its error."""

from __future__ import annotations

import asyncio

import pytest

from ephemail.core.singleflight import SingleFlight


async def test_callers_of_one_key_share_one_run_and_the_next_call_runs_again() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    runs = 0

    async def work() -> int:
        nonlocal runs
        runs += 1
        mine = runs
        await asyncio.sleep(0.01)
        return mine

    results = await asyncio.gather(*(flights.run("k", work) for _ in range(20)))
    assert results == [1] * 20 and runs == 1 and not flights.busy("k")
    assert await flights.run("k", work) == 2
    assert await asyncio.gather(flights.run("a", work), flights.run("b", work)) == [3, 4]


async def test_an_error_reaches_every_caller_and_is_not_kept() -> None:
    flights: SingleFlight[str, int] = SingleFlight()

    async def failing() -> int:
        await asyncio.sleep(0.01)
        raise LookupError("database down")

    outcomes = await asyncio.gather(
        *(flights.run("k", failing) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, LookupError) for o in outcomes)

    async def fine() -> int:
        return 7

    assert await flights.run("k", fine) == 7


async def test_a_cancelled_waiter_does_not_cancel_the_run() -> None:
    flights: SingleFlight[str, str] = SingleFlight()

    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "done"

    leader = asyncio.create_task(flights.run("k", slow))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(flights.run("k", slow))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await leader == "done"
