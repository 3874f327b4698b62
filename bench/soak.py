"""A soak run: mixed load on two hub processes over PostgreSQL sources, with the
health-code source failing and recovering in the middle.

The city is loaded into PostgreSQL (one database per source, `hub generate
--target`'s loader); the hub's state (audit, commitments) is one more
PostgreSQL database and the rate limit is Redis, shared by two `hub serve`
processes. The health-code source is reached through a loopback TCP proxy
(tests/faultproxy.py) that stalls it from ``--fail-at`` to ``--fail-at +
--fail-for`` (fractions of the run). Clients (threads) send, to the two
processes in turn, a mix of single health-code look-ups (the province), one
school's pupils with their codes (the school), the school's reopening plan, and
an enterprise's return-to-work commitment.

Every ``--every`` seconds it records throughput, p50/p99, the answers' error
codes and each process's RSS, and writes the table to bench/RESULTS.md. At the
end, `hub audit verify` checks the one chain both processes wrote.

    python -m bench.soak [--minutes 10] [--persons 20000] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench._common import city_persons, ensure_city, machine_block, percentile, update_section

PG = "postgresql+asyncpg://root@127.0.0.1:5432"
SECRET = "soak-" + "s" * 43
LOOKUP = "query($id: String!) { healthCode(idNumber: $id) { color updatedAt } }"
PUPILS = ('query($id: ID!) { school(id: $id) { students(first: 100) { totalCount edges { node '
          '{ name healthCode { color } clinicVisits(days: 14) { time } } } } } }')
PLAN = ('query($id: ID!, $on: Date!) { school(id: $id) { reopening(date: $on) { total mayReturn '
        'mayNotReturn undecided } } }')
SUBMIT = ('mutation($in: ReturnToWorkInput!) { submitReturnToWorkCommitment(input: $in) '
          '{ version decision } }')
MIX = (("lookup", 0.70), ("pupils", 0.15), ("plan", 0.10), ("commitment", 0.05))


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _database(sql: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(run())


def run(args: argparse.Namespace) -> None:
    import httpx

    from connectors.registry import generated_sources
    from hub.access.tokens import issue_token
    from hub.city.load import load_city, resolve_targets
    from tests import stores
    from tests.faultproxy import FaultProxy
    from tests.processes import serving_process

    started = time.perf_counter()
    data_dir: Path = args.data_dir or Path(f"/tmp/hub-bench-{args.persons}")
    ensure_city(data_dir, args.persons, args.seed)
    samples = json.loads((data_dir / "city.json").read_text(encoding="utf-8"))["samples"]
    targets = resolve_targets([PG], generated_sources(), "soak_")
    stores.drop(targets)
    print(f"loading the city into PostgreSQL ({', '.join(targets)}) ...", flush=True)
    load_city(data_dir, targets)
    _database("DROP DATABASE IF EXISTS soak_state")
    _database("CREATE DATABASE soak_state")

    import sqlite3

    con = sqlite3.connect(f"file:{data_dir / 'healthcode.sqlite'}?mode=ro", uri=True)
    ids = [r[0] for r in con.execute("SELECT sfzh FROM jkm_xx ORDER BY rowid LIMIT 2000")]
    con.close()
    school = str(samples["school_id"])
    credit = str(samples["credit_code"])

    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    results: list[dict[str, Any]] = []
    with ExitStack() as stack:
        proxy = stack.enter_context(FaultProxy("127.0.0.1", 5432))
        connectors = []
        for name, url in targets.items():
            u = url.set(port=proxy.port) if name == "healthcode" else url
            connectors.append(f'[connectors.{name}]\nurl = "{u.render_as_string(hide_password=False)}"\n')
        cfg = tmp / "hub.toml"
        cfg.write_text(
            f'[hub]\nsecret = "{SECRET}"\nstate_url = "{PG}/soak_state"\npolicy_poll_seconds = 0\n'
            '[rate_limit]\nrequests = 100000\nperiod_seconds = 1.0\nredis_url = "redis://127.0.0.1:6379/0"\n'
            "[limits]\naddress_requests = 0\n" + "".join(connectors), encoding="utf-8")
        hubs = [stack.enter_context(serving_process(cfg, timeout=90)) for _ in range(2)]
        bases = [b for b, _ in hubs]
        pids = [p.pid for _, p in hubs]
        print(f"two hubs: {', '.join(bases)}; health codes through the proxy on :{proxy.port}", flush=True)

        def headers(dept: str, purpose: str, **scopes: str) -> dict[str, str]:
            tok = issue_token(SECRET, dept, ttl=24 * 3600, subject=f"soak-{dept}",
                              scopes={k: [v] for k, v in scopes.items()})
            return {"Authorization": f"Bearer {tok}", "X-Purpose": purpose,
                    "Accept": "application/graphql-response+json"}

        asks = {
            "lookup": (headers("province", "mutual-recognition"),
                       lambda r: {"query": LOOKUP, "variables": {"id": r.choice(ids)}}),
            "pupils": (headers("school", "school-reopening", school=school),
                       lambda r: {"query": PUPILS, "variables": {"id": school}}),
            "plan": (headers("school", "school-reopening", school=school),
                     lambda r: {"query": PLAN, "variables": {"id": school,
                                                             "on": dt.date.today().isoformat()}}),
            "commitment": (headers("enterprise", "return-to-work", enterprise=credit),
                           lambda r: {"query": SUBMIT, "variables": {"in": {
                               "creditCode": credit, "contactName": "王经理", "contactPhone": "13812345678",
                               "plannedDate": (dt.date.today() + dt.timedelta(days=7)).isoformat(),
                               "headcount": r.randint(1, 4), "measures": ["masks"], "accepted": True}}}),
        }
        kinds = [k for k, _ in MIX]
        weights = [w for _, w in MIX]
        lock = threading.Lock()
        window: list[tuple[str, float, str]] = []  # (kind, seconds, outcome)
        stop = threading.Event()

        def client(n: int) -> None:
            r = random.Random(n)
            with httpx.Client(timeout=30) as http:
                k = n
                while not stop.is_set():
                    kind = r.choices(kinds, weights)[0]
                    h, body = asks[kind]
                    t0 = time.perf_counter()
                    try:
                        resp = http.post(f"{bases[k % 2]}/graphql", json=body(r), headers=h)
                        errors = resp.json().get("errors") or []
                        outcome = (errors[0].get("extensions", {}).get("code", "?") if errors
                                   else str(resp.status_code))
                    except httpx.HTTPError as exc:
                        outcome = type(exc).__name__
                    with lock:
                        window.append((kind, time.perf_counter() - t0, outcome))
                    k += 1

        seconds = args.minutes * 60
        fail_from, fail_to = seconds * args.fail_at, seconds * (args.fail_at + args.fail_for)
        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(args.clients)]
        t_start = time.monotonic()
        for t in threads:
            t.start()
        failing = False
        next_report = args.every
        while (elapsed := time.monotonic() - t_start) < seconds:
            if not failing and fail_from <= elapsed < fail_to:
                proxy.set("stall")
                failing = True
                print(f"{elapsed:6.0f}s  health-code source stalled", flush=True)
            elif failing and elapsed >= fail_to:
                proxy.set("pass")
                failing = False
                print(f"{elapsed:6.0f}s  health-code source back", flush=True)
            if elapsed >= next_report:
                with lock:
                    batch, window[:] = list(window), []
                results.append(_summary(next_report, batch, args.every, failing, [_rss_mib(p) for p in pids]))
                print(_row(results[-1]), flush=True)
                next_report += args.every
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join()
        verify = subprocess.run([sys.executable, "-m", "hub.cli", "audit", "verify", "--config", str(cfg)],
                                capture_output=True, text=True, timeout=600, env=os.environ)
    stores.drop(targets)
    _database("DROP DATABASE IF EXISTS soak_state")

    total = sum(r["requests"] for r in results)
    said = verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else verify.stderr.strip()[-200:]
    body = "\n".join([
        "## Soak: two hub processes on PostgreSQL, a source failing and recovering",
        "",
        machine_block([
            f"- city: {city_persons(data_dir)} persons, loaded into PostgreSQL 127.0.0.1:5432 "
            "(a database per source); the hub's state in PostgreSQL, the rate limit in Redis",
            f"- two `hub serve` processes, {args.clients} client threads alternating between them; mix: "
            + ", ".join(f"{k} {w:.0%}" for k, w in MIX),
            f"- the health-code source behind a loopback proxy, stalled from {fail_from:.0f}s to "
            f"{fail_to:.0f}s of {seconds:.0f}s",
            f"- the script took {time.perf_counter() - started:.0f}s",
        ]),
        "",
        "| t (s) | health codes | req/s | p50 | p99 | look-up p99 | answers (code: count) | RSS hub 1 / hub 2 (MiB) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_row(r) for r in results),
        "",
        f"{total:,} requests in all. `hub audit verify` on the chain both processes wrote: "
        f"exit {verify.returncode}: {said}",
    ])
    update_section("soak", body)
    print(body)


def _summary(t: float, batch: list[tuple[str, float, str]], every: float, failing: bool,
             rss: list[float]) -> dict[str, Any]:
    times = [s for _k, s, _o in batch]
    lookups = [s for k, s, _o in batch if k == "lookup"]
    return {"t": t, "failing": failing, "requests": len(batch), "rate": len(batch) / every,
            "p50": percentile(times, 0.5), "p99": percentile(times, 0.99),
            "lookup_p99": percentile(lookups, 0.99),
            "outcomes": collections.Counter(o for _k, _s, o in batch), "rss": rss}


def _row(r: dict[str, Any]) -> str:
    outcomes = ", ".join(f"{k}: {v}" for k, v in r["outcomes"].most_common())
    return (f"| {r['t']:.0f} | {'stalled' if r['failing'] else 'up'} | {r['rate']:.0f} | "
            f"{r['p50'] * 1000:.0f} ms | {r['p99'] * 1000:.0f} ms | {r['lookup_p99'] * 1000:.0f} ms | "
            f"{outcomes} | {r['rss'][0]:.0f} / {r['rss'][1]:.0f} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--persons", type=int, default=20_000, help="size of the generated city")
    p.add_argument("--seed", type=int, default=2020, help="the city's seed")
    p.add_argument("--data-dir", type=Path, default=None, help="city directory (default /tmp/hub-bench-PERSONS)")
    p.add_argument("--minutes", type=float, default=10.0, help="length of the run")
    p.add_argument("--clients", type=int, default=8, help="client threads")
    p.add_argument("--every", type=float, default=30.0, help="seconds per row of the table")
    p.add_argument("--fail-at", type=float, default=0.4, help="when the source stalls (fraction of the run)")
    p.add_argument("--fail-for", type=float, default=0.2, help="how long it stays stalled (fraction)")
    run(p.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
