"""The Starlette application: routes, and the connectors' lifecycle.

    /graphql   POST (and GET queries) GraphQL; GET from a browser opens GraphiQL
    /healthz   the process is up
    /readyz    every connector answers (503 naming the ones that do not)
    /metrics   Prometheus text
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.registry import BUILTIN
from connectors.sql import SourceError, SqlConnector
from schema import SCHEMA

from . import graphiql
from .config import HubConfig
from .context import RequestContext
from .http import GraphQLEndpoint
from .identity import Identity
from .loaders import Loaders
from .metrics import Metrics

log = logging.getLogger("hub")


class Hub:
    """The running hub: its connectors, metrics and GraphQL endpoint."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        self.sources: dict[str, SqlConnector] = {}
        for name, cfg in config.connectors.items():
            connector = BUILTIN[name](cfg.url, timeout=cfg.timeout)
            connector.observers.append(self.metrics.observe_statement)
            self.sources[name] = connector
        self._all_fields = {
            (name, view): frozenset(v.fields)
            for name, c in self.sources.items() for view, v in c.views.items()
        }
        self.endpoint = GraphQLEndpoint(
            SCHEMA._schema,
            secret=lambda: self.config.secret,
            make_context=self.make_context,
            observe=self.metrics.observe_request,
        )

    def make_context(self, identity: Identity, purpose: str | None) -> RequestContext:
        fields = self._all_fields
        loaders = Loaders(self.sources, lambda c, v: fields[(c, v)])
        return RequestContext(identity=identity, purpose=purpose, loaders=loaders)

    async def start(self) -> None:
        for connector in self.sources.values():
            await connector.start()

    async def close(self) -> None:
        for connector in self.sources.values():
            await connector.close()

    async def readiness(self) -> dict[str, str]:
        async def check(connector: SqlConnector) -> str:
            try:
                await connector.ping()
            except SourceError as exc:
                return exc.cause
            return "ok"

        results = await asyncio.gather(*(check(c) for c in self.sources.values()))
        return dict(zip(self.sources, results))


def create_app(config: HubConfig) -> Starlette:
    hub = Hub(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await hub.start()
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
