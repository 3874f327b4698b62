"""Instructions, not seconds: the hub and its baselines counted by valgrind's callgrind.

    python -m bench.instructions [--persons 200000] [--answers 3] [--lookups 300] [--no-pg] [--keep]

Wall-clock ratios on a shared machine move with whatever else runs (the same
hub answer has measured 42 to 65 ms within minutes). ``callgrind`` counts the
instructions a process executes instead: the same total, to a fraction of a
percent, however busy the machine is. Each case runs in a process of its own
under ``valgrind --tool=callgrind --instr-atstart=no``; the process warms up
uninstrumented, switches counting on (``callgrind_control -i on``) for the
measured part only and off again, so imports and start-up are not counted.
Every thread is counted: the SQLite worker threads and the audit writer with
the event loop.

Cases, in-process (no HTTP server: its cost would be the same for both sides
and is left out, which makes the hub's ratios harsher than the wrk figures of
``bench.lookup``):

- the school query for a whole school (pages of 500 following ``endCursor``, as
  ``bench.school_query``), through the hub's ASGI app called directly, against the
  two hand-written answers of ``bench.school_query`` (per source; ATTACH);
- the health-code look-up (GraphQL text, and by the persisted query's hash)
  against the bare Starlette app on stdlib sqlite3 (``bench.bare_app``), both
  called as ASGI apps;
- on PostgreSQL (the city loaded into bench.pg's databases, reused when there,
  dropped at the end unless ``--keep``; ``--no-pg`` skips these): the school
  query against hand-written asyncpg per source (``bench.pg.PgPerSource``), the
  look-up against the bare Starlette app on an asyncpg pool. Only the client's
  process is counted: the server's work, the same for both sides, is not.

Every measured process runs with ``PYTHONHASHSEED=0``: with str hashes seeded
alike, its dicts and sets are laid out alike from run to run (the same code
otherwise counted 170 to 178 M for one school answer).

The hub's own database (the audit trail) is a new file for each case: a store grown
by earlier runs would change the count (its person index costs more as it grows).
The instructions are split by the shared object that executed them (the Python
interpreter, SQLite, libc, the rest) from ``callgrind_annotate``. Needs valgrind
(Debian package ``valgrind``); skipped with a message without it. Rewrites the
``instructions`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench._common import ensure_city, machine_block, update_section

REPO = Path(__file__).resolve().parent.parent
CASES = ("hub-school", "sql-per-source", "sql-attached", "hub-lookup", "hub-lookup-persisted",
         "sqlite3-lookup", "hub-school-pg", "asyncpg-school", "hub-lookup-pg", "asyncpg-lookup")
#: The cases on PostgreSQL (the city loaded as bench.pg loads it; skipped with --no-pg).
PG_CASES = CASES[6:]
LABELS = {
    "hub-school": "**(a) hub**, the school query, whole school",
    "sql-per-source": "(b) sqlite3, one connection per source, IN lists, + json.dumps",
    "sql-attached": "(b) sqlite3, one connection, ATTACH + sub-selects, + json.dumps",
    "hub-lookup": "**hub**, `healthCode` look-up (GraphQL text)",
    "hub-lookup-persisted": "**hub**, the same look-up by the persisted query's hash",
    "sqlite3-lookup": "bare Starlette, stdlib sqlite3 (the look-up's baseline)",
    "hub-school-pg": "**hub on PostgreSQL**, the school query, whole school",
    "asyncpg-school": "asyncpg, one connection per source database, = ANY(array), + json.dumps",
    "hub-lookup-pg": "**hub on PostgreSQL**, `healthCode` look-up",
    "asyncpg-lookup": "bare Starlette, asyncpg pool (the look-up's baseline)",
}


# --------------------------------------------------------------------------- the child
def _switch(on: bool) -> None:
    """Count instructions from now (``on``) or stop: callgrind_control on this process."""
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
                   check=True, capture_output=True, timeout=600)


async def _post(app: Any, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One POST through an ASGI app, no client library: (status, body)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "server": ("bench", 80), "client": ("127.0.0.1", 50000),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
             + [(b"content-length", str(len(body)).encode())]}
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # nothing more: the client stays connected
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def _fresh_state(config: Any, state: Path) -> Any:
    """``config`` with the hub's own database (the audit trail) a new file in ``state``:
    what an entry costs to write depends on how big the store has grown."""
    from dataclasses import replace

    return replace(config, state_url=f"sqlite+aiosqlite:///{state / 'hub.sqlite'}")


async def _hub_school(data_dir: Path, state: Path, school: str, warm: int, answers: int) -> dict[str, Any]:
    import orjson

    from bench.bare_app import hub_config
    from bench.school_query import PAGE, QUERY, HubClient

    hub = HubClient(data_dir, _fresh_state(hub_config(data_dir), state))  # not its httpx client
    app, headers = hub.app, hub.headers
    requests = 0

    async def whole() -> None:
        nonlocal requests
        after = None
        while True:
            body = json.dumps({"query": QUERY, "variables": {"id": school, "first": PAGE,
                                                             "after": after}}).encode()
            status, out = await _post(app, "/graphql", body, headers)
            requests += 1
            answer = orjson.loads(out)
            if status != 200 or answer.get("errors"):
                raise RuntimeError(f"hub answered {status}: {out[:300]!r}")
            info = answer["data"]["school"]["students"]["pageInfo"]
            if not info["hasNextPage"]:
                return
            after = info["endCursor"]

    async with app.router.lifespan_context(app):
        for _ in range(warm):
            await whole()
        requests = 0
        _switch(True)
        for _ in range(answers):
            await whole()
        _switch(False)
    return {"units": answers, "requests": requests}


def _sql_school(data_dir: Path, school: str, warm: int, answers: int, attached: bool) -> dict[str, Any]:
    from bench.school_query import SqlAttached, SqlPerSource

    sql = (SqlAttached if attached else SqlPerSource)(data_dir)
    now = dt.datetime.now(dt.UTC)
    for _ in range(warm):
        sql.answer(school, now)
    _switch(True)
    for _ in range(answers):
        sql.answer(school, now)
    _switch(False)
    sql.close()
    return {"units": answers, "requests": answers}


async def _lookups(case: str, data_dir: Path, state: Path, warm: int, count: int) -> dict[str, Any]:
    from bench.bare_app import create_asyncpg_app, create_sqlite3_app, hub_config
    from bench.lookup import GRAPHQL, PERSISTED, pick_ids
    from hub.access.tokens import issue_token
    from hub.app import create_app
    from hub.config import HubConfig

    ids = pick_ids(data_dir, 64)
    if case in ("sqlite3-lookup", "asyncpg-lookup"):
        app = create_sqlite3_app(data_dir) if case == "sqlite3-lookup" else create_asyncpg_app()
        path = "/code"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        bodies = [json.dumps({"idNumber": i}) for i in ids]
    else:
        app, path = create_app(_fresh_state(hub_config(data_dir), state)), "/graphql"
        token = issue_token(HubConfig.for_data_dir(data_dir).secret, "province", ttl=3600)
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "Authorization": f"Bearer {token}", "X-Purpose": "mutual-recognition"}
        if case in ("hub-lookup", "hub-lookup-pg"):
            bodies = [json.dumps({"query": GRAPHQL, "variables": {"id": i}}) for i in ids]
        else:
            key = hashlib.sha256(PERSISTED.read_text(encoding="utf-8").strip().encode()).hexdigest()
            bodies = [json.dumps({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": key}},
                                  "variables": {"idNumber": i}}) for i in ids]
    encoded = [b.encode() for b in bodies]

    async def ask(n: int) -> None:
        for j in range(n):
            status, out = await _post(app, path, encoded[j % len(encoded)], headers)
            if status != 200 or b'"errors"' in out or b'"healthCode":{' not in out:
                raise RuntimeError(f"{case} answered {status}: {out[:300]!r}")

    async with app.router.lifespan_context(app):
        await ask(warm)
        _switch(True)
        await ask(count)
        _switch(False)
    return {"units": count, "requests": count}


async def _pg_school(school: str, warm: int, answers: int) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    from bench.pg import PgPerSource

    sql = PgPerSource({k: make_url(v) for k, v in json.loads(os.environ["BENCH_PG_TARGETS"]).items()})
    await sql.open()
    try:
        now = dt.datetime.now(dt.UTC)
        for _ in range(warm):
            await sql.answer(school, now)
        _switch(True)
        for _ in range(answers):
            await sql.answer(school, now)
        _switch(False)
    finally:
        await sql.close()
    return {"units": answers, "requests": answers}


def child(args: argparse.Namespace) -> None:
    data_dir, state = Path(args.data_dir), Path(args.report).parent
    case = args.child
    if case in ("hub-school", "hub-school-pg"):
        got = asyncio.run(_hub_school(data_dir, state, args.school, args.warm, args.answers))
    elif case == "asyncpg-school":
        got = asyncio.run(_pg_school(args.school, args.warm, args.answers))
    elif case in ("sql-per-source", "sql-attached"):
        got = _sql_school(data_dir, args.school, args.warm, args.answers, case == "sql-attached")
    else:
        got = asyncio.run(_lookups(case, data_dir, state, args.warm * 50, args.lookups))
    Path(args.report).write_text(json.dumps(got), encoding="utf-8")


# --------------------------------------------------------------------------- the parent
def split_by_object(out_file: Path) -> Counter[str]:
    """Instructions per shared object (the file name of the library or program)."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", str(out_file)],
                          check=True, capture_output=True, text=True, timeout=600).stdout
    by: Counter[str] = Counter()
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) ", line)
        if m and line.rstrip().endswith("]") and "[" in line:
            obj = line.rstrip()[:-1].rsplit("[", 1)[1].rsplit("/", 1)[-1]
            by[obj] += int(m.group(1).replace(",", ""))
    return by


