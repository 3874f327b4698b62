"""The Starlette application: it composes the rooms and runs their lifecycle.

    /graphql   POST (and GET queries) GraphQL; GET from a browser opens GraphiQL
    /healthz   the process is up
    /readyz    every connector answers (503 naming the ones that do not)
    /metrics   Prometheus text
    /console   the big-data bureau's console (hub.console)

Nothing here decides anything about a request: the endpoint
(hub.http.endpoint) runs identity -> admission -> validation -> execution ->
audit on the objects made here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from connectors.interface import STATEMENT_STARTED, Connector
from connectors.registry import sources as registered
from hub.access.admission import Access
from hub.access.vocabulary import POLICY_DIR
from hub.audit.grants import EmergencyGrants
from hub.audit.trail import AuditLog
from hub.config import HubConfig
from hub.errors import AuditUnavailable, ConfigError
from hub.execution.runner import Runner
from hub.execution.sources import SourceSet
from hub.http import graphiql
from hub.http.endpoint import GraphQLEndpoint
from hub.http.metrics import Metrics
from hub.http.observe import Observed
from hub.http.persisted import PersistedQueries
from hub.http.ratelimit import make_rate_limiter
from hub.http.routes import service_routes
from hub.http.tracing import Tracing
from hub.push import DEPARTMENT, FEED, NationalFeed
from hub.workflows.commitments import Commitments
from schema import SCHEMA

log = logging.getLogger("hub")

#: Seconds each step of closing the hub may take before it is logged and left.
CLOSE_SECONDS = 15.0


async def _bounded(what: str, step: Any) -> None:
    """Await ``step`` for at most ``CLOSE_SECONDS``; past that, log it and go on."""
    try:
        async with asyncio.timeout(CLOSE_SECONDS):
            await step
    except TimeoutError:
        log.warning("closing %s took over %g s and was left unfinished", what, CLOSE_SECONDS)

#: Net allocations of tracked objects between two collections of the youngest
#: generation while serving (Python's default: 700).
YOUNG_OBJECTS = 10_000

#: Documents peers may send by hash (persisted queries).
PERSISTED_DIR = Path(__file__).resolve().parent.parent / "schema" / "persisted"


def connector_settings(config: HubConfig) -> dict[str, Any]:
    """Settings of every source to start: the configured ones (``[[peers]]`` are
    the peer source's)."""
    from connectors.peer import PeerSettings

    out: dict[str, Any] = dict(config.connectors)
    if config.peers:
        out["peer"] = PeerSettings(tuple(config.peers))
    return out


class Hub:
    """The running hub: its sources, access policies, audit trail and endpoint."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.metrics = Metrics(started=STATEMENT_STARTED.get)
        connectors: dict[str, Connector] = {}
        known = registered()
        for name, settings in connector_settings(config).items():
            connector = known[name].create(settings)
            connector.observers.append(self.metrics.observe_statement)
            opened = getattr(connector, "connections_opened", None)
            if callable(opened):  # the SQL driver counts the connections its pool opens
                self.metrics.watch_connections(name, opened)
            connectors[name] = connector
        self.tracing = (Tracing(config.otlp_endpoint, config.service_name, started=STATEMENT_STARTED.get)
                        if config.otlp_endpoint else None)
        if self.tracing is not None:
            for connector in connectors.values():
                connector.observers.append(self.tracing.observe_statement)
        self.sources = SourceSet(connectors, config.breaker)
        for name, breaker in self.sources.breakers.items():
            self.metrics.watch_circuit(name, functools.partial(getattr, breaker, "value"))
        # Refuses to start on invalid policies: ConfigError names file and line.
        self.access = Access(SCHEMA._schema, self.sources.views, config.policy_dir or POLICY_DIR,
                             secret=lambda: self.config.secret,
                             token_max_seconds=config.limits.token_max_seconds)
        if config.state_url is None:
            raise ConfigError("the configuration names no state_url for the audit trail")
        self.audit = AuditLog(config.state_url, config.secret, config.limits)
        self.audit.observers.append(self.metrics.observe_audit_store)
        self.runner = Runner(self.sources, rules=config.rules, province=config.province,
                             audit=self.audit, statistics_k=config.statistics_k,
                             secret=lambda: self.config.secret)
        #: Break-glass grants, beside the audit trail in the hub's own database.
        self.grants = EmergencyGrants(lambda: self.audit.engine,
                                      max_minutes=config.emergency_max_minutes,
                                      review_hours=config.emergency_review_hours)
        self.runner.grants = self.grants
        limiter = make_rate_limiter(*config.rate_limit) if config.rate_limit else None
        limits = config.limits
        addresses = (make_rate_limiter(limits.address_requests, limits.address_period_seconds,
                                       config.rate_limit[2] if config.rate_limit else None)
                     if limits.address_requests > 0 else None)
        self.endpoint = GraphQLEndpoint(
            self.access, self.runner, self.audit, self.metrics,
            persisted=PersistedQueries.from_directory(PERSISTED_DIR, config.allow_persisted_register),
            limiter=limiter, limits=limits, address_limiter=addresses,
        )
        self._watch: asyncio.Task[None] | None = None
        # [push.national] interval_seconds: the push to the national platform, in the background.
        self.push: NationalFeed | None = None
        self._push: asyncio.Task[None] | None = None
        push = config.national_push
        if push is not None and push.interval_seconds is not None:
            self.push = NationalFeed(push, self.sources["healthcode"], self.audit,
                                     lambda: self.access.policies.policies.get(DEPARTMENT),
                                     subject="hub-serve")
            self.push.observers.append(self.metrics.observe_push_batch)
            self.metrics.watch_push_lag(FEED, self.push.lag_seconds)

    async def start(self) -> None:
        await self.audit.start()
        self.audit.watch()  # the write probe and the size, for /readyz and /metrics
        self.runner.commitments = Commitments(self.audit.engine)
        await self.sources.start()
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self.access.reload)
        except (ValueError, RuntimeError, NotImplementedError):
            pass  # not the main thread (a test client): the file watch still reloads
        if self.config.policy_poll_seconds > 0:
            self._watch = asyncio.create_task(self._watch_policies())
        if self.push is not None and self.push.settings.interval_seconds is not None:
            self._push = asyncio.create_task(self.push.every(self.push.settings.interval_seconds))

    async def close(self) -> None:
        """Stop the policy watch and the national push, then close the sources, the rate limits, the audit
        trail (its promised entries and counts written first) and the tracing.

        Each step is given ``CLOSE_SECONDS``: one that does not end by then is
        logged and left, so that a stuck close never holds the process (or a
        test client's shutdown) for ever; the entries of answered requests were
        committed before their answers, so a step left behind loses none of them."""
        for what, task in (("the policy watch", self._watch), ("the national push", self._push)):
            if task is not None:
                task.cancel()  # a push cut mid-batch resumes from its cursor next time
                with contextlib.suppress(asyncio.CancelledError):
                    await _bounded(what, task)
        await _bounded("the sources", self.sources.close())
        for limiter in (self.endpoint.limiter, self.endpoint.address_limiter):
            if limiter is not None:
                await _bounded("a rate limit", limiter.close())
        await _bounded("the audit trail", self.audit.close())
        if self.tracing is not None:
            self.tracing.close()  # sends the spans still waiting

    async def _watch_policies(self) -> None:
        """Reload the policy files when one changes (a broken edit keeps the old ones)."""
        last = _snapshot(self.access.policies.directory)
        while True:
            await asyncio.sleep(self.config.policy_poll_seconds)
            now = _snapshot(self.access.policies.directory)
            if now != last:
                last = now
                self.access.reload()

    async def readiness(self) -> dict[str, str]:
        return await self.sources.readiness()

    async def warnings(self) -> list[str]:
        """What the bureau should see to (/readyz ``warnings``), without making the hub
        not ready: emergency grants left unreviewed past the review period."""
        try:
            overdue = await self.grants.overdue()
        except AuditUnavailable:
            return []  # the audit store's own readiness says why
        self.metrics.observe_grants_overdue(overdue)
        if not overdue:
            return []
        return [f"{overdue} emergency grant{'s' if overdue != 1 else ''} unreviewed for more than "
                f"{self.grants.review_hours:g} h ([emergency] review_hours): the big-data bureau "
                "reviews them (emergencyGrants(reviewed: false), reviewEmergencyGrant)"]


def _snapshot(directory: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in sorted(directory.glob("*.toml")):
        with contextlib.suppress(OSError):
            st = path.stat()
            out.append((path.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def create_app(config: HubConfig) -> Starlette:
    from hub.console.app import Console
    from hub.console.pages import PAGES

    hub = Hub(config)
    console = Console(hub.access, hub.endpoint, hub.metrics, hub, lambda: hub.config.secret, list(PAGES))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        await console.start()
        # Keep the long-lived start-up heap (schema, policies, connectors) out of
        # full collections: they walked it for ~70 ms at a time under load.
        gc.collect()
        gc.freeze()
        # A request leaves no cycles behind (RequestContext.release, executor.execute),
        # so young objects are the requests in flight: collected every YOUNG_OBJECTS
        # allocations rather than every 700, the collector stops walking them every
        # few requests (8% of a look-up's time under load at 700).
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], YOUNG_OBJECTS), *thresholds[1:])
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            await console.close()
            await hub.close()

    routes: list[Any] = [
        # A bound method, so Starlette hands it a Request (an object would be ASGI).
        Route("/graphql", hub.endpoint.__call__, methods=["GET", "POST"]),
        *service_routes(hub.readiness, hub.metrics, hub.audit.readiness, hub.sources.circuits,
                        hub.warnings),
        *graphiql.routes(),
        *console.routes(),
    ]
    # Every request: an id, a log line and (tracing on) a span (hub.http.observe).
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(Observed, tracer=hub.tracing)])
    app.state.hub = hub
    app.state.console = console
    return app
