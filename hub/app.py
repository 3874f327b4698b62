"""The Starlette application: routes, and the connectors' lifecycle.

    /graphql   POST (and GET queries) GraphQL; GET from a browser opens GraphiQL
    /healthz   the process is up
    /readyz    every connector answers (503 naming the ones that do not)
    /metrics   Prometheus text
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.peer import PeerConnector
from connectors.registry import SqlSettings, sources
from connectors.interface import Connector, SourceError
from schema import SCHEMA

from hub.http import graphiql
from hub.access.admission import Access
from hub.audit.trail import AuditLog, Entry, document_hash
from hub.workflows.commitments import Commitments
from hub.config import HubConfig
from hub.execution.context import RequestContext
from hub.errors import ConfigError
from hub.http.endpoint import DocumentCache, Exchange, GraphQLEndpoint
from hub.access.tokens import Identity
from hub.execution.loaders import Loaders
from hub.http.metrics import Metrics
from hub.http.persisted import PersistedQueries
from hub.http.ratelimit import make_rate_limiter
from hub.access.policy import POLICY_DIR, PolicySet

log = logging.getLogger("hub")


class Hub:
    """The running hub: its connectors, metrics and GraphQL endpoint."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        self.sources: dict[str, Connector] = {}
        for name, cfg in config.connectors.items():
            connector = sources()[name].create(SqlSettings(cfg.url, cfg.timeout))
            connector.observers.append(self.metrics.observe_statement)
            self.sources[name] = connector
        # Refuses to start on invalid policies: ConfigError names file and line.
        policy_dir = config.policy_dir or POLICY_DIR
        self.access = Access(SCHEMA._schema, self.sources,
                             PolicySet.load(policy_dir, SCHEMA._schema))
        served = {(c, v): view.served | view.always
                  for c, connector in self.sources.items() for v, view in connector.views.items()}
        self._served = lambda c, v: served[(c, v)]
        if config.state_url is None:
            raise ConfigError("the configuration names no state_url for the audit trail")
        self.audit = AuditLog(config.state_url, config.secret)
        self.peer = PeerConnector(config.peers) if config.peers else None
        self.commitments: Commitments | None = None
        limiter = make_rate_limiter(*config.rate_limit) if config.rate_limit else None
        self.endpoint = GraphQLEndpoint(
            self.admit,
            secret=lambda: self.config.secret,
            observe=self.metrics.observe_request,
            record=self.record,
            persisted=PersistedQueries.from_directory(PERSISTED_DIR, config.allow_persisted_register),
            limiter=limiter,
        )

    async def record(self, ex: Exchange) -> int:
        """Identity -> ... -> audit: the exchange, durable before the answer leaves."""
        ctx = ex.context
        entry = Entry(
            department=ex.identity.department if ex.identity else "-",
            subject=ex.identity.subject if ex.identity else "-",
            purpose=ex.purpose or "-",
            operation=ex.operation or "-",
            document_hash=document_hash(ex.query),
            fields=sorted(ex.fields),
            persons=sorted(ctx.touched) if ctx else [],
            source_rows=dict(ctx.loaders.rows) if ctx else {},
            outcome=ex.outcome,
            status=ex.status,
            latency_ms=round(ex.seconds * 1000),
        )
        return await self.audit.record(entry)

    def admit(self, identity: Identity, purpose: str | None) -> tuple[DocumentCache, RequestContext]:
        """Identity -> policy: the caller's schema, and loaders bound to its grant."""
        admission = self.access.admit(identity, purpose)
        loaders = Loaders(self.sources, admission.fields_for, admission.rows_for, peer=self.peer)
        internal = Loaders(self.sources, self._served, admission.rows_for, rows=loaders.rows,
                           peer=self.peer)
        context = RequestContext(identity=identity, purpose=purpose, loaders=loaders,
                                 admission=admission, audit=self.audit, internal=internal,
                                 rules=self.config.rules, province=self.config.province,
                                 commitments=self.commitments)
        return admission.grant.documents, context

    async def start(self) -> None:
        await self.audit.start()
        self.commitments = Commitments(self.audit.engine)
        for connector in self.sources.values():
            await connector.start()
        if self.peer is not None:
            await self.peer.start()
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self.access.reload)
        except (ValueError, RuntimeError, NotImplementedError):
            pass  # not the main thread (a test client): the file watch still reloads
        self._watch = (asyncio.create_task(self._watch_policies())
                       if self.config.policy_poll_seconds > 0 else None)

    async def close(self) -> None:
        watch = getattr(self, "_watch", None)
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        for connector in self.sources.values():
            await connector.close()
        if self.peer is not None:
            await self.peer.close()
        if self.endpoint.limiter is not None:
            await self.endpoint.limiter.close()
        await self.audit.close()

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
        async def check(connector: Any) -> str:
            try:
                await connector.ping()
            except SourceError as exc:
                return exc.cause
            return "ok"

        checks: dict[str, Any] = dict(self.sources)
        if self.peer is not None:
            checks["peer"] = self.peer
        results = await asyncio.gather(*(check(c) for c in checks.values()))
        return dict(zip(checks, results))


#: Documents peers may send by hash (persisted queries).
PERSISTED_DIR = Path(__file__).resolve().parent.parent / "schema" / "persisted"


def _snapshot(directory: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in sorted(directory.glob("*.toml")):
        with contextlib.suppress(OSError):
            st = path.stat()
            out.append((path.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def create_app(config: HubConfig) -> Starlette:
    hub = Hub(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        # Keep the long-lived start-up heap (schema, policies, connectors) out of
        # full collections: they walked it for ~70 ms at a time under load.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await hub.close()

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        sources = await hub.readiness()
        ready = all(v == "ok" for v in sources.values())
        return JSONResponse({"status": "ready" if ready else "unavailable", "sources": sources},
                            200 if ready else 503)

    async def metrics(_request: Request) -> Response:
        body, media = hub.metrics.render()
        return Response(body, media_type=media)

    async def index(_request: Request) -> Response:
        return JSONResponse({
            "service": "city-brain-hub",
            "graphql": "/graphql (POST; open it in a browser for GraphiQL)",
            "health": "/healthz", "ready": "/readyz", "metrics": "/metrics",
        })

    routes: list[Any] = [
        Route("/", index),
        # A bound method, so Starlette hands it a Request (an object would be ASGI).
        Route("/graphql", hub.endpoint.__call__, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *graphiql.routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.hub = hub
    return app
