"""A national platform that receives the push, as a process of its own (for the demo and tests).

The real one is the national government's; this one stands in for it on
loopback, stores what it receives in its own SQLite file and counts it::

    NATIONAL_PLATFORM_TOKEN=... hub national-receiver --db national.sqlite --port 9200

It prints ``national platform: http://HOST:PORT/v1/records`` (the endpoint for
``[push.national] url``) on its first line once it listens (``--port 0``: any
free port); with ``--with-parent`` it stops when its standard input closes.

- ``POST /v1/records`` (``Authorization: Bearer <key>``, else 401) takes
  ``{"feed": "national", "batch": ID, "records": [{"id": ..., "idNumber": ...,
  ...}]}`` (at most 10,000 records, each with a string ``id`` and
  ``idNumber``) and answers ``200 {"batch": ID, "received": N, "stored": S}``:
  a record is stored once by its ``id`` (``INSERT ... ON CONFLICT DO
  NOTHING``), so a batch sent again stores nothing (``stored`` 0) and changes
  nothing. Anything else is ``400`` with ``{"error": {"code", "message"}}``.
- ``GET /v1/stats`` (the key): ``{"records": distinct records held,
  "received": records received in all, "batches": batches received,
  "distinctBatches": ..., "persons": distinct ID numbers}``.
- ``GET /healthz``: the process is up.

``--fail-first N`` answers the first N batches ``503`` with ``Retry-After:
--retry-after`` (a receiver that recovers); ``--delay S`` waits S seconds
before answering each batch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

KEY_VAR = "NATIONAL_PLATFORM_TOKEN"
ENDPOINT = "/v1/records"
MAX_RECORDS = 10_000
MAX_BODY = 64 << 20
_SCHEMA = """
CREATE TABLE IF NOT EXISTS record (id TEXT PRIMARY KEY, id_number TEXT NOT NULL, body TEXT NOT NULL,
                                   batch TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batch (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, records INTEGER NOT NULL,
                                  stored INTEGER NOT NULL, received_at TEXT NOT NULL);
"""


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


class Receiver:
    """The service: one SQLite file, one bearer key."""

    def __init__(self, db: Path, token: str, *, fail_first: int = 0, retry_after: float = 1.0,
                 delay: float = 0.0) -> None:
        if not token:
            raise ValueError(f"the receiver needs its bearer key in ${KEY_VAR}")
        self._token = token
        self.fail_first, self.retry_after, self.delay = fail_first, retry_after, delay
        self._db = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def app(self) -> Starlette:
        return Starlette(routes=[Route(ENDPOINT, self.receive, methods=["POST"]),
                                 Route("/v1/stats", self.stats, methods=["GET"]),
                                 Route("/healthz", self.healthz, methods=["GET"])])

    def _refused(self, request: Request) -> Response | None:
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {self._token}".encode()):
            return _error(401, "UNAUTHENTICATED", "a bearer key is needed")
        return None

    async def receive(self, request: Request) -> Response:
        denied = self._refused(request)
        if denied is not None:
            return denied
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_first > 0:
            self.fail_first -= 1
            return _error(503, "UNAVAILABLE", "not now", {"Retry-After": f"{self.retry_after:g}"})
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, "PAYLOAD_TOO_LARGE", f"the body is over {MAX_BODY} bytes")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "INVALID_ARGUMENT", "the body is not JSON")
        problem = _problem(payload)
        if problem is not None:
            return _error(400, "INVALID_ARGUMENT", problem)
        batch, records = payload["batch"], payload["records"]
        stored = await asyncio.to_thread(self._store, batch, records)
        return JSONResponse({"batch": batch, "received": len(records), "stored": stored})

    def _store(self, batch: str, records: list[dict[str, Any]]) -> int:
        now = dt.datetime.now(dt.UTC).isoformat()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._db.executemany(
                    "INSERT INTO record (id, id_number, body, batch, received_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (id) DO NOTHING",
                    [(r["id"], r["idNumber"], json.dumps(r, ensure_ascii=False, sort_keys=True), batch, now)
                     for r in records])
                stored = self._db.total_changes - before
                self._db.execute("INSERT INTO batch (id, records, stored, received_at) VALUES (?, ?, ?, ?)",
                                 (batch, len(records), stored, now))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return stored

    async def stats(self, request: Request) -> Response:
        denied = self._refused(request)
        if denied is not None:
            return denied
        return JSONResponse(await asyncio.to_thread(self.counts))

    def counts(self) -> dict[str, int]:
        with self._lock:
            held, persons = self._db.execute("SELECT count(*), count(DISTINCT id_number) FROM record").fetchone()
            batches, distinct, received = self._db.execute(
                "SELECT count(*), count(DISTINCT id), coalesce(sum(records), 0) FROM batch").fetchone()
        return {"records": held, "persons": persons, "received": received, "batches": batches,
                "distinctBatches": distinct}

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})


def _problem(payload: Any) -> str | None:
    if not isinstance(payload, dict) or not isinstance(payload.get("batch"), str) \
            or not isinstance(payload.get("records"), list):
        return 'the body must be {"feed": ..., "batch": "<id>", "records": [...]}'
    records = payload["records"]
    if len(records) > MAX_RECORDS:
        return f"at most {MAX_RECORDS} records a batch (this one has {len(records)})"
    for r in records:
        if not isinstance(r, dict) or not isinstance(r.get("id"), str) or not isinstance(r.get("idNumber"), str):
            return "each record is an object with a string id and idNumber"
    return None


@contextlib.contextmanager
def spawn(db: Path, *args: str, key: str | None = None, stderr: Any = None) -> Iterator[tuple[str, str]]:
    """The receiver as its own process on a free port while the block runs: yields
    its endpoint URL and its key (``key``, or a fresh one)."""
    key = key or secrets.token_urlsafe(32)
    command = [sys.executable, "-m", __name__, "--port", "0", "--db", str(db), "--with-parent", *args]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: S603
                            stderr=stderr, text=True, env={**os.environ, KEY_VAR: key})
    try:
        line = proc.stdout.readline() if proc.stdout is not None else ""
        if not line.startswith("national platform: http"):
            raise RuntimeError(f"the national receiver did not start (exit {proc.wait()})")
        yield line.split()[-1], key
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hub national-receiver",
                                description=f"A national platform receiving the push (its key in ${KEY_VAR}).")
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, required=True, help="its SQLite file (created when missing)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=9200, help="0: any free port")
    p.add_argument("--fail-first", type=int, default=0, help="answer the first N batches 503 (default 0: none)")
    p.add_argument("--retry-after", type=float, default=1.0, help="those 503s' Retry-After seconds")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before answering each batch (default 0)")
    p.add_argument("--log-level", default="warning", help="uvicorn's log level")
    p.add_argument("--with-parent", action="store_true",
                   help="stop when standard input closes (the process that started it is gone)")


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    try:
        receiver = Receiver(args.db, os.environ.get(KEY_VAR, ""), fail_first=args.fail_first,
                            retry_after=args.retry_after, delay=args.delay)
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
    except (OSError, ValueError, sqlite3.Error) as exc:
        print(f"national platform: error: {exc}", file=sys.stderr)
        return 2
    sock.listen(1024)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"national platform: http://{shown}:{port}{ENDPOINT}", flush=True)
    server = uvicorn.Server(uvicorn.Config(receiver.app(), log_level=args.log_level, access_log=False,
                                           timeout_graceful_shutdown=2))
    if args.with_parent:
        def watch() -> None:
            sys.stdin.buffer.read()
            server.should_exit = True

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    server.run(sockets=[sock])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return serve(parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
