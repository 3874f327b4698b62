"""``then``: a function applied to a future's result, without a coroutine.

Resolvers return loader futures; a field that transforms a loaded record (a
mask, a record to a type) chains a callback instead of awaiting in a coroutine
of its own, which for a page of 500 pupils is most of a request's time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def then(future: asyncio.Future[Any], fn: Callable[[Any], T]) -> Any:
    """A future of ``fn(result)``; an exception (of the future or of ``fn``) is passed on.

    Typed ``Any``: a resolver returns it where its declared type stands (the
    executor awaits it), which a type checker cannot see through.
    """
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
