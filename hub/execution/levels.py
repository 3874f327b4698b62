"""The level loop: one run of an operation, a level of the answer at a time.

:class:`_Run` holds the state of one execution (the classes it builds on:
``_Operation`` in fields.py, ``_Nulls`` in nulls.py, ``_Completion`` in
complete.py). A level is a list of batches (objects of one type sharing one
selection set). For each batch, each field's resolver is called for all its
objects (:meth:`_Run._resolve`, one unrolled loop per read mode); the
awaitables of the whole level are awaited together, once (:func:`_settle`);
then every field is completed, the deferred awaitables of completion are
awaited and continued, the level's errors are settled, and the child objects
collected per (type, selection set) are the next level. DataLoader batching
is kept (every load of a level is made before anything is awaited) and no
coroutine is made per item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from graphql import GraphQLObjectType

from hub.execution.complete import _Completion
from hub.execution.fields import _DEFAULT, _TYPENAME_FIELD, _Batch, _Field, _Work
from hub.execution.strawberry_paths import _ATTR, _CALL_DEFAULT, _STRAWBERRY
from hub.futures import Load, LoadEach

__all__ = ["_Run"]


class _Run(_Completion):
    """The state of one execution, and its level loop.

    ``watch`` (type name -> callback): each callback is called, once the run is
    over, with the objects of its type that the answer holds (their fields were
    executed and no error nulled them or a node enclosing them).
    """

    watch: Mapping[str, Callable[[list[Any]], None]] = {}

    async def run(self, root_type: GraphQLObjectType, grouped: Any) -> dict[str, Any] | None:
        #: The batches of watched types met: (callback, answer nodes, objects).
        self._watched: list[tuple[Callable[[list[Any]], None], list[Any], list[Any]]] = []
        data: dict[str, Any] = {}
        holder: dict[Any, Any] = {None: data}
        root = [None, None, holder, True, root_type.name, False]
        batch = _Batch(root_type, self._fields(root_type, grouped))
        batch.sources.append(self.root_value)
        batch.results.append(data)
        batch.nodes.append(root)
        level = [batch]
        while level:
            level = await self._level(level)
        for seen, nodes, objects in self._watched:
            if self.any_dead:
                objects = [o for o, node in zip(objects, nodes) if not self._is_dead(node)]
            if objects:
                seen(objects)
        answer: dict[str, Any] | None = holder[None]
        return answer

    async def _level(self, batches: list[_Batch]) -> list[_Batch]:
        if self.any_dead:
            batches = [self._alive(b) for b in batches]
        batches = [b for b in batches if b.sources]
        if self.watch:
            for b in batches:
                seen = self.watch.get(b.type.name)
                if seen is not None:
                    self._watched.append((seen, b.nodes, b.sources))
        work: list[_Work] = []
        pending: list[Any] = []
        slots: list[tuple[list[Any], int]] = []
        loads: list[tuple[list[Any], int, Any]] = []  # (raws, slot, Load), or (raws, -1, LoadEach)
        for batch in batches:
            work.extend(self._resolve(field, batch, pending, slots, loads) for field in batch.fields)
        if loads and pending:
            # Coroutines of this level may ask the same loaders: their loads and these
            # go to the loaders' DataLoader queues in the same tick, and so share
            # their batches, as they would under graphql-core.
            futures = [load.loader.load(k) for _raws, i, load in loads
                       for k in (load.keys if i < 0 else (load.key,))]
            done = await _settle(pending + futures)
            values = iter(done[len(pending):])
            for raws, i, load in loads:
                if i >= 0:
                    raws[i] = load.outcome(next(values))
                else:
                    raws[:] = [load.outcome(next(values)) for _k in load.keys]
        elif loads:
            await _settle_loads(loads)
        elif pending:
            done = await _settle(pending)
        if pending:
            for (raws, i), value in zip(slots, done):
                raws[i] = value
        self._children = {}
        for w in work:
            self._complete_field(w)
        while self._deferred:
            self._in_deferred = True
            deferred, self._deferred = self._deferred, []
            done = await _settle([d[0] for d in deferred])
            for (_aw, then, args), value in zip(deferred, done):
                then(value, *args)
        self._in_deferred = False
        if self._events:
            self._settle_errors()
        return list(self._children.values())

    def _alive(self, batch: _Batch) -> _Batch:
        keep = [i for i, node in enumerate(batch.nodes) if not self._is_dead(node)]
        if len(keep) == len(batch.nodes):
            return batch
        out = _Batch(batch.type, batch.fields)
        out.sources = [batch.sources[i] for i in keep]
        out.results = [batch.results[i] for i in keep]
        out.nodes = [batch.nodes[i] for i in keep]
        return out

    def _resolve(self, field: _Field, batch: _Batch, pending: list[Any],
                 slots: list[tuple[list[Any], int]], loads: list[tuple[list[Any], int, Any]]) -> _Work:
        mode = field.mode
        sources = batch.sources
        if mode == _TYPENAME_FIELD or mode < 0:
            return _Work(field, batch, [], None)
        if field.args_error is not None:
            return _Work(field, batch, [field.args_error] * len(sources), None)
        info = None
        raws: list[Any]
        if mode == _ATTR:
            name = field.attr
            try:
                raws = [getattr(s, name) for s in sources]
            except Exception:  # noqa: BLE001 - again one by one, to locate it
                raws = []
                for s in sources:
                    try:
                        raws.append(getattr(s, name))
                    except Exception as err:  # noqa: BLE001
                        raws.append(err)
        elif mode == _CALL_DEFAULT:
            reader, name = field.resolve, field.attr
            raws = []
            for s in sources:
                try:
                    raws.append(reader(s, name))
                except Exception as err:  # noqa: BLE001
                    raws.append(err)
        else:
            info = self._info(field, batch)
            args = field.args
            raws = []
            append = raws.append
            if mode == _STRAWBERRY:
                sb = field.strawberry
                assert sb is not None
                level = sb.call_level(args, info, sources) if sb.batch is not None else None
                if level is None:
                    sb.call_each(args, info, sources, append)
                elif type(level) is LoadEach:  # settled with the level, slots filled then
                    raws = [None] * len(sources)
                    loads.append((raws, -1, level))
                    work = _Work(field, batch, raws, info)
                    work.late = True
                    return work
                else:
                    raws = level
            elif mode == _DEFAULT:
                name = field.name
                for s in sources:
                    try:
                        value = s.get(name) if isinstance(s, Mapping) else getattr(s, name, None)
                        if callable(value):
                            value = value(info, **args)
                        append(value)
                    except Exception as err:  # noqa: BLE001
                        append(err)
            else:
                resolve = field.resolve
                if args:
                    for s in sources:
                        try:
                            append(resolve(s, info, **args))
                        except Exception as err:  # noqa: BLE001
                            append(err)
                else:
                    for s in sources:
                        try:
                            append(resolve(s, info))
                        except Exception as err:  # noqa: BLE001
                            append(err)
        known = self._awaitable_types
        count, loaded = len(pending), len(loads)
        for i, value in enumerate(raws):
            if type(value) is Load:
                loads.append((raws, i, value))
                continue
            aw = known.get(type(value))
            if aw is None:
                aw = self._classify(value)
            if aw:
                pending.append(value)
                slots.append((raws, i))
        work = _Work(field, batch, raws, info)
        work.late = len(pending) > count or len(loads) > loaded
        return work


async def _settle_loads(loads: list[tuple[list[Any], int, Any]]) -> None:
    """Each load's outcome into its slot (a ``LoadEach``'s into every slot of its
    field): each loader asked once, for the distinct keys of the whole level, the
    loaders concurrently (one source's failure fails only its own loads)."""
    keys: dict[Any, dict[Any, None]] = {}
    for _raws, i, load in loads:
        wanted = keys.get(load.loader)
        if wanted is None:
            wanted = keys[load.loader] = {}
        if i < 0:
            wanted.update(dict.fromkeys(load.keys))
        else:
            wanted[load.key] = None
    if len(keys) == 1:
        [(loader, wanted)] = keys.items()
        settled: dict[Any, Any] = {loader: await loader.settle(wanted)}
    else:
        outcomes = await asyncio.gather(*(loader.settle(wanted) for loader, wanted in keys.items()),
                                        return_exceptions=True)
        settled = dict(zip(keys, outcomes))
    for raws, i, load in loads:
        values = settled[load.loader]
        if isinstance(values, BaseException):
            if not isinstance(values, Exception):
                raise values
            if i < 0:
                raws[:] = [values] * len(raws)
            else:
                raws[i] = values
        elif i < 0:
            load.fill(raws, values)
        else:
            raws[i] = load.outcome(values[load.key])


async def _settle(awaitables: list[Any]) -> list[Any]:
    """The value, or the exception, of each awaitable: all awaited together.

    Futures (a loader's) are awaited one after the other, not gathered: by the
    time the first pending one is done, the others, settled by the same loader
    batches, mostly are too; that costs a wake-up or a few instead of a
    callback per future. Other awaitables (coroutines) are made tasks first,
    so that they run concurrently, as under ``asyncio.gather``. A cancelled
    future cancels the execution, as it does graphql-core's.
    """
    futures = []
    tasks = []
    for aw in awaitables:
        if isinstance(aw, asyncio.Future):
            futures.append(aw)
        else:
            task = asyncio.ensure_future(aw)
            futures.append(task)
            tasks.append(task)
    out: list[Any] = []
    append = out.append
    try:
        for future in futures:
            if not future.done():
                try:
                    await future
                except Exception:  # noqa: BLE001, S110 - read below
                    pass
            try:
                append(future.result())
            except Exception as err:  # noqa: BLE001 - a field error
                append(err)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
    return out
