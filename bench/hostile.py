"""Hostile queries against a real hub process: how fast each is refused, and
whether a concurrent small query notices.

The hub runs under uvicorn in its own process on the generated city with the
default limits (``HubConfig.for_data_dir``). For each hostile query of the issue
"Hardening" (the nine-level nesting with the least-privileged token, 100 aliases
of ``reopeningOverview``, the aliased fragment chain, and the wide two-level
nesting that passes the depth limit), it sends ``--tries`` requests one after
another and reports the refusal's code and its latency, and whether
``hub_source_queries_total`` moved (it must not: a refusal is decided before
any source runs).

Then a prober sends one small health-code look-up every ``--probe-interval``
seconds, in rounds alternating "alone" and "with the hostile queries sent
back to back from another thread"; the difference of the prober's latencies
between the two kinds of round is what a hostile client costs the others
(interleaved, so the machine's other load falls on both).

    python -m bench.hostile [--persons 20000] [--tries 30] [--rounds 4] [--seconds 5]

The client address limit (100 requests/s by default) is the hub's own; the
hostile thread is paced under it with the prober, so no answer here is a 429.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

from bench._common import city_persons, ensure_city, machine_block, median, ms, percentile, update_section
from bench.lookup import Server, pick_ids


def nested(levels: int, first: int = 500) -> str:
    """community -> residents(first) -> residence -> community -> ... ``levels`` times."""
    inner = "name"
    for _ in range(levels):
        inner = f"residents(first: {first}) {{ edges {{ node {{ residence {{ community {{ {inner} }} }} }} }} }}"
    return f'query($id: ID!) {{ community(id: $id) {{ {inner} }} }}'


#: Within the depth limit, but 500 residents of each of 500 residents' communities.
WIDE = ('query($id: ID!) { community(id: $id) { residents(first: 500) { edges { node { residence '
        '{ community { residents(first: 500) { edges { node { idNumber } } } } } } } } } }')


def aliases(n: int) -> str:
    parts = " ".join(f'a{i}: reopeningOverview(date: "2026-12-01") {{ people }}' for i in range(n))
    return "{ " + parts + " }"


def fragment_chain(levels: int) -> str:
    """Each fragment spreads the next twice, under two aliases: 2^levels if expanded."""
    frags = []
    for i in range(levels):
        nxt = f"...F{i + 1}" if i + 1 < levels else "name"
        frags.append(f"fragment F{i} on Community {{ x: residents(first: 2) {{ edges {{ node {{ residence "
                     f"{{ community {{ {nxt} }} }} }} }} }} y: residents(first: 2) {{ edges {{ node "
                     f"{{ residence {{ community {{ {nxt} }} }} }} }} }} }}")
    return 'query($id: ID!) { community(id: $id) { ...F0 } } ' + " ".join(frags)


PROBE = "query($id: String!){ healthCode(idNumber: $id) { color updatedAt } }"


def _source_queries(url: str) -> float:
    import re

    import httpx

    text = httpx.get(url + "/metrics", timeout=5).text
    return sum(float(v) for v in re.findall(r'^hub_source_queries_total\{[^}]*\} ([\d.e+]+)$', text, re.M))


def run(args: argparse.Namespace) -> None:
    import httpx

    from hub.access.tokens import issue_token
    from hub.config import HubConfig

    started = time.perf_counter()
    data_dir: Path = args.data_dir or Path(f"/tmp/hub-bench-{args.persons}")
    ensure_city(data_dir, args.persons, args.seed)
    samples = json.loads((data_dir / "city.json").read_text(encoding="utf-8"))["samples"]
    community = str(samples["community_id"])
    config = HubConfig.for_data_dir(data_dir)

    def headers(department: str, purpose: str, **scopes: str) -> dict[str, str]:
        tok = issue_token(config.secret, department, ttl=3600,
                          scopes={k: [v] for k, v in scopes.items()})
        return {"Authorization": f"Bearer {tok}", "X-Purpose": purpose,
                "Content-Type": "application/json", "Accept": "application/graphql-response+json"}

    community_h = headers("community", "community-management", community=community)
    cases = [  # (name, query, variables, headers, size in bytes)
        ("nine-level nesting (community token)", nested(9), {"id": community}, community_h),
        ("two levels of residents(first: 500)", WIDE, {"id": community}, community_h),
        ("100 aliases of reopeningOverview (education)", aliases(100), {},
         headers("education", "school-reopening")),
        ("aliased fragment chain, 6 levels", fragment_chain(6), {"id": community}, community_h),
    ]
    probe_h = headers("province", "mutual-recognition")
    ids = pick_ids(data_dir, 200)

    hub = Server("hub", "bench.bare_app:create_hub_app", data_dir)
    rows: list[str] = []
    try:
        hub.wait_ready("/healthz")
        with httpx.Client(base_url=hub.url, timeout=30) as client:
            for name, query, variables, h in cases:
                body = json.dumps({"query": query, "variables": variables})
                before = _source_queries(hub.url)
                times, codes, statuses = [], set(), set()
                for _ in range(args.tries):
                    t0 = time.perf_counter()
                    r = client.post("/graphql", content=body, headers=h)
                    times.append(time.perf_counter() - t0)
                    statuses.add(r.status_code)
                    errors = r.json().get("errors") or [{"extensions": {"code": "answered"}}]
                    codes.add(errors[0].get("extensions", {}).get("code", "?"))
                    time.sleep(0.02)
                moved = _source_queries(hub.url) - before
                rows.append(f"| {name} | {len(body):,} B | {', '.join(map(str, sorted(statuses)))} "
                            f"{', '.join(sorted(codes))} | {ms(median(times))} | {ms(percentile(times, 0.99))} "
                            f"| {ms(max(times))} | {moved:g} |")
                print(rows[-1])

        stop = threading.Event()

        def hostile_loop() -> None:
            with httpx.Client(base_url=hub.url, timeout=30) as client:
                while not stop.is_set():
                    for _name, query, variables, h in cases:
                        client.post("/graphql", json={"query": query, "variables": variables}, headers=h)
                        time.sleep(args.hostile_pause)

        probes: dict[str, list[float]] = {"alone": [], "with hostile": []}
        refused_probes = 0
        with httpx.Client(base_url=hub.url, timeout=30) as client:
            for round_no in range(args.rounds * 2):
                kind = "alone" if round_no % 2 == 0 else "with hostile"
                thread = None
                if kind == "with hostile":
                    stop.clear()
                    thread = threading.Thread(target=hostile_loop, daemon=True)
                    thread.start()
                t_end = time.monotonic() + args.seconds
                k = 0
                while time.monotonic() < t_end:
                    t0 = time.perf_counter()
                    r = client.post("/graphql", json={"query": PROBE, "variables": {"id": ids[k % len(ids)]}},
                                    headers=probe_h)
                    elapsed = time.perf_counter() - t0
                    if r.status_code != 200:
                        refused_probes += 1
                    else:
                        probes[kind].append(elapsed)
                    k += 1
                    time.sleep(max(0.0, args.probe_interval - elapsed))
                if thread is not None:
                    stop.set()
                    thread.join()
    finally:
        hub.stop()

    def line(kind: str) -> str:
        v = probes[kind]
        return (f"| {kind} | {len(v)} | {ms(median(v))} | {ms(percentile(v, 0.99))} | "
                f"{ms(max(v) if v else float('nan'))} |")

    delay_p50 = median(probes["with hostile"]) - median(probes["alone"])
    delay_p99 = percentile(probes["with hostile"], 0.99) - percentile(probes["alone"], 0.99)
    body = "\n".join([
        "## Hostile queries: refused before any source, and what they cost the others",
        "",
        machine_block([
            f"- city: {city_persons(data_dir)} persons, data in `{data_dir}`",
            "- hub: `bench.bare_app:create_hub_app` under uvicorn in its own process, default limits",
            f"- the script took {time.perf_counter() - started:.0f}s",
        ]),
        "",
        f"Each query sent {args.tries} times, one after another (the acceptance: refused in under "
        "100 ms, with its code, and `hub_source_queries_total` does not move):",
        "",
        "| query | size | status, code | p50 | p99 | max | source statements run |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"A small health-code look-up every {args.probe_interval * 1000:.0f} ms, in {args.rounds} rounds "
        f"of {args.seconds:g}s alone interleaved with {args.rounds} rounds while another thread sends the "
        f"queries above back to back ({args.hostile_pause * 1000:.0f} ms apart):",
        "",
        "| rounds | look-ups | p50 | p99 | max |",
        "| --- | --- | --- | --- | --- |",
        line("alone"),
        line("with hostile"),
        "",
        f"Delay a hostile client adds to the others: p50 {delay_p50 * 1000:+.1f} ms, "
        f"p99 {delay_p99 * 1000:+.1f} ms (the acceptance: under 100 ms)"
        + (f"; {refused_probes} look-ups were not answered 200" if refused_probes else "") + ".",
    ])
    update_section("hostile", body)
    print(body)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--persons", type=int, default=20_000, help="size of the generated city")
    p.add_argument("--seed", type=int, default=2020, help="the city's seed")
    p.add_argument("--data-dir", type=Path, default=None, help="city directory (default /tmp/hub-bench-PERSONS)")
    p.add_argument("--tries", type=int, default=30, help="requests per hostile query")
    p.add_argument("--rounds", type=int, default=4, help="rounds of each kind for the prober")
    p.add_argument("--seconds", type=float, default=5.0, help="length of a prober round")
    p.add_argument("--probe-interval", type=float, default=0.05, help="seconds between look-ups")
    p.add_argument("--hostile-pause", type=float, default=0.02, help="seconds between hostile requests")
    run(p.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
