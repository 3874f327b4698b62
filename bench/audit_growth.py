"""The school query as the audit store grows: what a hub that has run for a while answers.

Every other benchmark starts from a fresh audit store; a deployed hub's never is. This
one answers whole schools (every school of the city in turn, pages of 500) in batches
on an audit store of its own, started empty, and writes per batch the store's size and
the answers' median and p90. A figure that climbs with the store is work the audit does
(the person index, checkpoints) that the answers wait for.

    python -m bench.audit_growth [--persons 200000] [--batches 12] [--answers 20]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench._common import city_persons, ensure_city, machine_block, median, percentile, update_section


async def _measure(data_dir: Path, store: Path, batches: int, answers: int) -> list[dict[str, Any]]:
    from bench.school_query import HubClient, school_sizes
    from hub.config import HubConfig

    config = HubConfig.for_data_dir(data_dir)
    config = replace(config, state_url=f"sqlite+aiosqlite:///{store}")
    schools = itertools.cycle([s for s, _ in school_sizes(data_dir)])
    rows: list[dict[str, Any]] = []
    async with HubClient(data_dir, config) as hub:
        for b in range(batches):
            times = []
            for _ in range(answers):
                t0 = time.perf_counter()
                await hub.whole_school(next(schools))
                times.append(time.perf_counter() - t0)
            size = sum(p.stat().st_size for p in store.parent.glob(store.name + "*"))
            rows.append({"batch": b + 1, "answers": (b + 1) * answers, "mb": size / 2**20,
                         "median": median(times), "p90": percentile(times, 0.9), "max": max(times)})
            r = rows[-1]
            print(f"  batch {r['batch']:>3}: store {r['mb']:6.1f} MB, median {r['median'] * 1000:6.1f} ms, "
                  f"p90 {r['p90'] * 1000:6.1f} ms, slowest {r['max'] * 1000:6.1f} ms", flush=True)
    return rows


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    data_dir: Path = args.data_dir or Path(f"/tmp/hub-bench-{args.persons}")
    ensure_city(data_dir, args.persons, args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-growth-"))
    started = time.perf_counter()
    try:
        rows = asyncio.run(_measure(data_dir, tmp / "hub.sqlite", args.batches, args.answers))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - started
    first, last = rows[0], rows[-1]
    lines = [
        "## The school query as the audit store grows",
        "",
        machine_block([
            f"- city: {city_persons(data_dir)} persons (`--persons {args.persons} --seed {args.seed}`), "
            f"data in `{data_dir}`; the audit store a fresh file of this run's own",
            f"- {args.batches} batches of {args.answers} whole-school answers (department `health`, "
            "pages of first=500, every school of the city in turn: the bench.school_query client); "
            f"the script took {total:.0f}s",
        ]),
        "",
        "| batch | answers so far | audit store | median | p90 | slowest |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        *(f"| {r['batch']} | {r['answers']:,} | {r['mb']:.1f} MB | {r['median'] * 1000:.1f} ms | "
          f"{r['p90'] * 1000:.1f} ms | {r['max'] * 1000:.1f} ms |" for r in rows),
        "",
        f"- last batch / first batch, median: **{last['median'] / first['median']:.2f}x** "
        f"({first['mb']:.1f} MB -> {last['mb']:.1f} MB of audit store).",
    ]
    if args.section:
        update_section(args.section, "\n".join(lines))
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.audit_growth", description=__doc__.split("\n\n")[0])
    p.add_argument("--persons", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--batches", type=int, default=12)
    p.add_argument("--answers", type=int, default=20, help="whole-school answers per batch")
    p.add_argument("--section", default="audit_growth", help="the RESULTS.md section to rewrite")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if not 1 <= args.batches <= 500 or not 1 <= args.answers <= 1000:
        p.error("keep it bounded: --batches 1..500, --answers 1..1000")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
