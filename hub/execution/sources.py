"""The running connectors, and which of them serve each unified view.

Resolvers ask for a *view* (``HealthCode`` by ``idNumber``), never for a
connector: the set routes each key to the connector that claims it. Several
connectors may serve one view: the provincial health codes and the peer
provinces' hubs both serve ``HealthCode``; a connector that answers only for
some keys (``partial``, e.g. ID numbers of other provinces) is asked first.

Every call to a source passes here (:meth:`SourceSet.load`,
:meth:`SourceSet.pages`), whatever its driver: through the source's circuit
breaker (``connectors.breaker``: an open circuit fails the call at once with
``SourceCircuitOpen``), and within the source's ``timeout`` counted from the
call, after which it is ``SourceTimeout`` at once: the caller never waits for
a driver to clean up after a source that stopped answering (that cleanup
goes on in the background).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from connectors.breaker import Breaker, Breakers
from connectors.interface import Aggregating, Connector, Counts, Page
from connectors.views import Record, View, Where
from hub.errors import HubError, SourceTimeout, SourceUnavailable

T = TypeVar("T")

log = logging.getLogger("hub.sources")


class SourceSet:
    def __init__(self, connectors: Mapping[str, Connector], breakers: Breakers | None = None) -> None:
        self.connectors: dict[str, Connector] = dict(connectors)
        settings = breakers or Breakers()
        #: connector -> its circuit breaker.
        self.breakers = {name: Breaker(name, settings.for_source(name)) for name in self.connectors}
        #: Calls handed to each connector (a call its open circuit refused is not one).
        self.asked: Counter[str] = Counter()
        #: Calls given up on whose driver is still cleaning up (kept so they are not collected).
        self._abandoned: set[asyncio.Future[Any]] = set()
        serving: dict[str, list[str]] = {}
        for name, connector in self.connectors.items():
            for view in connector.views:
                serving.setdefault(view, []).append(name)
        for names in serving.values():
            names.sort(key=lambda n: not getattr(self.connectors[n], "partial", False))
        self._serving = serving
        self._check: asyncio.Future[dict[str, str]] | None = None

    def __getitem__(self, name: str) -> Connector:
        return self.connectors[name]

    def __iter__(self) -> Any:
        return iter(self.connectors)

    def values(self) -> Iterable[Connector]:
        return self.connectors.values()

    def items(self) -> Iterable[tuple[str, Connector]]:
        return self.connectors.items()

    @property
    def views(self) -> dict[str, Mapping[str, View]]:
        """connector -> its views (what the access policies cut)."""
        return {name: c.views for name, c in self.connectors.items()}

    def serving(self, view: str, *, forward: bool = True) -> list[str]:
        """Connectors serving ``view``, in the order keys are offered to them.

        ``forward=False`` leaves out connectors that ask other hubs (so that
        two hubs asking each other cannot loop).
        """
        try:
            names = self._serving[view]
        except KeyError:
            raise KeyError(f"no registered source serves the view {view!r}") from None
        if forward:
            return names
        return [n for n in names if not getattr(self.connectors[n], "forwards", False)]

    def home(self, view: str) -> str:
        """The connector listing ``view`` (pages): the one that answers for every key."""
        return self.serving(view)[-1]

    # -- calls -------------------------------------------------------------
    async def load(self, name: str, view: str, key: str, keys: Sequence[Any], *,
                   fields: Iterable[str], where: Where = ()) -> dict[Any, list[Record]]:
        """``Connector.load`` of ``name``, through its breaker and within its timeout."""
        return await self.call(name, lambda c: c.load(view, key, keys, fields=fields, where=where))

    async def pages(self, name: str, view: str, parent: str | None, parents: Sequence[Any], *,
                    fields: Iterable[str], first: int, after: str | None = None,
                    where: Where = (), with_total: bool = False) -> dict[Any, Page]:
        """``Connector.pages`` of ``name``, through its breaker and within its timeout."""
        return await self.call(name, lambda c: c.pages(view, parent, parents, fields=fields,
                                                        first=first, after=after, where=where,
                                                        with_total=with_total))

    def counts(self, name: str) -> bool:
        """Whether connector ``name`` can count in its source (``aggregate``)."""
        return isinstance(self.connectors[name], Aggregating)

    async def aggregate(self, name: str, view: str, by: Sequence[str], *, where: Where = (),
                        distinct: str | None = None) -> Counts:
        """``aggregate`` of ``name`` (counts by group, in the source), through its breaker
        and within its timeout; a source that cannot count (an API of look-ups) is
        ``SourceUnavailable`` at once, without asking it."""
        connector = self.connectors[name]
        if not isinstance(connector, Aggregating):  # refused before the breaker: not an outage
            raise SourceUnavailable(name, "it answers look-ups only, it cannot count: statistics "
                                          "over it need its database as the source's url")
        counting: Aggregating = connector
        return await self.call(name, lambda _c: counting.aggregate(view, by, where=where,
                                                                   distinct=distinct))

    async def call(self, name: str, ask: Callable[[Connector], Awaitable[T]]) -> T:
        """``ask(connector)``: refused at once while its circuit is open, given up on
        (``SourceTimeout``) ``timeout`` seconds after it started; the outcome is the breaker's."""
        connector = self.connectors[name]
        breaker = self.breakers[name]
        probe = breaker.admit()
        self.asked[name] += 1
        task = asyncio.ensure_future(ask(connector))
        try:
            done, _pending = await asyncio.wait({task}, timeout=connector.timeout)
        except BaseException:  # the request itself was cancelled: no outcome
            task.cancel()
            breaker.release(probe)
            raise
        if not done:
            task.cancel()
            self._abandon(task)
            breaker.failure(probe)
            raise SourceTimeout(name, connector.timeout)
        try:
            result = task.result()
        except SourceUnavailable:
            breaker.failure(probe)
            raise
        except BaseException:
            breaker.release(probe)
            raise
        breaker.success(probe)
        return result

    def _abandon(self, task: asyncio.Future[Any]) -> None:
        self._abandoned.add(task)

        def done(t: asyncio.Future[Any]) -> None:
            self._abandoned.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.debug("an abandoned call ended with %r", t.exception())

        task.add_done_callback(done)

    def circuits(self) -> dict[str, str]:
        """connector -> "closed", "half-open" or "open" (what /readyz shows)."""
        return {name: b.state for name, b in self.breakers.items()}

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        for connector in self.connectors.values():
            await connector.start()

    async def close(self) -> None:
        for task in list(self._abandoned):
            task.cancel()
        if self._abandoned:  # a driver cleaning up after a stalled source: not for long
            await asyncio.wait(set(self._abandoned), timeout=1.0)
        for connector in self.connectors.values():
            await connector.close()

    async def trial_start(self) -> None:
        """Start every connector and close it again: what a command checks before it
        serves, so that a source that cannot start (its SQLite file missing) stops it."""
        try:
            await self.start()
        finally:
            await self.close()

    async def readiness(self) -> dict[str, str]:
        """connector -> "ok" or the one-line reason it is not ready.

        Each connector's ``ping`` asks its source a real question (the SQL
        driver: a row of every table its views read). Probes arriving while a
        check runs share it, so a flood of them costs the sources one check at
        a time."""
        check = self._check
        if check is None or check.done() or check.get_loop() is not asyncio.get_running_loop():
            self._check = check = asyncio.ensure_future(self._readiness())
        # Shielded: a probe that hangs up does not cancel the check others wait for.
        return dict(await asyncio.shield(check))

    async def _readiness(self) -> dict[str, str]:
        async def check(name: str, connector: Connector) -> str:
            breaker = self.breakers[name]
            if breaker.state == "open":  # not asked: the circuit keeps it alone
                return f"circuit {breaker.describe()}"
            try:
                # Its own timeout bounds a ping; this one bounds a connector that has none.
                await asyncio.wait_for(connector.ping(), connector.timeout + 1.0)
            except SourceUnavailable as exc:
                return exc.cause
            except TimeoutError:
                return f"no answer within {connector.timeout:g}s"
            except HubError as exc:
                return exc.message
            except Exception as exc:  # one connector's bug must not hide the others
                log.exception("readiness check of the %s source failed", name)
                return f"its readiness check failed ({type(exc).__name__}; the hub's log has the details)"
            return "ok"

        results = await asyncio.gather(*(check(n, c) for n, c in self.connectors.items()))
        return dict(zip(self.connectors, results))
