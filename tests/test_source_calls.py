"""SourceSet.call runs a call's first step at once (hub/execution/sources.py
``_started``): a driver that answers without waiting (a quick read) needs no
task; one that waits goes on in a task from where it stopped. Either way the
call sees what a task would: its own copy of the context, its deadline counted
from the call, a caller's cancellation passed on to it."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

from connectors.breaker import Breakers
from hub.errors import SourceTimeout
from hub.execution.sources import SourceSet
from tests.test_breaker import Scripted

MARK: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="caller's")


def _sources() -> tuple[SourceSet, Scripted]:
    connector = Scripted()
    return SourceSet({"school": connector}, Breakers(min_calls=100)), connector


def test_an_answer_without_waiting_makes_no_task_and_leaves_the_callers_context() -> None:
    async def run() -> None:
        sources, _connector = _sources()
        made: list[Any] = []
        loop = asyncio.get_running_loop()
        factory = loop.get_task_factory()
        loop.set_task_factory(lambda lp, coro, **kw: made.append(coro) or asyncio.Task(coro, loop=lp, **kw))
        try:
            async def ask(_c: Any) -> str:
                MARK.set("the call's")
                return MARK.get()

            assert await sources.call("school", ask) == "the call's"
            assert MARK.get() == "caller's" and made == []
            assert sources.circuits() == {"school": "closed"} and sources.asked["school"] == 1
        finally:
            loop.set_task_factory(factory)

    asyncio.run(run())


def test_a_call_that_waits_goes_on_in_its_own_context() -> None:
    async def run() -> None:
        sources, _connector = _sources()
        seen: list[str] = []

        async def ask(_c: Any) -> str:
            token = MARK.set("the call's")
            await asyncio.sleep(0.01)  # waits: the rest runs in a task
            seen.append(MARK.get())
            MARK.reset(token)  # a token made in the first step, used after it
            return "answered"

        assert await sources.call("school", ask) == "answered"
        assert seen == ["the call's"] and MARK.get() == "caller's"

    asyncio.run(run())


def test_a_waiting_call_is_cut_at_its_deadline_and_a_cancelled_caller_cancels_it() -> None:
    async def run() -> None:
        sources, connector = _sources()
        connector.timeout = 0.1
        cancelled = asyncio.Event()

        async def stall(_c: Any) -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        with pytest.raises(SourceTimeout):
            await sources.call("school", stall)
        await asyncio.wait_for(cancelled.wait(), 1)  # the abandoned call was cancelled
        cancelled.clear()
        connector.timeout = 60
        caller = asyncio.ensure_future(sources.call("school", stall))
        await asyncio.sleep(0.01)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await asyncio.wait_for(cancelled.wait(), 1)

    asyncio.run(run())
