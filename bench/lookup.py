"""Single look-up throughput: the hub's ``healthCode(idNumber:)`` vs a bare Starlette app.

    python -m bench.lookup [--persons 20000] [--seed 2020] [--data-dir DIR]
                           [--duration 10] [--rounds 2] [--connections 16] [--ids 64]

Both apps run under uvicorn in their own subprocess on 127.0.0.1 (free ports), one
worker each, log level warning, no access log. The bare app (bench/bare_app.py)
does the same look-up through the same connector
(``HealthCodeConnector.load("HealthCode", "idNumber", [id], ...)``) and returns
JSON. The load comes from ``wrk -t1 -cN`` (one thread: the machine has 2 cores and
the server needs the other) with a Lua script POSTing the GraphQL request (bearer
header) or ``{"idNumber": ...}`` for the bare app, rotating over the same ID numbers
for both; without wrk, from this process with httpx. A third app, the same endpoint on the stdlib
``sqlite3`` without the connector, is measured as a reference (not in the ratio).
Rounds are interleaved
(hub, bare, reference, then the reverse), each preceded by a short warm-up; all traffic is on
loopback and every run is bounded in time. Rewrites its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import city_persons, ensure_city, machine_block, update_section

REPO = Path(__file__).resolve().parent.parent
TARGET = 0.6  # hub / bare
GRAPHQL = "query($id: String!){ healthCode(idNumber: $id) { color updatedAt } }"
UVICORN_FLAGS = ["--workers", "1", "--log-level", "warning", "--no-access-log"]
UVICORN_CMD = "uvicorn --factory APP --host 127.0.0.1 --port N " + " ".join(UVICORN_FLAGS)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pick_ids(data_dir: Path, count: int) -> list[str]:
    con = sqlite3.connect(f"file:{data_dir / 'healthcode.sqlite'}?mode=ro", uri=True)
    try:
        ids = [r[0] for r in con.execute("SELECT sfzh FROM jkm_xx ORDER BY rowid")]
    finally:
        con.close()
    if not ids:
        raise SystemExit("the health-code source has no rows")
    step = max(1, len(ids) // count)
    return ids[::step][:count]


class Server:
    def __init__(self, name: str, factory: str, data_dir: Path) -> None:
        self.name, self.factory, self.port = name, factory, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "BENCH_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)}
        self.cmd = [sys.executable, "-m", "uvicorn", "--factory", factory,
                    "--host", "127.0.0.1", "--port", str(self.port), *UVICORN_FLAGS]
        # Kept open for the server's life (its output), closed in stop().
        self.log = tempfile.NamedTemporaryFile("w+", prefix=f"bench-{name}-", suffix=".log",  # noqa: SIM115
                                               delete=False)
        self.proc = subprocess.Popen(self.cmd, cwd=REPO, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited ({self.proc.returncode}); log:\n{self.tail()}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.name} did not answer within {timeout:g}s; log:\n{self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly on SIGINT
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        os.unlink(self.log.name)


# --------------------------------------------------------------------------- load: wrk
def lua_script(headers: dict[str, str], bodies: list[str]) -> str:
    def lua_str(s: str) -> str:
        return '"' + "".join(c if c.isalnum() or c in " -_.:/,{}[]()$!@=+;*<>?|~^&%#'" else
                             f"\\{ord(c):03d}" for c in s) + '"'

    lines = ['wrk.method = "POST"']
    for k, v in headers.items():
        lines.append(f"wrk.headers[{lua_str(k)}] = {lua_str(v)}")
    lines.append("local bodies = {" + ", ".join(lua_str(b) for b in bodies) + "}")
    lines += [
        "local n = #bodies",
        "local i = 0",
        "request = function()",
        "  i = i + 1",
        "  return wrk.format(nil, nil, nil, bodies[(i % n) + 1])",
        "end",
    ]
    return "\n".join(lines) + "\n"


def run_wrk(url: str, script: Path, seconds: float, connections: int) -> dict[str, Any]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency",
           "--timeout", "5s", "-s", str(script), url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    out = done.stdout
    if done.returncode != 0 or done.stderr.strip():
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr.strip()[:2000]}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors:(.*)", out)
    lat = {p: _to_ms(m.group(1)) for p in ("50", "90", "99")
           if (m := re.search(rf"^\s+{p}(?:\.000)?%\s+([\d.]+\w+)", out, re.M))}
    return {"rps": rps, "requests": total, "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sock.group(1).strip() if sock else "", "latency_ms": lat, "raw": out}


def _to_ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


# --------------------------------------------------------------------------- load: python
async def _py_load(url: str, headers: dict[str, str], bodies: list[str], seconds: float,
                   connections: int) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    bad = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=5, headers=headers) as client:
        deadline = time.perf_counter() + seconds

        async def worker(k: int) -> None:
            nonlocal bad
            i = k
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                resp = await client.post(url, content=bodies[i % len(bodies)])
                latencies.append(time.perf_counter() - t0)
                bad += resp.status_code != 200
                i += connections

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def q(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"rps": len(latencies) / elapsed, "requests": len(latencies), "non2xx": bad,
            "socket_errors": "", "latency_ms": {"50": q(0.5), "90": q(0.9), "99": q(0.99)},
            "raw": ""}


# --------------------------------------------------------------------------- main
def metric(url: str, name: str, label: str) -> float:
    import httpx

    text = httpx.get(url + "/metrics", timeout=5).text
    m = re.search(rf'^{re.escape(name)}\{{connector="{re.escape(label)}"\}} ([\d.e+]+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def run(args: argparse.Namespace) -> None:
    import httpx

    from hub.access.tokens import issue_token
    from hub.config import HubConfig

    started = time.perf_counter()
    data_dir: Path = args.data_dir or Path(f"/tmp/hub-bench-{args.persons}")
    gen_seconds = ensure_city(data_dir, args.persons, args.seed)
    ids = pick_ids(data_dir, args.ids)
    config = HubConfig.for_data_dir(data_dir)
    token = issue_token(config.secret, "province", ttl=3600)
    hub_headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "Authorization": f"Bearer {token}", "X-Purpose": "mutual-recognition"}
    bare_headers = {"Content-Type": "application/json", "Accept": "application/json"}
    hub_bodies = [json.dumps({"query": GRAPHQL, "variables": {"id": i}}) for i in ids]
    bare_bodies = [json.dumps({"idNumber": i}) for i in ids]
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    tool = (f"wrk ({_wrk_version()}) -t1 -c{args.connections}" if use_wrk else
            f"httpx from the bench process, {args.connections} concurrent requests")
    print(f"load: {tool}; {len(ids)} ID numbers; {args.rounds} rounds of {args.duration:g}s each")

    hub = Server("hub", "bench.bare_app:create_hub_app", data_dir)
    bare = Server("bare", "bench.bare_app:create_app", data_dir)
    ref = Server("sqlite3", "bench.bare_app:create_sqlite3_app", data_dir) if args.reference else None
    servers = [s for s in (hub, bare, ref) if s is not None]
    tmp = Path(tempfile.mkdtemp(prefix="bench-lookup-"))
    results: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
    statements_per_request = None
    try:
        hub.wait_ready("/healthz")
        bare.wait_ready(f"/code?idNumber={ids[0]}")
        if ref is not None:
            ref.wait_ready(f"/code?idNumber={ids[0]}")
        # Same answers from both, for every ID number used.
        mismatches = 0
        for i, hb, bb in zip(ids, hub_bodies, bare_bodies):
            h = httpx.post(hub.url + "/graphql", content=hb, headers=hub_headers, timeout=10).json()
            b = httpx.post(bare.url + "/code", content=bb, headers=bare_headers, timeout=10).json()
            r = (httpx.post(ref.url + "/code", content=bb, headers=bare_headers, timeout=10).json()
                 if ref is not None else b)
            if h.get("errors") or not (h["data"]["healthCode"] == b["healthCode"] == r["healthCode"]):
                mismatches += 1
                if mismatches <= 3:
                    print(f"  answers differ for {i}: hub {h} vs bare {b}")
        print(f"checked {len(ids)} ID numbers: "
              + ("same answers" if not mismatches else f"{mismatches} differ"))

        targets = {"hub": (hub.url + "/graphql", hub_headers, hub_bodies),
                   "bare": (bare.url + "/code", bare_headers, bare_bodies)}
        if ref is not None:
            targets["sqlite3"] = (ref.url + "/code", bare_headers, bare_bodies)
        scripts = {}
        for name, (_url, headers, bodies) in targets.items():
            scripts[name] = tmp / f"{name}.lua"
            scripts[name].write_text(lua_script(headers, bodies), encoding="utf-8")

        def load(name: str, seconds: float) -> dict[str, Any]:
            url, headers, bodies = targets[name]
            if use_wrk:
                return run_wrk(url, scripts[name], seconds, args.connections)
            return asyncio.run(_py_load(url, headers, bodies, seconds, args.connections))

        q0 = metric(hub.url, "hub_source_queries_total", "healthcode")
        for r in range(args.rounds):
            order = list(targets) if r % 2 == 0 else list(reversed(targets))
            for name in order:
                load(name, args.warmup)
                before = metric(hub.url, "hub_source_queries_total", "healthcode") if name == "hub" else 0
                res = load(name, args.duration)
                if name == "hub":
                    after = metric(hub.url, "hub_source_queries_total", "healthcode")
                    res["statements"] = after - before
                results[name].append(res)
                print(f"  round {r + 1} {name:<7}: {res['rps']:8.1f} req/s  "
                      f"p50 {res['latency_ms'].get('50', float('nan')):.2f} ms  "
                      f"p99 {res['latency_ms'].get('99', float('nan')):.2f} ms  "
                      f"non-2xx {res['non2xx']} {res['socket_errors']}", flush=True)
        hub_stmts = sum(r.get("statements", 0) for r in results["hub"])
        hub_reqs = sum(r["requests"] for r in results["hub"])
        statements_per_request = hub_stmts / hub_reqs if hub_reqs else float("nan")
        _ = q0
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def mean(name: str) -> float:
        return sum(r["rps"] for r in results[name]) / len(results[name])

    hub_rps, bare_rps = mean("hub"), mean("bare")
    ratio = hub_rps / bare_rps
    total = time.perf_counter() - started
    verdict = "meets" if ratio >= TARGET else "MISSES"
    lines = [
        "## Single look-up throughput: hub vs bare Starlette",
        "",
        machine_block([
            f"- city: {city_persons(data_dir)} persons (`--persons {args.persons} --seed "
            f"{args.seed}`), data in `{data_dir}`"
            + (f" (generated in {gen_seconds:.0f}s by this run)" if gen_seconds else ""),
            f"- servers, each `{UVICORN_CMD}` in its own subprocess on 127.0.0.1 "
            f"(1 worker each, log level warning, no access log; uvicorn's loop and HTTP "
            f"parser: {_uvicorn_impl()}): " + ", ".join(f"`{s.factory}` ({s.name})" for s in servers),
            f"- load: {tool}, {args.duration:g}s per run after a {args.warmup:g}s warm-up, "
            f"{args.rounds} rounds interleaved (hub, bare, reference, then the reverse), {len(ids)} ID numbers "
            f"rotated, the same for all; all servers stay up throughout, only one is loaded at "
            f"a time; 2 cores: the load generator takes one, the server (and its aiosqlite "
            f"thread) the other; script took {total:.0f}s",
            f"- hub request: POST /graphql `{GRAPHQL}` with a bearer token (department "
            f"`province`); bare request: POST /code `{{\"idNumber\": ...}}`, no auth, "
            f"same connector, fields {{color, updatedAt}}",
        ]),
        "",
        "| app | " + " | ".join(f"round {i + 1} req/s" for i in range(args.rounds))
        + " | mean req/s | p50 | p99 | non-2xx |",
        "| --- | " + " | ".join("---:" for _ in range(args.rounds)) + " | ---: | ---: | ---: | ---: |",
    ]
    labels = {"hub": "hub (GraphQL)", "bare": "bare Starlette, same connector",
              "sqlite3": "reference: bare Starlette, stdlib sqlite3, no connector"}
    for name, rs in results.items():
        label = labels[name]
        p50 = sum(r["latency_ms"].get("50", 0) for r in rs) / len(rs)
        p99 = sum(r["latency_ms"].get("99", 0) for r in rs) / len(rs)
        lines.append(f"| {label} | " + " | ".join(f"{r['rps']:,.0f}" for r in rs)
                     + f" | {mean(name):,.0f} | {p50:.1f} ms | {p99:.1f} ms | "
                       f"{sum(r['non2xx'] for r in rs)} |")
    lines += [
        "",
        f"**hub / bare = {ratio:.2f}x** (target >= {TARGET:g}x: {verdict}). What the hub "
        f"adds to the look-up (token check, policy admission, parse cache, execution, the "
        f"audit entry written before the answer, the GraphQL JSON envelope) costs "
        f"{1000 / hub_rps - 1000 / bare_rps:.2f} ms per request on top of the bare app's "
        f"{1000 / bare_rps:.2f} ms (cost per request = 1 / throughput of the one worker). "
        f"Statements to the health-code source per hub request during the runs: "
        f"{statements_per_request:.2f} (from /metrics). "
        f"Both answered the same colour and time for every ID number used"
        + ("." if not mismatches else f", except {mismatches} (see the script's output)."),
    ]
    if "sqlite3" in results:
        ref_rps = mean("sqlite3")
        lines += [
            "",
            f"The reference row (same endpoint, stdlib sqlite3 on the loop, no connector) is "
            f"not part of the ratio; it shows what uvicorn + Starlette allow here: "
            f"{ref_rps:,.0f} req/s, so the shared connector (SQLAlchemy async + aiosqlite, "
            f"pool_pre_ping) costs the bare app {1 / bare_rps * 1000 - 1 / ref_rps * 1000:.2f} ms "
            f"of its {1 / bare_rps * 1000:.2f} ms per request, and the hub / reference ratio "
            f"is {hub_rps / ref_rps:.2f}x.",
        ]
    update_section("lookup", "\n".join(lines))
    print(f"hub {hub_rps:,.0f} req/s, bare {bare_rps:,.0f} req/s, ratio {ratio:.2f}x "
          f"(target >= {TARGET:g}x); {total:.0f}s")


def _wrk_version() -> str:
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout + \
        subprocess.run(["wrk", "-v"], capture_output=True, text=True).stderr
    m = re.search(r"wrk (\S+)", out)
    return f"wrk {m.group(1)}" if m else "wrk"


def _uvicorn_impl() -> str:
    from importlib.util import find_spec

    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    http = "httptools" if find_spec("httptools") else "h11"
    return f"{loop} + {http} (what `auto` picks here)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.lookup", description=__doc__.split("\n\n")[0])
    p.add_argument("--persons", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--data-dir", type=Path, default=None,
                   help="default /tmp/hub-bench-<persons>; generated when missing")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each run")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--ids", type=int, default=64, help="distinct ID numbers to rotate over")
    p.add_argument("--python-load", action="store_true", help="use httpx even if wrk is installed")
    p.add_argument("--no-reference", dest="reference", action="store_false",
                   help="skip the reference app (bare Starlette with stdlib sqlite3, no connector)")
    args = p.parse_args(argv)
    if args.duration > 60 or args.rounds > 5:
        p.error("keep it bounded: --duration <= 60 and --rounds <= 5")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
