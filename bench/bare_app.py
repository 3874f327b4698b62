"""The two apps bench/lookup.py serves with uvicorn, as factories.

``create_app``: a bare Starlette app doing the health-code look-up the hub does,
through the same connector, without GraphQL:

    GET  /code?idNumber=410105...
    POST /code   {"idNumber": "410105..."}
    ->   {"healthCode": {"color": "GREEN", "updatedAt": "2020-...+00:00"}}  (or null)

``create_sqlite3_app``: the same endpoint reading the file with the stdlib ``sqlite3``
(no connector, no SQLAlchemy): a reference for what the HTTP stack alone allows.

``create_asyncpg_app``: the same endpoint on PostgreSQL with ``asyncpg`` (a pool
sized by ``BENCH_PG_POOL``, default 16), reading ``BENCH_PG_DSN`` (the health-code
source's database, ``postgresql://...``).

``create_hub_app``: the hub itself (``hub.app.create_app``) on the same city, or on
the configuration file ``BENCH_HUB_CONFIG`` names (the city loaded into PostgreSQL).
``create_hub_app_discarding_audit``: the same hub whose audit trail keeps nothing
(``record`` only counts): what the audit costs, measured in the bench only.

They read the generated city's directory from ``BENCH_DATA_DIR``::

    BENCH_DATA_DIR=/tmp/hub-bench-20000 uvicorn --factory bench.bare_app:create_app
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.healthcode.views import HealthCodeConnector

FIELDS = frozenset({"color", "updatedAt"})


def _data_dir(data_dir: Path | str | None) -> Path:
    value = data_dir or os.environ.get("BENCH_DATA_DIR")
    if not value:
        raise RuntimeError("set BENCH_DATA_DIR to a generated city's directory")
    return Path(value)


async def _id_number(request: Request) -> str | Response:
    """The ID number a request asks about (JSON body or query string), or a 400."""
    if request.method == "POST":
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be JSON"}, 400)
        id_number = body.get("idNumber") if isinstance(body, dict) else None
    else:
        id_number = request.query_params.get("idNumber")
    if not isinstance(id_number, str) or not id_number:
        return JSONResponse({"error": "idNumber is required"}, 400)
    return id_number


def create_app(data_dir: Path | str | None = None) -> Starlette:
    path = (_data_dir(data_dir) / "healthcode.sqlite").resolve()
    connector = HealthCodeConnector(f"sqlite+aiosqlite:///{path}")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await connector.start()
        try:
            yield
        finally:
            await connector.close()

    async def code(request: Request) -> Response:
        id_number = await _id_number(request)
        if isinstance(id_number, Response):
            return id_number
        found = await connector.load("HealthCode", "idNumber", [id_number], fields=FIELDS)
        records = found.get(id_number)
        if not records:
            return JSONResponse({"healthCode": None})
        rec = records[0]
        updated = rec.get("updatedAt")
        return JSONResponse({"healthCode": {
            "color": rec.get("color"),
            "updatedAt": updated.isoformat() if updated is not None else None,
        }})

    return Starlette(routes=[Route("/code", code, methods=["GET", "POST"])], lifespan=lifespan)


def create_sqlite3_app(data_dir: Path | str | None = None) -> Starlette:
    import sqlite3

    from connectors._convert import compact_to_datetime

    path = (_data_dir(data_dir) / "healthcode.sqlite").resolve()
    colors = {"绿": "GREEN", "黄": "YELLOW", "红": "RED"}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    async def code(request: Request) -> Response:
        id_number = await _id_number(request)
        if isinstance(id_number, Response):
            return id_number
        # A point look-up on the primary key: microseconds, so done on the loop.
        row = con.execute("SELECT mys, gxsj FROM jkm_xx WHERE sfzh = ?", (id_number,)).fetchone()
        if row is None:
            return JSONResponse({"healthCode": None})
        return JSONResponse({"healthCode": {
            "color": colors.get(row[0], row[0]),
            "updatedAt": compact_to_datetime(row[1]).isoformat() if row[1] else None,
        }})

    return Starlette(routes=[Route("/code", code, methods=["GET", "POST"])])


def create_asyncpg_app() -> Starlette:
    import asyncpg

    from connectors._convert import compact_to_datetime

    dsn = os.environ.get("BENCH_PG_DSN")
    if not dsn:
        raise RuntimeError("set BENCH_PG_DSN to the health-code database (postgresql://...)")
    size = int(os.environ.get("BENCH_PG_POOL", "16"))
    colors = {"绿": "GREEN", "黄": "YELLOW", "红": "RED"}
    pool: list[asyncpg.Pool] = []

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        pool.append(await asyncpg.create_pool(dsn, min_size=size, max_size=size))
        try:
            yield
        finally:
            await pool[0].close()

    async def code(request: Request) -> Response:
        id_number = await _id_number(request)
        if isinstance(id_number, Response):
            return id_number
        row = await pool[0].fetchrow("SELECT mys, gxsj FROM jkm_xx WHERE sfzh = $1", id_number)
        if row is None:
            return JSONResponse({"healthCode": None})
        return JSONResponse({"healthCode": {
            "color": colors.get(row[0], row[0]),
            "updatedAt": compact_to_datetime(row[1]).isoformat() if row[1] else None,
        }})

    return Starlette(routes=[Route("/code", code, methods=["GET", "POST"])], lifespan=lifespan)


def hub_config(data_dir: Path | str | None = None, config_file: Path | None = None) -> Any:
    """The hub's configuration for a benchmark: ``config_file`` (default: the file
    ``BENCH_HUB_CONFIG`` names) when given, else the generated city's; without the
    per-address limit (one load generator is one address: the limit would answer most
    with 429)."""
    from hub.config import HubConfig

    path = config_file or os.environ.get("BENCH_HUB_CONFIG")
    config = HubConfig.from_file(Path(path)) if path else HubConfig.for_data_dir(_data_dir(data_dir))
    return replace(config, limits=replace(config.limits, address_requests=0))


def create_hub_app(data_dir: Path | str | None = None) -> Starlette:
    from hub.app import create_app as create_hub

    return create_hub(hub_config(data_dir))


def discard_audit(app: Starlette) -> None:
    """Make the hub's audit trail keep nothing: ``record`` returns the next number at
    once, written nowhere. For the bench only (what the audit costs a request)."""
    audit = app.state.hub.audit
    seq = itertools.count(1)

    async def record(_entry: Any) -> int | None:
        return next(seq)

    audit.record = record


def create_hub_app_discarding_audit(data_dir: Path | str | None = None) -> Starlette:
    app = create_hub_app(data_dir)
    discard_audit(app)
    return app
