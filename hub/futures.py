"""``then``: a function applied to a loaded value, without a coroutine; and
:class:`Load`: a loader's value for one key, not yet asked for.

Resolvers return what a loader will give for a key. A field that transforms a
loaded record (a mask, a record to a type) chains a function instead of
awaiting in a coroutine of its own, which for a page of 500 pupils is most of
a request's time.

A :class:`Load` is a plain object, not a future: the level-by-level executor
(hub/execution/levels.py) collects the loads of a whole level, asks each
loader once for all their distinct keys (``settle``), and applies each load's
functions to its value, so a level costs no future, callback or wake-up per
item. Anything else may simply await a load: it then goes through the
loader's own batching (``load``, a DataLoader future), with the same value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from operator import attrgetter
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

__all__ = ["Load", "LoadEach", "Settling", "loads", "per_level", "then"]


class Settling(Protocol):
    """What a :class:`Load`'s loader offers (hub/execution/loaders.py ``Batcher``)."""

    def load(self, key: Any) -> asyncio.Future[Any]:
        """The value for ``key``, batched with the other keys asked in the same tick."""

    def settle(self, keys: Iterable[Any]) -> Awaitable[Mapping[Any, Any]]:
        """key -> its value, or the exception that fails it, for each distinct key:
        what the loader holds already, and the rest asked of the source at once."""


class Load:
    """A loader's value for ``key``, with the functions to apply to it in order."""

    __slots__ = ("fns", "key", "loader")

    def __init__(self, loader: Settling, key: Any, fns: tuple[Callable[[Any], Any], ...] = ()) -> None:
        self.loader = loader
        self.key = key
        self.fns = fns

    def then(self, fn: Callable[[Any], Any]) -> Load:
        return Load(self.loader, self.key, (*self.fns, fn))

    def outcome(self, value: Any) -> Any:
        """The load's value given its loader's ``value`` (an exception: passed on, as
        is one its functions raise)."""
        if isinstance(value, Exception):
            return value
        try:
            for fn in self.fns:
                value = fn(value)
        except Exception as err:  # noqa: BLE001 - the field's error
            return err
        return value

    def __await__(self) -> Generator[Any, None, Any]:
        value = yield from self.loader.load(self.key).__await__()
        for fn in self.fns:
            value = fn(value)
        return value


def then(future: asyncio.Future[Any] | Load, fn: Callable[[Any], T]) -> Any:
    """``fn`` of the value: a :class:`Load` with ``fn`` added, or a future of
    ``fn(result)``; an exception (of the future or of ``fn``) is passed on.

    Typed ``Any``: a resolver returns it where its declared type stands (the
    executor awaits it), which a type checker cannot see through.
    """
    if isinstance(future, Load):
        return future.then(fn)
    out: asyncio.Future[T] = future.get_loop().create_future()

    def done(f: asyncio.Future[Any]) -> None:
        if out.cancelled():
            return
        exc = f.exception()
        if exc is not None:
            out.set_exception(exc)
        else:
            try:
                out.set_result(fn(f.result()))
            except Exception as err:  # noqa: BLE001 - handed to the resolver's caller
                out.set_exception(err)

    future.add_done_callback(done)
    return out


class LoadEach:
    """``fn`` of what ``loader`` gives for each of ``keys``: the loads of one field
    over a whole level, as one object (what a per-level resolver returns)."""

    __slots__ = ("fn", "keys", "loader")

    def __init__(self, loader: Settling, keys: list[Any], fn: Callable[[Any], Any]) -> None:
        self.loader = loader
        self.keys = keys
        self.fn = fn

    def __len__(self) -> int:
        return len(self.keys)

    def outcome(self, value: Any) -> Any:
        """``fn(value)``; an exception (the value, or one ``fn`` raises) passed on."""
        if isinstance(value, Exception):
            return value
        try:
            return self.fn(value)
        except Exception as err:  # noqa: BLE001 - the field's error for this object
            return err

    def fill(self, out: list[Any], values: Mapping[Any, Any]) -> None:
        """``out[i]`` = the outcome for ``keys[i]``, given the loader's ``values`` by key."""
        fn = self.fn
        found = [values[k] for k in self.keys]
        try:  # most often nothing fails: no try per item
            out[:] = [v if isinstance(v, Exception) else fn(v) for v in found]
        except Exception:  # noqa: BLE001 - one did: each item's own outcome
            outcome = self.outcome
            out[:] = [outcome(v) for v in found]


def loads(objects: Iterable[Any], loader: Settling, key: str, fn: Callable[[Any], Any]) -> LoadEach:
    """``fn`` of what ``loader`` gives for each object's ``key`` attribute."""
    return LoadEach(loader, list(map(attrgetter(key), objects)), fn)


def per_level(batch: Callable[..., list[Any] | LoadEach]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A resolver's form for a whole level: ``batch(objects, **arguments)`` gives the
    values ``resolver(o, **arguments)`` would give for each of ``objects``, in order
    (a list, or a :class:`LoadEach`: one value per object, settled with the level).

    The level-by-level executor calls it once per field and level instead of the
    resolver once per object (hub/execution/strawberry_paths.py); graphql-core, and
    the executor wherever the resolver is wrapped (a mask), call the resolver.
    tests/test_executor.py checks that both give the same answers."""

    def mark(resolver: Callable[..., Any]) -> Callable[..., Any]:
        resolver.__per_level__ = batch  # type: ignore[attr-defined]
        return resolver

    return mark
