"""The routes besides /graphql: the process, readiness, metrics, an index."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .metrics import Metrics


def service_routes(readiness: Callable[[], Awaitable[dict[str, str]]], metrics: Metrics,
                   audit: Callable[[], Awaitable[str]] | None = None,
                   circuits: Callable[[], dict[str, str]] | None = None,
                   warnings: Callable[[], Awaitable[list[str]]] | None = None) -> list[Any]:
    """``/healthz`` (the process), ``/readyz`` (every source answers and the audit
    store can be written; 503 names the ones that cannot, with why; each source's
    circuit breaker state under ``circuits``; ``warnings``: what an operator should
    see to, which does not make the hub not ready), ``/metrics`` (Prometheus text,
    after ``warnings`` refreshed its gauges) and ``/`` (where things are)."""

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        sources = await readiness()
        store = await audit() if audit is not None else "ok"
        failing = {name: why for name, why in sources.items() if why != "ok"}
        if store != "ok":
            failing["audit"] = store
        extra: dict[str, Any] = {"circuits": circuits()} if circuits is not None else {}
        if warnings is not None:
            extra["warnings"] = await warnings()
        if not failing:
            return JSONResponse({"status": "ready", "sources": sources, "audit": store, **extra})
        # One line for a probe's log: each part that is not ready, and why.
        reason = "; ".join(f"{name}: {why}" for name, why in failing.items())
        return JSONResponse({"status": "not ready", "reason": reason, "sources": sources,
                             "audit": store, **extra}, 503, headers={"Retry-After": "5"})

    async def render(_request: Request) -> Response:
        if warnings is not None:
            await warnings()
        body, media = metrics.render()
        return Response(body, media_type=media)

    async def index(_request: Request) -> Response:
        return JSONResponse({
            "service": "city-brain-hub",
            "graphql": "/graphql (POST; open it in a browser for GraphiQL)",
            "health": "/healthz", "ready": "/readyz", "metrics": "/metrics",
        })

    return [Route("/", index), Route("/healthz", healthz), Route("/readyz", readyz),
            Route("/metrics", render)]
