"""Per-request DataLoaders: every key a resolver asks for in one tick of the
event loop goes to its source in one request, and each record is fetched at
most once per request.

A loader is identified by what it fetches (view, key, row filter), so two
resolvers asking the same question share one batch. Which columns and rows it
may fetch comes from ``reads`` (the request's admission, hub.access): a
connector never fetches a column the caller may not read, nor a row outside
its scope. Keys are routed to the connector that claims them (see
``SourceSet``); a source that fails fails only the keys it was asked for.

A loader is a :class:`Batcher`: a DataLoader (``load``: a future, batched per
tick) that also settles a whole level's keys at once (``settle``, for the
:class:`hub.futures.Load` objects resolvers return: no future per key), both
sharing one cache.

A source fails a request once: its first failure is remembered for the rest
of the request, and every later question to it in the same request (the
next level's, a workflow's) fails at once with the same error instead of
waiting out the source's timeout again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

from connectors.interface import Counts, Page
from connectors.views import Record, Where
from hub.errors import BadInput, SourceUnavailable

from .batcher import Batcher
from .sources import SourceSet

__all__ = ["MAX_BATCH", "WHOLE_VIEW", "Batcher", "Loaders", "Reads", "Selection", "first"]

#: Keys per request: IN lists stay well inside every database's limit on
#: bound parameters (SQLite's is 32,766); bigger batches become several.
MAX_BATCH = 5_000

#: The key that pages a whole view (DataLoader keys may not be None).
WHOLE_VIEW = "*"


class Reads(Protocol):
    """What one set of loaders may fetch (``hub.access.admission.Reads``)."""

    def columns_for(self, connector: str, view: str) -> frozenset[str]: ...

    def rows_for(self, connector: str, view: str) -> Where: ...


class Selection:
    """What a document selects, as "Type.field" (hub.execution.documents.fields_read,
    with what the selected fields' resolvers read besides: their ``reads``), and
    every "Type.field" of the schema (a column serving none of these is kept)."""

    __slots__ = ("fields", "schema_fields")

    def __init__(self, fields: frozenset[str], schema_fields: frozenset[str]) -> None:
        self.fields = fields
        self.schema_fields = schema_fields


class Loaders:
    def __init__(self, sources: SourceSet, reads: Reads, rows: Counter[str] | None = None,
                 failed: dict[str, SourceUnavailable] | None = None) -> None:
        self.sources = sources
        self.reads = reads
        self._loaders: dict[tuple[Any, ...], Batcher] = {}
        #: Rows read from each connector in this request (for the audit trail).
        self.rows: Counter[str] = rows if rows is not None else Counter()
        #: connector -> its first failure in this request (shared by a request's loaders).
        self.failed: dict[str, SourceUnavailable] = failed if failed is not None else {}
        #: What the request's document selects (``select``); None: every granted column.
        self._selected: Selection | None = None

    def release(self) -> None:
        """Let go of the request's loaders (and what they hold) now: each holds a
        batch function bound to these loaders, a cycle that only the garbage
        collector would free. A loader asked for after is made again."""
        self._loaders.clear()

    def select(self, selection: Selection | None) -> None:
        """Fetch only the columns ``selection`` needs (before the first load)."""
        self._selected = selection

    def columns(self, name: str, view: str) -> frozenset[str]:
        """The columns of ``view`` to fetch from connector ``name``: those granted, less
        those serving a GraphQL field the request's document does not select. Kept
        whatever the selection: the view's keys (``always``) and order, and every
        column serving no field of the schema (hidden join keys, the private fields
        resolvers read, e.g. ``Residence.communityId``)."""
        granted = self.reads.columns_for(name, view)
        selection = self._selected
        if selection is None:
            return granted
        v = self.sources[name].views[view]
        keep = v.always | {v.order}
        out = frozenset(c for c in granted
                        if c in keep or (g := v.graph_field(c)) is None or g in selection.fields
                        or g not in selection.schema_fields)
        return out

    async def _ask(self, name: str, ask: Any) -> Any:
        """``ask()`` of source ``name``, unless it already failed in this request."""
        failure = self.failed.get(name)
        if failure is not None:
            raise failure
        try:
            return await ask()
        except SourceUnavailable as exc:
            self.failed.setdefault(name, exc)
            raise
        except OverflowError:  # a value no column of the source can hold
            raise _too_large(name) from None

    def records(self, view: str, key: str, where: Where = (), *,
                forward: bool = True) -> Batcher:
        """Loader: key value -> every record of ``view`` with that key (maybe none).

        ``forward=False``: only this hub's own sources, never another hub.
        """
        targets = tuple(self.sources.serving(view, forward=forward))
        ident = ("records", view, key, where, targets)
        loader = self._loaders.get(ident)
        if loader is None:
            if len(targets) == 1:
                batch = self._one(targets[0], view, key, where)
            else:
                batch = self._routed(targets, view, key, where)
            loader = self._loaders[ident] = Batcher(batch, max_batch_size=MAX_BATCH)
        return loader

    def _one(self, name: str, view: str, key: str, where: Where) -> Any:
        fields = self.columns(name, view)
        full_where = where + self.reads.rows_for(name, view)
        sources = self.sources

        async def batch(keys: Sequence[Any]) -> list[list[Record]]:
            found = await self._ask(name, lambda: sources.load(name, view, key, keys, fields=fields,
                                                               where=full_where))
            self.rows[name] += sum(len(v) for v in found.values())
            return [found.get(k, []) for k in keys]

        return batch

    def _routed(self, names: tuple[str, ...], view: str, key: str, where: Where) -> Any:
        """Each key to the first connector claiming it, through that connector's own
        loader: keys another resolver already asked of it cost nothing more."""
        connectors = [(n, self.sources[n]) for n in names]

        async def batch(keys: Sequence[Any]) -> list[Any]:
            groups: dict[str, list[Any]] = {}
            for k in keys:
                owner = next((n for n, c in connectors if c.claims(view, key, k)), None)
                if owner is not None:
                    groups.setdefault(owner, []).append(k)
            own = {n: self._single(n, view, key, where) for n in groups}
            outcomes = await asyncio.gather(*(own[n].load_many(ks) for n, ks in groups.items()),
                                            return_exceptions=True)
            answer: dict[Any, Any] = {}
            for (_n, ks), outcome in zip(groups.items(), outcomes):
                if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                    raise outcome
                for i, k in enumerate(ks):  # a failing source fails only its own keys
                    answer[k] = outcome if isinstance(outcome, Exception) else outcome[i]
            return [answer.get(k, []) for k in keys]

        return batch

    def _single(self, name: str, view: str, key: str, where: Where) -> Batcher:
        ident = ("records", view, key, where, (name,))
        loader = self._loaders.get(ident)
        if loader is None:
            loader = self._loaders[ident] = Batcher(self._one(name, view, key, where),
                                                    max_batch_size=MAX_BATCH)
        return loader

    def pages(
        self,
        view: str,
        parent: str | None,
        *,
        first: int,
        after: str | None,
        where: Where = (),
        with_total: bool = False,
    ) -> Batcher:
        """Loader: parent key -> one page of its children.

        With ``parent=None`` it pages over the whole view: load ``WHOLE_VIEW``.
        """
        ident = ("pages", view, parent, first, after, where, with_total)
        loader = self._loaders.get(ident)
        if loader is None:
            name = self.sources.home(view)
            sources = self.sources
            fields = self.columns(name, view)
            full_where = where + self.reads.rows_for(name, view)

            async def batch(parents: Sequence[Any]) -> list[Page]:
                keys = [None if p is WHOLE_VIEW else p for p in parents]
                found = await self._ask(name, lambda: sources.pages(
                    name, view, parent, keys, fields=fields, first=first, after=after,
                    where=full_where, with_total=with_total,
                ))
                self.rows[name] += sum(len(p.records) for p in found.values())
                return [found[k] for k in keys]

            loader = self._loaders[ident] = Batcher(batch)
        return loader

    async def aggregate(self, view: str, by: Sequence[str], where: Where = (), *,
                        distinct: str | None = None) -> Counts:
        """Counts of ``view``'s rows by ``by``, counted in its source under the
        caller's row scope (no record leaves the source); each group is a row read."""
        name = self.sources.home(view)
        full_where = where + self.reads.rows_for(name, view)
        sources = self.sources
        if not sources.counts(name):  # not a failure of the source: its other answers stand
            return await sources.aggregate(name, view, by, where=full_where, distinct=distinct)
        counts: Counts = await self._ask(name, lambda: sources.aggregate(
            name, view, by, where=full_where, distinct=distinct))
        self.rows[name] += len(counts)
        return counts


def _too_large(source: str) -> BadInput:
    """The arguments are checked where they are read (schema/arguments.py); a value
    that still overflows a source's column is the client's, not the source's fault."""
    return BadInput(f"a value in this request is too large for the {source} source; "
                    "keep ids and numbers within the ranges the README gives")


def first(records: list[Record]) -> Record | None:
    return records[0] if records else None
