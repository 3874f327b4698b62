"""The provincial health-code platform (省健康码平台) as an HTTP service of its own.

In a real deployment the province runs this system and the hub only reads it;
here it serves the health-code source's data (the generated
``healthcode.sqlite``, or any database holding its table ``jkm_xx``) so that the
hub can be run and tested against a real HTTP source in its own process::

    HEALTHCODE_PLATFORM_TOKEN=... python -m connectors.healthcode.platform \\
        --db demo-data/healthcode.sqlite --port 9100 [--delay 0.05] [--failure-rate 0.1]

It prints ``healthcode platform: http://HOST:PORT`` on its first line of
standard output once it listens (``--port 0``: any free port), and logs to
standard error; with ``--with-parent`` it stops when its standard input closes.
:func:`spawn` runs it so, as a child process (``hub demo --healthcode-over-http``
and the tests do).

The API (JSON, UTF-8)
---------------------
Every ``/v1/`` request carries ``Authorization: Bearer <key>``, the key in
``$HEALTHCODE_PLATFORM_TOKEN``; without it: ``401``. Errors are
``{"error": {"code": "...", "message": "..."}}``.

``POST /v1/codes:batchGet`` looks up to 1000 residents at once::

    {"ids": ["410105199003071234", ...],   # resident ID numbers, 0 to 1000
     "fields": ["mys", "gxsj"]}            # optional: only these fields (default: all)

    200 {"records": [{"sfzh": "410105199003071234", "mys": "绿", "gxsj": "20200412235959"}],
         "notFound": ["..."]}

The records come in the order asked, each with ``sfzh`` and the fields asked
only (column push-down: a field not asked is never read). The fields are the
platform's own: ``sfzh`` 身份证号 ID number, ``xm`` 姓名 name, ``sjh`` 手机号
mobile, ``mys`` 码颜色 colour (``绿`` green, ``黄`` yellow, ``红`` red), ``fmyy``
赋码原因 reason, ``gxsj`` 更新时间 updated (``YYYYMMDDHHMMSS``, UTC), ``fmjg`` 赋码机构
issuer; any of them but ``sfzh`` and ``mys`` may be ``null``. An unknown field,
more than 1000 ids or an id that is not a string: ``400 INVALID_ARGUMENT``; a
body over 1 MiB: ``413``. Reads only, so a client may repeat any request.

``POST /v1/codes:byColor`` lists every code of one colour (the commission's
list of red and yellow codes)::

    {"color": "红", "fields": ["gxsj"]}    # optional: only these fields, as for batchGet

    200 {"records": [{"sfzh": "...", "gxsj": "..."}], "truncated": false}

in ID-number order, at most 50,000 (``truncated``: there are more). A colour
other than ``绿``, ``黄``, ``红`` or an unknown field: ``400 INVALID_ARGUMENT``.

``GET /v1/status``: ``200 {"status": "ok"}`` when the database answers, else
``503``. ``GET /healthz`` (no key): the process is up.

``503 UNAVAILABLE`` with ``Retry-After: <seconds>`` (possibly fractional, for
tests) means "ask again after that"; it is what the injected failures answer.

Faults, for tests and the demo
------------------------------
``--delay S`` adds S seconds to every ``/v1/`` answer; ``--failure-rate R``
answers that share of them (0 to 1, drawn from ``--seed``) ``503`` with
``Retry-After: --retry-after``; ``--stall`` accepts requests and never answers
them (until the stall is lifted or the client gives up). With
``$HEALTHCODE_PLATFORM_ADMIN_TOKEN`` set, requests bearing that other key may
change them while it runs and read what it was asked:

- ``PUT /admin/faults`` ``{"delay": 0.0, "failureRate": 0.0, "failNext": 0,
  "retryAfter": 1.0, "stall": false}`` (any of them; ``failNext``: the next N
  ``/v1/`` requests fail) answers the faults now in force (``GET`` reads them);
- ``GET /admin/stats``: ``{"batchGet": N, "status": N, "ids": N, "batches":
  [{"ids": N, "fields": [...] or null}, ...]}`` (the last 1000 batches, the
  failed ones included); ``POST /admin/reset`` sets them to zero.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.errors import SourceUnavailable

from .controls import Controls, Faults, error, parse_json, refused
from .tables import jkm_xx
from .wire import (
    ADMIN_KEY_VAR,
    BATCH_GET,
    BY_COLOR,
    COLORS,
    FIELDS,
    HEALTHZ,
    KEY,
    KEY_VAR,
    MAX_BY_COLOR,
    MAX_IDS,
    STATUS,
)

log = logging.getLogger("connectors.healthcode.platform")
MAX_BODY = 1 << 20


def database_url(db: str) -> str:
    """A SQLAlchemy URL for ``--db``: a SQLite file (opened read-only) or a URL as it is."""
    if "://" in db:
        return db
    path = Path(db).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"--db {db}: no such file (generate the city first: hub generate)")
    return f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"


class Platform:
    """The service: one database, one bearer key, its faults and what it was asked."""

    def __init__(self, db_url: str, token: str, *, admin_token: str | None = None,
                 faults: Faults | None = None, seed: int | None = None, max_ids: int = MAX_IDS) -> None:
        if not token:
            raise ValueError(f"the platform needs its bearer key in ${KEY_VAR}")
        self.db_url, self.max_ids = db_url, max_ids
        self._token, self._admin_token = token, admin_token
        self.controls = Controls(faults, seed)
        self._engine: AsyncEngine | None = None

    # -- the application ---------------------------------------------------
    def app(self) -> Starlette:
        routes = [
            Route(BATCH_GET, self.batch_get, methods=["POST"]),
            Route(BY_COLOR, self.by_color, methods=["POST"]),
            Route(STATUS, self.status, methods=["GET"]),
            Route(HEALTHZ, self.healthz, methods=["GET"]),
        ]
        if self._admin_token:
            routes += self.controls.routes(self._admin_token)
        return Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self._engine = create_async_engine(self.db_url)
        try:
            yield
        finally:
            await self._engine.dispose()

    # -- /v1 ---------------------------------------------------------------
    async def batch_get(self, request: Request) -> Response:
        stats = self.controls.stats
        stats.batch_get += 1
        body = await request.body()
        payload = parse_json(body) if len(body) <= MAX_BODY else None
        ids = payload.get("ids") if isinstance(payload, dict) else None
        fields = payload.get("fields") if isinstance(payload, dict) else None
        stats.batches.append({"ids": len(ids) if isinstance(ids, list) else None,
                              "fields": fields if isinstance(fields, list) else None})
        denied = await self.controls.misbehave(request) or refused(request, self._token)
        if denied is not None:
            return denied
        if len(body) > MAX_BODY:
            return error(413, "PAYLOAD_TOO_LARGE", f"the body is over {MAX_BODY} bytes")
        problem = _problem(payload, self.max_ids)
        if problem is not None or not isinstance(ids, list):
            return error(400, "INVALID_ARGUMENT", problem or "no ids")
        stats.ids += len(ids)
        names = [KEY, *(f for f in FIELDS if f != KEY and (fields is None or f in fields))]
        try:
            found = await self._read(ids, names)
        except SQLAlchemyError as exc:
            log.warning("the database did not answer: %s", type(exc).__name__)
            return error(503, "UNAVAILABLE", "the database did not answer", {"Retry-After": "1"})
        asked = list(dict.fromkeys(ids))
        return JSONResponse({"records": [found[i] for i in asked if i in found],
                             "notFound": [i for i in asked if i not in found]})

    async def by_color(self, request: Request) -> Response:
        body = await request.body()
        denied = await self.controls.misbehave(request) or refused(request, self._token)
        if denied is not None:
            return denied
        if len(body) > MAX_BODY:
            return error(413, "PAYLOAD_TOO_LARGE", f"the body is over {MAX_BODY} bytes")
        payload = parse_json(body)
        color = payload.get("color") if isinstance(payload, dict) else None
        fields = payload.get("fields") if isinstance(payload, dict) else None
        problem = _problem({"ids": [], "fields": fields}, self.max_ids)
        if not isinstance(payload, dict) or set(payload) - {"color", "fields"} or color not in COLORS:
            problem = 'the body must be {"color": "绿" | "黄" | "红", "fields": [...]}'
        if problem is not None:
            return error(400, "INVALID_ARGUMENT", problem)
        names = [KEY, *(f for f in FIELDS if f != KEY and (fields is None or f in fields))]
        if self._engine is None:
            return error(503, "UNAVAILABLE", "the platform is not started", {"Retry-After": "1"})
        stmt = (select(*(jkm_xx.c[n] for n in names)).where(jkm_xx.c.mys == color)
                .order_by(jkm_xx.c[KEY]).limit(MAX_BY_COLOR + 1))
        try:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
        except SQLAlchemyError as exc:
            log.warning("the database did not answer: %s", type(exc).__name__)
            return error(503, "UNAVAILABLE", "the database did not answer", {"Retry-After": "1"})
        return JSONResponse({"records": [dict(zip(names, r, strict=True)) for r in rows[:MAX_BY_COLOR]],
                             "truncated": len(rows) > MAX_BY_COLOR})

    async def status(self, request: Request) -> Response:
        self.controls.stats.status += 1
        denied = await self.controls.misbehave(request) or refused(request, self._token)
        if denied is not None:
            return denied
        try:
            await self._read([], [KEY])
        except SQLAlchemyError as exc:
            return error(503, "UNAVAILABLE", f"the database did not answer ({type(exc).__name__})")
        return JSONResponse({"status": "ok"})

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _read(self, ids: Sequence[str], names: Sequence[str]) -> dict[str, dict[str, Any]]:
        if self._engine is None:
            raise SQLAlchemyError("the platform is not started")
        stmt = select(*(jkm_xx.c[n] for n in names)).where(jkm_xx.c[KEY].in_(list(ids)))
        if not ids:
            stmt = select(jkm_xx.c[KEY]).limit(1)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return {} if not ids else {row[0]: dict(zip(names, row, strict=True)) for row in rows}


def _problem(payload: Any, max_ids: int) -> str | None:
    """What is wrong with a batchGet body, or None."""
    if not isinstance(payload, dict) or set(payload) - {"ids", "fields"}:
        return 'the body must be a JSON object {"ids": [...], "fields": [...]}'
    ids, fields = payload.get("ids"), payload.get("fields")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return "ids must be a list of resident ID numbers (strings)"
    if len(ids) > max_ids:
        return f"at most {max_ids} ids in one request (this one has {len(ids)})"
    if fields is not None:
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            return "fields must be a list of field names"
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            return f"unknown fields {unknown}; the fields are {list(FIELDS)}"
    return None


@contextlib.contextmanager
def spawn(db: str | Path, *args: str, key: str | None = None, admin_key: str | None = None,
          stderr: Any = None) -> Iterator[tuple[str, str]]:
    """This service as its own process on a free port, for as long as the block runs:
    yields its URL and its key (``key``, or a fresh one); ``args``: more options."""
    key = key or secrets.token_urlsafe(32)
    env = {**os.environ, KEY_VAR: key, ADMIN_KEY_VAR: admin_key or ""}
    command = [sys.executable, "-m", __name__, "--port", "0", "--db", str(db), "--with-parent", *args]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: S603
                            stderr=stderr, text=True, env=env)
    try:
        line = proc.stdout.readline() if proc.stdout is not None else ""
        if not line.startswith("healthcode platform: http"):
            raise SourceUnavailable("healthcode", f"the platform did not start (exit {proc.wait()})")
        yield line.split()[-1], key
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # with --with-parent, that alone stops it
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    p = argparse.ArgumentParser(prog="python -m connectors.healthcode.platform",
                                description="The provincial health-code platform's JSON API "
                                            f"(its key in ${KEY_VAR}).")
    p.add_argument("--db", required=True, help="healthcode.sqlite, or a SQLAlchemy URL")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9100, help="0: any free port")
    p.add_argument("--delay", type=float, default=0.0, help="seconds added to every answer")
    p.add_argument("--failure-rate", type=float, default=0.0, help="share answered 503 (0 to 1)")
    p.add_argument("--retry-after", type=float, default=1.0, help="the 503s' Retry-After seconds")
    p.add_argument("--stall", action="store_true", help="accept requests and never answer")
    p.add_argument("--seed", type=int, default=None, help="of the failures drawn")
    p.add_argument("--max-ids", type=int, default=MAX_IDS)
    p.add_argument("--log-level", default="warning")
    p.add_argument("--with-parent", action="store_true",
                   help="stop when standard input closes (the process that started it is gone)")
    args = p.parse_args(argv)
    try:
        faults = Faults(args.delay, args.failure_rate, 0, args.retry_after, args.stall)
        platform = Platform(database_url(args.db), os.environ.get(KEY_VAR, ""),
                            admin_token=os.environ.get(ADMIN_KEY_VAR) or None, faults=faults,
                            seed=args.seed, max_ids=args.max_ids)
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
    except (OSError, ValueError) as exc:
        print(f"healthcode platform: error: {exc}", file=sys.stderr)
        return 2
    sock.listen(1024)
    host, port = sock.getsockname()[:2]
    print(f"healthcode platform: http://{f'[{host}]' if family == socket.AF_INET6 else host}:{port}",
          flush=True)
    server = uvicorn.Server(uvicorn.Config(platform.app(), log_level=args.log_level, access_log=False,
                                           timeout_graceful_shutdown=2))
    if args.with_parent:
        def watch() -> None:
            sys.stdin.buffer.read()  # returns when the other end closes
            server.should_exit = True

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
