"""What one audit entry costs by the number of its persons, on SQLite and on PostgreSQL.

    python -m bench.audit_entry [--sizes 1,500,991,2700] [--runs 200] [--warmup 20] [--no-pg]

Each entry goes the way the endpoint's does (hub/http/endpoint.py): an ``Exchange``
whose context touched N persons, ``AuditLog.record(exchange.entry())``, which bounds
it, queues it for the group writer and returns once its group is committed (on a
SQLite file the appender's thread, hub/audit/appender.py; on PostgreSQL the
writer's own asyncpg connection, one statement a group, hub/audit/pgappender.py).
One writer, so each group is one entry: the time is what a request waits for its
own entry. The stores are fresh (a SQLite file in a temporary directory; a
database of its own on the PostgreSQL server at 127.0.0.1:5432, dropped
after) and grow through the run: each run's N persons are drawn from a pool of valid
ID numbers, so the person index is written all over, as a city's requests write it; before
the runs each store is filled with ``--prefill`` person rows (a store's size is what
an index insert costs).
Runs are interleaved (every size on every store in each round, the order reversed
every other round) after warm-up rounds. Also timed, alone: making the entry's rows
and its hash in Python (``GroupWriter._chained``), the part that does not wait for the
database. At the end ``AuditLog.verify`` checks each store's chain. Rewrites the
``audit_entry`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import tempfile
import time
from types import SimpleNamespace
from typing import Any

from bench._common import machine_block, median, percentile, update_section

ADMIN = "postgresql+asyncpg://root@127.0.0.1:5432/test"
SIZES = (1, 500, 991, 2700)
#: The issue's target for the 991-pupil answer's entry.
TARGET_MS = 2.0
#: ID numbers the persons are drawn from (the benchmarks' city has 200,000 persons).
POOL = 200_000
#: Persons per entry while filling the stores before the runs.
FILL_PERSONS = 1000


def id_pool(count: int, seed: int) -> list[str]:
    """``count`` distinct valid resident ID numbers."""
    from hub.ids import make_id_number

    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < count:
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 70))
        out.add(make_id_number(rng.choice(("410105", "410122", "410104")), birth, rng.randrange(1000),
                               rng.random() < 0.5))
    return sorted(out)


def exchange(persons: set[str]) -> Any:
    """An answered school query's exchange, as the endpoint fills it in."""
    from hub.audit.exchange import Exchange

    context = SimpleNamespace(touched=persons, loaders=SimpleNamespace(rows={"school": len(persons),
                                                                            "healthcode": len(persons)}),
                              grant_id=None)
    identity = SimpleNamespace(department="health", subject="bench")
    return Exchange(identity=identity, purpose="epidemiological-investigation", operation="SchoolReopening",
                    query="query SchoolReopening { ... }",
                    fields=frozenset({"Person.name", "Person.healthCode", "HealthCode.color"}),
                    context=context, status=200, seconds=0.08, client="127.0.0.1",
                    request_id="bench-0000")


async def pg_database(name: str, create: bool) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(ADMIN, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            if create:
                await conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await engine.dispose()


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from hub.audit.trail import AuditLog
    from hub.limits import Limits
    from hub.state.tables import GENESIS

    # A bound the fill's groups of ten big entries stay within; an entry's own time does not depend on it.
    limits = Limits(audit_write_seconds=60.0)

    pool = id_pool(POOL, args.seed)
    rng = random.Random(args.seed)
    tmp = tempfile.TemporaryDirectory(prefix="hub-bench-audit-")
    stores: dict[str, AuditLog] = {"SQLite": AuditLog(f"sqlite+aiosqlite:///{tmp.name}/audit.sqlite", "bench",
                                                     limits)}
    pg_name = f"hub_bench_audit_{int(time.time())}"
    if args.pg:
        await pg_database(pg_name, create=True)
        stores["PostgreSQL"] = AuditLog(f"postgresql+asyncpg://root@127.0.0.1:5432/{pg_name}", "bench",
                                         limits)
    times: dict[tuple[str, int], list[float]] = {(s, n): [] for s in stores for n in args.sizes}
    build: dict[int, list[float]] = {n: [] for n in args.sizes}
    indexing: dict[tuple[str, int], list[float]] = {(s, n): [] for s in stores for n in args.sizes}
    problems: dict[str, str] = {}
    try:
        for audit in stores.values():
            await audit.start()
        fill = args.prefill // FILL_PERSONS
        for start in range(0, fill, 10):  # ten at once: groups of ten entries
            await asyncio.gather(*(audit.record(exchange(set(rng.sample(pool, FILL_PERSONS))).entry())
                                   for audit in stores.values() for _ in range(min(10, fill - start))))
        for audit in stores.values():
            await audit.index_persons()
        rows_before = {name: await person_rows(audit) for name, audit in stores.items()}
        cases = [(s, n) for n in args.sizes for s in stores]
        for k in range(args.warmup + args.runs):
            order = cases if k % 2 == 0 else cases[::-1]
            for store, n in order:
                ex = exchange(set(rng.sample(pool, n)))
                await settled(stores)
                started = time.perf_counter()
                await stores[store].record(ex.entry())
                took = time.perf_counter() - started
                started = time.perf_counter()
                await stores[store].index_persons()  # what the writer does when next idle
                index_took = time.perf_counter() - started
                if k >= args.warmup:
                    times[(store, n)].append(took)
                    indexing[(store, n)].append(index_took)
            if k >= args.warmup:
                audit = stores["SQLite"]
                for n in args.sizes:
                    ex = exchange(set(rng.sample(pool, n)))
                    started = time.perf_counter()
                    audit.writer._chained([audit._bounded(ex.entry())], 1, GENESIS)
                    build[n].append(time.perf_counter() - started)
        rows_after = {name: await person_rows(audit) for name, audit in stores.items()}
        for name, audit in stores.items():
            problem = await audit.verify()
            problems[name] = "intact" if problem is None else f"BROKEN: {problem.message}"
    finally:
        for audit in stores.values():
            await audit.close()
        if args.pg:
            await pg_database(pg_name, create=False)
        tmp.cleanup()
    return {"times": times, "build": build, "indexing": indexing, "stores": list(stores), "verified": problems,
            "rows": {name: (rows_before[name], rows_after[name]) for name in stores}}


async def settled(stores: dict[str, Any]) -> None:
    """Let a SQLite store's checkpoint running beside its appends finish (untimed): each
    entry is timed on an idle machine, as one answer alone waits for its entry."""
    for audit in stores.values():
        appender = audit.writer._appender
        running = getattr(appender, "_checkpoint", None)
        if running is not None and not running.done():
            await asyncio.wrap_future(running)


async def person_rows(audit: Any) -> int:
    from sqlalchemy import func, select

    from hub.state.tables import audit_person

    async with audit.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(audit_person))).scalar_one())