def group(obj: str) -> str:
    if obj.startswith(("libpython", "python")):
        return "python"
    if "sqlite" in obj:
        return "sqlite"
    if obj.startswith(("libc.", "libc-", "ld-linux", "libm.")):
        return "libc"
    return "other"


def measure(case: str, args: argparse.Namespace, data_dir: Path, school: str,
            env: dict[str, str] | None = None) -> dict[str, Any]:
    """``case`` counted in a process of its own, with ``env`` added to its environment."""
    with tempfile.TemporaryDirectory(prefix="hub-instructions-") as tmp:
        out, report = Path(tmp) / "callgrind.out", Path(tmp) / "report.json"
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
               sys.executable, "-m", "bench.instructions", "--child", case, "--data-dir", str(data_dir),
               "--school", school, "--answers", str(args.answers), "--lookups", str(args.lookups),
               "--warm", str(args.warm), "--report", str(report)]
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                              env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO),
                                   # str hashes seeded alike: dicts and sets laid out alike, run to run
                                   "PYTHONHASHSEED": "0"})
        if done.returncode != 0 or not report.exists():
            raise SystemExit(f"{case}: the measured process failed (exit {done.returncode}):\n"
                             f"{done.stderr[-3000:]}")
        got = json.loads(report.read_text(encoding="utf-8"))
        by = split_by_object(out)
    groups: Counter[str] = Counter()
    for obj, n in by.items():
        groups[group(obj)] += n
    units = got["units"]
    per = {g: n / units for g, n in groups.items()}
    total = sum(per.values())
    print(f"  {case}: {total / 1e6:,.2f} M instructions per unit ({units} units, "
          f"{got['requests']} requests, {time.perf_counter() - started:.0f}s)", flush=True)
    return {"case": case, "units": units, "requests": got["requests"], "total": total, "per": per}


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    missing = [t for t in ("valgrind", "callgrind_control", "callgrind_annotate") if shutil.which(t) is None]
    if missing:
        print(f"bench.instructions: skipped, {', '.join(missing)} not found "
              "(install the Debian package valgrind)")
        return None
    started = time.perf_counter()
    data_dir = Path(args.data_dir or f"/tmp/hub-bench-{args.persons}")
    ensure_city(data_dir, args.persons, args.seed)
    from bench.school_query import pick_schools, school_sizes

    sizes = school_sizes(data_dir)
    if args.school:
        school, pupils = args.school, dict(sizes).get(args.school, 0)
    else:  # the school closest to 1,000 pupils (the issue's 991-pupil school)
        school, pupils, _why = pick_schools(sizes)[-1]
    print(f"counting instructions (callgrind) for school {school} ({pupils:,} pupils) "
          f"and {args.lookups} look-ups ...", flush=True)
    cases = [c for c in args.cases if args.pg or c not in PG_CASES]
    if not args.pg:
        print("bench.instructions: --no-pg, the PostgreSQL cases are not counted")
    with tempfile.TemporaryDirectory(prefix="hub-instructions-pg-") as tmp:
        pg_env, targets = _pg_setup(args, data_dir, Path(tmp)) if set(cases) & set(PG_CASES) else (None, None)
        try:
            results = {c: measure(c, args, data_dir, school, pg_env if c in PG_CASES else None)
                       for c in cases}
        finally:
            if targets is not None and not args.keep:
                from tests import stores

                stores.drop(targets)
    figures = {"school": school, "pupils": pupils, "results": results,
               "seconds": time.perf_counter() - started}
    if set(args.cases) == set(CASES):
        write(args, data_dir, figures)
    else:
        print("some cases only (--cases): bench/RESULTS.md left as it is")
    return figures


