"""A DataLoader that also settles a whole level's keys at once.

:class:`Batcher` is what a request's loaders (loaders.py) are made of. Its
``load`` is aiodataloader's: a future per key, the keys asked in one tick of
the event loop sent to the source together. Its ``settle`` is for the
:class:`hub.futures.Load` objects resolvers return, which the level-by-level
executor collects for a whole level: every distinct key at once, what the
cache holds answered from it and the rest asked of the source in batches,
with no future, callback or wake-up per key. Both share one cache
(aiodataloader's ``cache_map``), so a record is fetched at most once per
request whichever way it is asked for.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiodataloader import DataLoader

from hub.futures import Load

__all__ = ["Batcher"]


#: What the cache gives for a key it does not hold.
_MISSING: Any = object()


class _Asked:
    """Keys being settled: the future of the whole batch's answer (key -> value)."""

    __slots__ = ("batch",)

    def __init__(self, batch: asyncio.Future[dict[Any, Any]]) -> None:
        self.batch = batch


class _Cache(dict[Any, Any]):
    """A Batcher's cache: key -> a DataLoader future, the ``_Asked`` batch settling
    it, or its value (or the exception failing it) settled without a future: a
    value is never a future or an ``_Asked`` (records, pages). DataLoader reads it with ``get`` (which must give
    a future: one is made, once, for a value settled without one) and writes it
    with ``[]=``, ``pop`` and ``in`` (``cache_map``, aiodataloader's own hook)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop

    def get(self, key: Any, default: Any = None) -> Any:
        held = dict.get(self, key, _MISSING)
        if held is _MISSING:
            return default
        if isinstance(held, asyncio.Future):
            return held
        future = self.loop.create_future()
        if isinstance(held, _Asked):
            def done(batch: asyncio.Future[dict[Any, Any]]) -> None:
                if future.cancelled():
                    return
                if batch.cancelled():
                    future.cancel()
                elif (exc := batch.exception()) is not None:
                    future.set_exception(exc)
                else:
                    _set(future, batch.result()[key])

            held.batch.add_done_callback(done)
        else:
            _set(future, held)
            self[key] = future
        return future


def _set(future: asyncio.Future[Any], value: Any) -> None:
    if isinstance(value, Exception):
        future.set_exception(value)
    else:
        future.set_result(value)


class Batcher(DataLoader[Any, Any]):
    """A DataLoader that also settles a level's keys in one call (``settle``)."""

    def __init__(self, batch_load_fn: Any, max_batch_size: int | None = None) -> None:
        self._held = _Cache(asyncio.get_running_loop())
        super().__init__(batch_load_fn, max_batch_size=max_batch_size, cache_map=self._held)

    def prime(self, key: Any, value: Any) -> Batcher:
        """aiodataloader's ``prime`` (a key already held keeps its value), without a future."""
        if key not in self._held:
            self._held[key] = value
        return self

    def later(self, key: Any) -> Load:
        """The value for ``key``, as a :class:`Load` (asked for when the level settles)."""
        return Load(self, key)

    async def settle(self, keys: Any) -> dict[Any, Any]:
        """key -> value (or the exception failing it) for each of ``keys``: what the
        cache holds, the rest asked of the source in batches of ``max_batch_size``
        (concurrently, as DataLoader dispatches them). A batch that raises fails its
        keys and is not cached (aiodataloader's rule: a later load asks again)."""
        held = self._held
        out: dict[Any, Any] = {}
        missing: list[Any] = []
        waiting: list[tuple[Any, Any, bool]] = []
        for k in keys:
            h = dict.get(held, k, _MISSING)
            if h is _MISSING:
                missing.append(k)
            elif type(h) is list:  # records: the common case
                out[k] = h
            elif isinstance(h, _Asked):
                waiting.append((k, h.batch, True))
            elif not isinstance(h, asyncio.Future):
                out[k] = h
            elif h.done() and not h.cancelled():
                out[k] = h.exception() or h.result()
            else:
                waiting.append((k, h, False))
        if missing:
            size = self.max_batch_size or len(missing)
            chunks = [missing[i:i + size] for i in range(0, len(missing), size)]
            # One batch (nearly always): awaited in place, no task made for it.
            answers = ([await self._ask(chunks[0])] if len(chunks) == 1
                       else await asyncio.gather(*(self._ask(c) for c in chunks)))
            for answer in answers:
                out.update(answer)
        for k, f, whole in waiting:
            try:
                got = await f
            except Exception as err:  # noqa: BLE001 - this key's failure
                out[k] = err
            else:
                out[k] = got[k] if whole else got
        return out

    async def _ask(self, keys: list[Any]) -> dict[Any, Any]:
        held = self._held
        batch: asyncio.Future[dict[Any, Any]] = held.loop.create_future()
        asked = _Asked(batch)
        for k in keys:
            held[k] = asked
        try:
            values = await self.batch_load_fn(keys)
            if not isinstance(values, list) or len(values) != len(keys):
                raise TypeError("a loader's batch function must return a list of one value per key")
        except BaseException as err:
            for k in keys:
                if dict.get(held, k) is asked:
                    del held[k]
            if isinstance(err, Exception):
                batch.set_exception(err)
                batch.exception()  # retrieved: its waiters, if any, read it again
                return dict.fromkeys(keys, err)
            batch.cancel()
            raise
        answer = dict(zip(keys, values))
        for k, v in answer.items():
            if dict.get(held, k) is asked:
                held[k] = v
        batch.set_result(answer)
        return answer