def report(args: argparse.Namespace, figures: dict[str, Any], seconds: float) -> list[str]:
    times, build, stores, indexing = figures["times"], figures["build"], figures["stores"], figures["indexing"]
    head = ("| persons | " + " | ".join(f"{s} median | {s} p90" for s in stores) + " | Python: rows + hash | "
            + " | ".join(f"{s}: person index after (median)" for s in stores) + " |")
    lines = [head, "| ---: | " + " | ".join("---: | ---:" for _ in stores) + " | ---: | "
             + " | ".join("---:" for _ in stores) + " |"]
    for n in args.sizes:
        cells = " | ".join(f"{median(times[(s, n)]) * 1000:.2f} ms | {percentile(times[(s, n)], 0.9) * 1000:.2f} ms"
                           for s in stores)
        after = " | ".join(f"{median(indexing[(s, n)]) * 1000:.2f} ms" for s in stores)
        lines.append(f"| {n:,} | {cells} | {median(build[n]) * 1000:.2f} ms | {after} |")
    return lines


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    figures = asyncio.run(measure(args))
    seconds = time.perf_counter() - started
    table = report(args, figures, seconds)
    print("\n".join(table))
    print("chains: " + ", ".join(f"{s} {v}" for s, v in figures["verified"].items()))
    if args.section is None:
        return figures
    big = 991 if 991 in args.sizes else max(args.sizes)
    verdicts = []
    for s in figures["stores"]:
        got = median(figures["times"][(s, big)]) * 1000
        verdicts.append(f"{s} {got:.2f} ms ({'meets' if got <= TARGET_MS else '**misses**'})")
    lines = [
        "## One audit entry by its number of persons (issue \"Speed\", item 3)",
        "",
        machine_block([
            f"- each entry as the endpoint writes it: `AuditLog.record(Exchange.entry())` with N persons "
            f"touched (drawn from {POOL:,} valid ID numbers), waiting for its group commit; one writer, so "
            "a group is one entry",
            "- stores: a fresh SQLite file (WAL, synchronous=NORMAL, the appender's thread)"
            + (", a fresh PostgreSQL database on 127.0.0.1:5432 (asyncpg, the writer's own connection: "
               "hub/audit/pgappender.py)" if args.pg else
               " (PostgreSQL skipped: `--no-pg`)") + f"; each filled first with {args.prefill:,} person "
            f"rows (entries of {FILL_PERSONS:,} persons, a day of school pages), then growing through "
            "the run; person rows before/after the runs: "
            + ", ".join(f"{s} {a:,}/{b:,}" for s, (a, b) in figures["rows"].items()),
            f"- {args.runs} runs after {args.warmup} warm-up runs, interleaved (every size on every store in "
            f"each round, the order reversed every other round); the script took {seconds:.0f}s",
            "- between entries a SQLite checkpoint running beside the appends (hub/audit/appender.py) "
            "is let finish, untimed: each entry is timed as one answer alone waits for its own (under "
            "a steady load that copy shares the machine with the next entries)",
            "- `limits.audit_write_seconds` 60 s (the fill writes groups of ten big entries); an "
            "entry's time does not depend on it",
            "- \"person index after\": the entry's audit_person rows, written after its commit (what "
            "the group writer does when next idle, hub/audit/index.py), timed alone with "
            "`AuditLog.index_persons()`: off the answer's path, not in the entry's time",
            "- \"Python: rows + hash\": making the entry's rows and its hash alone "
            "(`GroupWriter._chained`), no database",
            "- chains afterwards (`AuditLog.verify`): "
            + ", ".join(f"{s} {v}" for s, v in figures["verified"].items()),
        ]),
        "",
        *table,
        "",
        f"- target: the {big:,}-person entry in <= {TARGET_MS:g} ms: " + "; ".join(verdicts) + ".",
    ]
    update_section(args.section, "\n".join(lines))
    return figures


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes {text!r}: numbers of persons, comma-separated") from None
    if not sizes or any(n < 1 or n > 10_000 for n in sizes):
        raise argparse.ArgumentTypeError("--sizes: each between 1 and 10,000 persons")
    return sizes


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.audit_entry", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=_sizes, default=list(SIZES), help="persons per entry, comma-separated")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--prefill", type=int, default=1_000_000, help="person rows written before the runs")
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--no-pg", dest="pg", action="store_false", help="SQLite only")
    p.set_defaults(section="audit_entry")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.runs > 5000:
        p.error("keep it bounded: --runs <= 5000")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

