"""Every measurement of the issue "Speed" in one run, written to bench/RESULTS.md.

    python -m bench.all [--persons 200000] [--pg-persons 200000]
                        [--sizes 10000,200000,1000000] [--quick] [--no-pg]

In order, each writing its own section (the scripts stay usable alone):

1. ``bench.school_query`` at ``--persons``: the school query against both hand-written
   SQLite baselines (per source: <= 1.5x; the single ATTACH join: <= 3x);
2. ``bench.lookup`` at ``--persons``: the look-up against bare Starlette on stdlib sqlite3
   (>= 0.8x) and on the hub's connector, the audit's cost (the hub against the same hub
   whose audit store discards), p50/p99 under 16 clients, connections opened under load;
3. ``bench.pg`` at ``--pg-persons``: on PostgreSQL, the look-up against bare asyncpg
   (>= 0.8x) and PostGraphile 5 (>= 1.0x; skipped with a message where npm or
   bench/peer is absent), the school query against hand-written asyncpg (<= 1.5x);
4. the ``sizes`` section: look-up latency (p50/p99 under 16 clients, req/s) and the
   school query's median at each of ``--sizes`` persons (cities generated into
   /tmp/hub-bench-<N> when missing: 1,000,000 takes ~5 min and ~1.7 GB);
5. ``bench.audit_entry``: one audit entry of 1, 500, 991 and 2,700 persons through the
   endpoint's path on SQLite and PostgreSQL (the 991-person entry: <= 2 ms);
6. ``bench.instructions`` at ``--persons``: the school query and the look-up against their
   baselines again, on SQLite and on PostgreSQL (unless ``--no-pg``), counted in
   instructions by valgrind's callgrind (the same figure however
   busy the machine is; skipped with a message without valgrind).

``--quick``: a smoke run of a few minutes (10,000 persons, short runs, one round).
Targets are benchmarks, not tests: only ratios measured in the same run are quoted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from bench import audit_entry, instructions, lookup, pg, school_query
from bench._common import machine_block, ms, update_section


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes {text!r}: give person counts separated by commas") from None
    if not sizes or any(n < 1000 for n in sizes):
        raise argparse.ArgumentTypeError("--sizes: each size is at least 1000 persons")
    return sizes


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.all", description=__doc__.split("\n\n")[0])
    p.add_argument("--persons", type=int, default=200_000, help="city of the school query and look-up sections")
    p.add_argument("--pg-persons", type=int, default=200_000, help="city loaded into PostgreSQL")
    p.add_argument("--sizes", type=_sizes, default=[10_000, 200_000, 1_000_000],
                   help="person counts of the sizes section, comma-separated")
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--quick", action="store_true", help="a smoke run: 10,000 persons, short runs")
    p.add_argument("--no-pg", dest="pg", action="store_false", help="skip PostgreSQL (and PostGraphile)")
    return p


def _args(p: argparse.ArgumentParser, argv: list[str], **over: Any) -> argparse.Namespace:
    args = p.parse_args(argv)
    for k, v in over.items():
        setattr(args, k, v)
    return args


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    if args.quick:
        args.persons, args.pg_persons, args.sizes = 10_000, 20_000, [10_000]
    quick = args.quick
    seed = ["--seed", str(args.seed)]
    look_times = ["--duration", "3", "--warmup", "1", "--rounds", "1"] if quick else []
    school_times = ["--runs", "3", "--warmup", "1"] if quick else ["--runs", "10"]
    figures: dict[int, dict[str, Any]] = {}

    print(f"== school query, {args.persons:,} persons", flush=True)
    cases = asyncio.run(school_query.run(_args(school_query.parser(),
                                               ["--persons", str(args.persons), *seed, *school_times])))
    print(f"== look-up, {args.persons:,} persons", flush=True)
    look = lookup.run(_args(lookup.parser(), ["--persons", str(args.persons), *seed, *look_times]))
    figures[args.persons] = {"lookup": look, "school": cases}
    if args.pg:
        print(f"== PostgreSQL, {args.pg_persons:,} persons", flush=True)
        pg.run(_args(pg.parser(), ["--persons", str(args.pg_persons), *seed, *look_times,
                                   *(["--runs", "3", "--warmup-runs", "1"] if quick else [])]))
    for size in args.sizes:
        if size in figures:
            continue
        print(f"== sizes: {size:,} persons", flush=True)
        figures[size] = {
            "lookup": lookup.run(_args(lookup.parser(), [
                "--persons", str(size), *seed, "--duration", "3" if quick else "6", "--warmup", "1",
                "--rounds", "1", "--no-audit-cost"], section=None)),
            "school": asyncio.run(school_query.run(_args(school_query.parser(), [
                "--persons", str(size), *seed, "--runs", "3" if quick else "5", "--warmup", "1"],
                section=None))),
        }
    write_sizes(args, figures, time.perf_counter() - started)
    print("== one audit entry by its persons", flush=True)
    audit_entry.run(_args(audit_entry.parser(), [
        *seed, *(["--runs", "20", "--warmup", "3", "--prefill", "100000"] if quick else []),
        *([] if args.pg else ["--no-pg"])]))
    print("== instructions (callgrind)", flush=True)
    instructions.run(_args(instructions.parser(), [
        "--persons", str(args.persons), *seed, *(["--answers", "1", "--lookups", "50"] if quick else []),
        *([] if args.pg else ["--no-pg"])]))
    print(f"bench.all done in {time.perf_counter() - started:.0f}s")


def write_sizes(args: argparse.Namespace, figures: dict[int, dict[str, Any]], total: float) -> None:
    lines = [
        "## Latency by the size of the city",
        "",
        machine_block([
            f"- the look-up and the school query at each size (cities `/tmp/hub-bench-<persons>`, seed "
            f"{args.seed}); at {args.persons:,} persons the figures are those of the sections above, at the "
            f"other sizes shorter runs (look-up: one round of 6 s after 1 s warm-up, hub vs bare stdlib "
            f"sqlite3; school query: 5 runs after 1 warm-up); `python -m bench.all` took {total:.0f}s",
        ]),
        "",
        "| persons | look-up: hub req/s | hub p50 | hub p99 | bare sqlite3 req/s | sqlite3 p50 | sqlite3 p99 "
        "| hub / sqlite3 | school | pupils | hub median | per-source SQL | ATTACH join | hub / per source "
        "| hub / ATTACH |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in sorted(figures):
        look, cases = figures[size]["lookup"], figures[size]["school"]
        hub, ref = look["stats"]["hub"], look["stats"]["sqlite3"]
        for k, c in enumerate(cases):
            per, att = (c["sql_stats"][label][0] for label in (school_query.SqlPerSource.label,
                                                              school_query.SqlAttached.label))
            head = (f"| {size:,} | {hub['rps']:,.0f} | {hub['p50']:.1f} ms | {hub['p99']:.1f} ms | "
                    f"{ref['rps']:,.0f} | {ref['p50']:.1f} ms | {ref['p99']:.1f} ms | {look['ratio']:.2f}x |"
                    if k == 0 else "| | | | | | | | |")
            lines.append(f"{head} `{c['school']}` ({c['why']}) | {c['pupils']:,} | {ms(c['hub_med'])} | "
                         f"{ms(per)} | {ms(att)} | {c['ratio_per_source']:.2f}x | {c['ratio']:.2f}x |")
    lines += ["", f"p50/p99 are under {16} concurrent clients ({figures[min(figures)]['lookup']['tool']}); "
              "a point look-up reads a primary key, so its cost should not grow with the city, while the "
              "school query grows with the biggest school's pupils."]
    update_section("sizes", "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    run(parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