def _pg_setup(args: argparse.Namespace, data_dir: Path, tmp: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """The city in PostgreSQL (bench.pg's databases; reused when loaded) and what the
    children need: the hub's configuration on it, the health codes' DSN, every source's URL."""
    from bench.pg import dsn, load_into_postgres
    from hub.city.load import connectors_toml

    targets = load_into_postgres(data_dir, f"bench_pg{args.persons}_", reuse=True)
    config = tmp / "hub.toml"
    config.write_text(connectors_toml(targets, data_dir), encoding="utf-8")
    return {"BENCH_HUB_CONFIG": str(config), "BENCH_PG_DSN": dsn(targets["healthcode"]),
            "BENCH_PG_POOL": "4",
            "BENCH_PG_TARGETS": json.dumps({k: v.render_as_string(hide_password=False)
                                            for k, v in targets.items()})}, targets


def _m(n: float) -> str:
    return f"{n / 1e6:,.2f} M"


def write(args: argparse.Namespace, data_dir: Path, figures: dict[str, Any]) -> None:
    r = figures["results"]
    version = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
    lines = [
        "## Instructions: the same comparisons counted by callgrind",
        "",
        machine_block([
            f"- city: `{data_dir}`; school `{figures['school']}` ({figures['pupils']:,} pupils)",
            f"- {version}, `--tool=callgrind --instr-atstart=no`; each case in a process of its "
            f"own, counted only while measured ({args.answers} whole-school answers or "
            f"{args.lookups} look-ups after a warm-up; every thread counted); in-process, the "
            f"ASGI apps called directly (no HTTP server, no client library); the script took "
            f"{figures['seconds']:.0f}s",
        ]),
        "",
        "Instructions count work, not waiting: they move by about 1% between runs "
        "whatever else the machine does, where the wall-clock figures above move by 20% and "
        "more. They leave out what costs time without instructions (a thread waiting for the "
        "GIL, the disk), and an HTTP server's work, which both sides would share.",
        "",
        "| what | per | instructions | Python interpreter | SQLite | libc | other | / baseline |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def row(case: str, per: str, base: str | None) -> str:
        x = r[case]
        p = x["per"]
        ratio = f"{x['total'] / r[base]['total']:.2f}x" if base else "(baseline)"
        return (f"| {LABELS[case]} | {per} | {_m(x['total'])} | {_m(p.get('python', 0))} | "
                f"{_m(p.get('sqlite', 0))} | {_m(p.get('libc', 0))} | {_m(p.get('other', 0))} | {ratio} |")

    school_per = f"answer ({r['hub-school']['requests'] // r['hub-school']['units']} requests)"
    lines += [
        row("hub-school", school_per, "sql-per-source"),
        row("sql-per-source", "answer", None),
        row("sql-attached", "answer", "sql-per-source"),
        row("hub-lookup", "request", "sqlite3-lookup"),
        row("hub-lookup-persisted", "request", "sqlite3-lookup"),
        row("sqlite3-lookup", "request", None),
    ]
    pg = all(c in r for c in PG_CASES)
    if pg:
        lines += [
            row("hub-school-pg", school_per, "asyncpg-school"),
            row("asyncpg-school", "answer", None),
            row("hub-lookup-pg", "request", "asyncpg-lookup"),
            row("asyncpg-lookup", "request", None),
        ]
    lines += [""]
    hub, per_src, att = r["hub-school"], r["sql-per-source"], r["sql-attached"]
    look, pers, bare = r["hub-lookup"], r["hub-lookup-persisted"], r["sqlite3-lookup"]
    hp, sp = hub["per"], per_src["per"]
    lines += [
        f"- **school query: hub / hand-written per source = {hub['total'] / per_src['total']:.2f}x** "
        f"in instructions (target <= 1.5x in time), hub / the ATTACH join = "
        f"{hub['total'] / att['total']:.2f}x (target <= 3x). SQLite executes "
        f"{hp.get('sqlite', 0) / max(sp.get('sqlite', 1), 1):.2f}x the hand-written answer's "
        f"instructions (the same rows read); the Python interpreter "
        f"{hp.get('python', 0) / max(sp.get('python', 1), 1):.1f}x "
        f"({_m(hp.get('python', 0))} against {_m(sp.get('python', 0))}): what separates the two is "
        f"the Python the hub runs per pupil (resolving and completing the answer level by level, "
        f"records, policies, the audit entry), not the sources.",
        f"- **look-up: bare sqlite3 / hub = {bare['total'] / look['total']:.2f}x** in instructions "
        f"(the target, >= 0.8x in requests per second, compares the same two); by the persisted "
        f"query's hash {bare['total'] / pers['total']:.2f}x "
        f"({pers['total'] / look['total']:.2f}x the instructions of the GraphQL text).",
    ]
    if pg:
        hpg, apg = r["hub-school-pg"], r["asyncpg-school"]
        lpg, bpg = r["hub-lookup-pg"], r["asyncpg-lookup"]
        lines.append(
            f"- **on PostgreSQL** (the city in bench.pg's databases; counted in the hub's or the "
            f"baseline's process only: the server's own work, the same for both, is another "
            f"process's; the hub's SQLite instructions there are its audit trail's, in its state "
            f"file): the school query, hub / hand-written asyncpg per source = "
            f"{hpg['total'] / apg['total']:.2f}x (target <= 1.5x in time); the look-up, bare "
            f"asyncpg / hub = {bpg['total'] / lpg['total']:.2f}x (target >= 0.8x in requests per second).")
    else:
        lines.append("- on PostgreSQL: not counted in this run (--no-pg).")
    update_section("instructions", "\n".join(lines))


def _cases(text: str) -> list[str]:
    cases = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown or not cases:
        raise argparse.ArgumentTypeError(f"--cases {text!r}: give some of {', '.join(CASES)}")
    return cases


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n\n")[0])
    p.add_argument("--persons", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--data-dir", default=None, help="default /tmp/hub-bench-<persons>; generated when missing")
    p.add_argument("--school", default=None, help="default: the school closest to 1,000 pupils")
    p.add_argument("--answers", type=int, default=3, help="whole-school answers counted per case")
    p.add_argument("--lookups", type=int, default=300, help="look-ups counted per case")
    p.add_argument("--warm", type=int, default=3, help="uncounted answers first (x50 for look-ups)")
    p.add_argument("--cases", type=_cases, default=list(CASES),
                   help=f"comma-separated, of {', '.join(CASES)} (default all; only all rewrites RESULTS.md)")
    p.add_argument("--no-pg", dest="pg", action="store_false",
                   help="skip the PostgreSQL cases (they load the city as bench.pg does)")
    p.add_argument("--keep", action="store_true", help="keep the city's PostgreSQL databases")
    p.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    p.add_argument("--report", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.child:
        child(args)
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
