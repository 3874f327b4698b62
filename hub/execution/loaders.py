"""Per-request DataLoaders: every key a resolver asks for in one tick of the
event loop goes to its source in one statement, and each record is fetched at
most once per request.

A loader is identified by what it fetches (connector, view, key, row filter),
so two resolvers asking the same question share one batch. The field set comes
from ``fields_for`` (the access policy's grant): connectors never fetch a
column the caller may not read.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from aiodataloader import DataLoader

from connectors.interface import Connector, Page, SourceError
from connectors.views import Record, Where


T = TypeVar("T")
#: (connector, view) -> the unified fields this request may fetch.
FieldsFor = Callable[[str, str], frozenset[str]]
#: (connector, view) -> extra row-filter terms this request must obey.
RowsFor = Callable[[str, str], Where]


def then(future: asyncio.Future[Any], fn: Callable[[Any], T]) -> asyncio.Future[T]:
    """``fn`` applied to a loader's result, without a coroutine per field."""
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


class Loaders:
    def __init__(
        self,
        sources: Mapping[str, Connector],
        fields_for: FieldsFor,
        rows_for: RowsFor | None = None,
        rows: Counter[str] | None = None,
        peer: Any = None,
    ) -> None:
        self.sources = sources
        #: The peer provinces' hubs (connectors.peer.PeerConnector), if configured.
        self.peer = peer
        self.fields_for = fields_for
        self.rows_for = rows_for or (lambda _c, _v: ())
        self._loaders: dict[tuple[Any, ...], DataLoader[Any, Any]] = {}
        #: Rows read from each connector in this request (for the audit trail).
        self.rows: Counter[str] = rows if rows is not None else Counter()

    def records(self, connector: str, view: str, key: str, where: Where = ()) -> DataLoader[Any, list[Record]]:
        """Loader: key value -> every record of ``view`` with that key (maybe none)."""
        ident = ("records", connector, view, key, where)
        loader = self._loaders.get(ident)
        if loader is None:
            source = self.sources[connector]
            fields = self.fields_for(connector, view)
            full_where = where + self.rows_for(connector, view)

            async def batch(keys: Sequence[Any]) -> list[list[Record]]:
                found = await source.load(view, key, keys, fields=fields, where=full_where)
                self.rows[connector] += sum(len(v) for v in found.values())
                return [found.get(k, []) for k in keys]

            loader = self._loaders[ident] = DataLoader(batch, max_batch_size=MAX_BATCH)
        return loader

    def peer_codes(self) -> DataLoader[str, list[Record]]:
        """Loader: a visitor's ID number -> their code from their province's hub."""
        ident = ("peer",)
        loader = self._loaders.get(ident)
        if loader is None:
            peer = self.peer

            async def batch(keys: Sequence[str]) -> list[list[Record]]:
                found = await peer.health_codes(list(keys))
                self.rows["peer"] += sum(1 for v in found.values() if v)
                return [_peer_record(found.get(k)) for k in keys]

            loader = self._loaders[ident] = DataLoader(batch, max_batch_size=MAX_BATCH)
        return loader

    def one(self, connector: str, view: str, key: str, where: Where = ()) -> DataLoader[Any, list[Record]]:
        """Same as records(); use first() on the result for a single record."""
        return self.records(connector, view, key, where)

    def pages(
        self,
        connector: str,
        view: str,
        parent: str | None,
        *,
        first: int,
        after: str | None,
        where: Where = (),
        with_total: bool = False,
    ) -> DataLoader[Any, Page]:
        """Loader: parent key -> one page of its children.

        With ``parent=None`` it pages over the whole view: load ``WHOLE_VIEW``.
        """
        ident = ("pages", connector, view, parent, first, after, where, with_total)
        loader = self._loaders.get(ident)
        if loader is None:
            source = self.sources[connector]
            fields = self.fields_for(connector, view)
            full_where = where + self.rows_for(connector, view)

            async def batch(parents: Sequence[Any]) -> list[Page]:
                keys = [None if p is WHOLE_VIEW else p for p in parents]
                found = await source.pages(
                    view, parent, keys, fields=fields, first=first, after=after,
                    where=full_where, with_total=with_total,
                )
                self.rows[connector] += sum(len(p.records) for p in found.values())
                return [found[k] for k in keys]

            loader = self._loaders[ident] = DataLoader(batch)
        return loader


def _peer_record(code: dict[str, Any] | None) -> list[Record]:
    if code is None:
        return []
    import datetime as dt

    rec = dict(code)
    if isinstance(rec.get("updatedAt"), str):
        try:
            rec["updatedAt"] = dt.datetime.fromisoformat(rec["updatedAt"])
        except ValueError:
            rec["updatedAt"] = None
    return [rec]


#: Keys per statement: IN lists stay well inside every database's limit on
#: bound parameters (SQLite's is 32,766); bigger batches become several statements.
MAX_BATCH = 5_000

#: The key that pages a whole view (DataLoader keys may not be None).
WHOLE_VIEW = "*"


def first(records: list[Record]) -> Record | None:
    return records[0] if records else None
