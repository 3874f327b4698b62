"""Single look-up throughput: the hub's ``healthCode(idNumber:)`` vs a bare Starlette app.

    python -m bench.lookup [--persons 20000] [--seed 2020] [--data-dir DIR]
                           [--duration 10] [--rounds 2] [--connections 16] [--ids 64]
                           [--no-audit-cost]

Four apps run under uvicorn, each in its own subprocess on 127.0.0.1 (free ports), one
worker each, log level warning, no access log (factories in bench/bare_app.py): the hub;
the same hub whose audit store discards every entry (what the audit costs); a bare
Starlette app doing the same look-up through the same connector
(``HealthCodeConnector.load("HealthCode", "idNumber", [id], ...)``); and the same bare
endpoint on the stdlib ``sqlite3`` without the connector (the fastest driver: the
baseline of the target, hub >= 0.8x). The load comes from ``wrk -t1 -cN --latency`` (one
thread: the machine has 2 cores and the server needs the other) with a Lua script POSTing
the GraphQL request (bearer header) or ``{"idNumber": ...}`` for the bare apps, rotating
over the same ID numbers for all; without wrk, from this process with httpx. Rounds are
interleaved (the order reversed every other round), each preceded by a short warm-up;
the hub's ``hub_source_connections_opened_total`` is read before and after the timed
rounds. All traffic is on loopback and every run is bounded in time. Rewrites its
section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
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
TARGET = 0.8  # hub / bare Starlette on stdlib sqlite3 (the fastest driver)
GRAPHQL = "query($id: String!){ healthCode(idNumber: $id) { color updatedAt } }"
PERSISTED = REPO / "schema" / "persisted" / "health-code-color.graphql"
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
    def __init__(self, name: str, factory: str, data_dir: Path, env: dict[str, str] | None = None,
                 cmd: list[str] | None = None, cwd: Path = REPO) -> None:
        """``factory`` served by uvicorn, or ``cmd`` (``{port}`` in it: the free port)."""
        self.name, self.factory, self.port = name, factory, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "BENCH_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), **(env or {})}
        env = {k: v.replace("{port}", str(self.port)) for k, v in env.items()}
        self.cmd = ([c.replace("{port}", str(self.port)) for c in cmd] if cmd else
                    [sys.executable, "-m", "uvicorn", "--factory", factory,
                     "--host", "127.0.0.1", "--port", str(self.port), *UVICORN_FLAGS])
        # Kept open for the server's life (its output), closed in stop().
        self.log = tempfile.NamedTemporaryFile("w+", prefix=f"bench-{name}-", suffix=".log",  # noqa: SIM115
                                               delete=False)
        self.proc = subprocess.Popen(self.cmd, cwd=cwd, env=env, stdout=self.log,
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
    return metric_all(url, name).get(label, 0.0)


def metric_all(url: str, name: str) -> dict[str, float]:
    """``name{connector="..."}`` of a hub's /metrics, by connector."""
    import httpx

    text = httpx.get(url + "/metrics", timeout=5).text
    return {m.group(1): float(m.group(2)) for m in
            re.finditer(rf'^{re.escape(name)}\{{connector="([^"]*)"\}} ([\d.e+]+)$', text, re.M)}


OPENED = "hub_source_connections_opened_total"

Target = tuple[str, dict[str, str], list[str]]  # (url, headers, bodies)


class Load:
    """Runs ``seconds`` of load on a target: wrk with a Lua script per target, else httpx."""

    def __init__(self, targets: dict[str, Target], connections: int, python_load: bool = False) -> None:
        self.targets, self.connections = targets, connections
        self.use_wrk = shutil.which("wrk") is not None and not python_load
        self.tool = (f"wrk ({_wrk_version()}) -t1 -c{connections} --latency" if self.use_wrk else
                     f"httpx from the bench process, {connections} concurrent requests")
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
        self.scripts = {}
        for name, (_url, headers, bodies) in targets.items():
            self.scripts[name] = self.tmp / f"{name}.lua"
            self.scripts[name].write_text(lua_script(headers, bodies), encoding="utf-8")

    def __call__(self, name: str, seconds: float) -> dict[str, Any]:
        url, headers, bodies = self.targets[name]
        if self.use_wrk:
            return run_wrk(url, self.scripts[name], seconds, self.connections)
        return asyncio.run(_py_load(url, headers, bodies, seconds, self.connections))

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def interleave(load: Load, rounds: int, warmup: float, duration: float,
               hub_url: str | None = None) -> tuple[dict[str, list[dict[str, Any]]], dict[str, float]]:
    """``rounds`` of every target in turn (the order reversed every other round), each run
    after a warm-up; results per target, and the connections the hub at ``hub_url``
    opened to each source over all the rounds (after the first warm-up)."""
    names = list(load.targets)
    results: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    opened_before: dict[str, float] = {}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else list(reversed(names))):
            warm = load(name, warmup)
            if hub_url is not None and not opened_before:
                opened_before = metric_all(hub_url, OPENED) or {"": 0.0}
            res = load(name, duration)
            res["warmup_requests"] = warm["requests"]
            results[name].append(res)
            print(f"  round {r + 1} {name:<12}: {res['rps']:8.1f} req/s  "
                  f"p50 {res['latency_ms'].get('50', float('nan')):.2f} ms  "
                  f"p99 {res['latency_ms'].get('99', float('nan')):.2f} ms  "
                  f"non-2xx {res['non2xx']} {res['socket_errors']}", flush=True)
    opened: dict[str, float] = {}
    if hub_url is not None:
        after = metric_all(hub_url, OPENED)
        opened = {k: v - opened_before.get(k, 0.0) for k, v in after.items()}
    return results, opened


def summary(results: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    out = {}
    for name, rs in results.items():
        out[name] = {"rps": sum(r["rps"] for r in rs) / len(rs),
                     "p50": sum(r["latency_ms"].get("50", float("nan")) for r in rs) / len(rs),
                     "p99": sum(r["latency_ms"].get("99", float("nan")) for r in rs) / len(rs),
                     "non2xx": sum(r["non2xx"] for r in rs), "requests": sum(r["requests"] for r in rs)}
    return out


def table(results: dict[str, list[dict[str, Any]]], labels: dict[str, str]) -> list[str]:
    rounds = max(len(rs) for rs in results.values())
    stats = summary(results)
    lines = ["| app | " + " | ".join(f"round {i + 1} req/s" for i in range(rounds))
             + " | mean req/s | p50 | p99 | non-2xx |",
             "| --- | " + " | ".join("---:" for _ in range(rounds)) + " | ---: | ---: | ---: | ---: |"]
    for name, rs in results.items():
        s = stats[name]
        lines.append(f"| {labels.get(name, name)} | " + " | ".join(f"{r['rps']:,.0f}" for r in rs)
                     + f" | {s['rps']:,.0f} | {s['p50']:.1f} ms | {s['p99']:.1f} ms | {s['non2xx']:.0f} |")
    return lines


def opened_text(opened: dict[str, float]) -> str:
    if not opened:
        return "not read"
    return ", ".join(f"{k or '?'} {v:.0f}" for k, v in sorted(opened.items()))


LABELS = {"hub": "hub (GraphQL)",
          "hub-persisted": "hub, the persisted query by its hash",
          "hub-noaudit": "hub, audit discarded (bench only)",
          "bare": "bare Starlette, the hub's connector (SQLAlchemy Core statements on stdlib sqlite3)",
          "sqlite3": "bare Starlette, stdlib sqlite3 (the fastest driver: the baseline)"}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure; rewrite the section ``args.section`` (None: write nothing); the figures."""
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
    key = hashlib.sha256(PERSISTED.read_text(encoding="utf-8").strip().encode("utf-8")).hexdigest()
    persisted_bodies = [json.dumps({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": key}},
                                    "variables": {"idNumber": i}}) for i in ids]
    bare_bodies = [json.dumps({"idNumber": i}) for i in ids]

    factories = {"hub": "bench.bare_app:create_hub_app",
                 "hub-noaudit": "bench.bare_app:create_hub_app_discarding_audit",
                 "bare": "bench.bare_app:create_app",
                 "sqlite3": "bench.bare_app:create_sqlite3_app"}
    if not args.audit_cost:
        del factories["hub-noaudit"]
    servers: dict[str, Server] = {}
    load: Load | None = None
    try:
        for name, factory in factories.items():
            servers[name] = Server(name, factory, data_dir)
        for name, server in servers.items():
            server.wait_ready("/healthz" if name.startswith("hub") else f"/code?idNumber={ids[0]}")
        # Same answers from all, for every ID number used.
        mismatches = 0
        for i, hb, pb, bb in zip(ids, hub_bodies, persisted_bodies, bare_bodies):
            answers = []
            for name, server in servers.items():
                if name.startswith("hub"):
                    for body in ((hb, pb) if name == "hub" else (hb,)):
                        h = httpx.post(server.url + "/graphql", content=body, headers=hub_headers,
                                       timeout=10).json()
                        answers.append(None if h.get("errors") else h["data"]["healthCode"])
                else:
                    answers.append(httpx.post(server.url + "/code", content=bb, headers=bare_headers,
                                              timeout=10).json()["healthCode"])
            if answers[0] is None or any(a != answers[0] for a in answers):
                mismatches += 1
                if mismatches <= 3:
                    print(f"  answers differ for {i}: {answers}")
        print(f"checked {len(ids)} ID numbers: "
              + ("same answers" if not mismatches else f"{mismatches} differ"))
        targets: dict[str, Target] = {
            name: ((s.url + "/graphql", hub_headers, hub_bodies) if name.startswith("hub")
                   else (s.url + "/code", bare_headers, bare_bodies)) for name, s in servers.items()}
        # The same hub, asked by the persisted query's hash (loaded in its own runs).
        targets = {"hub": targets["hub"],
                   "hub-persisted": (servers["hub"].url + "/graphql", hub_headers, persisted_bodies),
                   **{k: v for k, v in targets.items() if k != "hub"}}
        load = Load(targets, args.connections, args.python_load)
        print(f"load: {load.tool}; {len(ids)} ID numbers; {args.rounds} rounds of {args.duration:g}s each")
        q0 = metric(servers["hub"].url, "hub_source_queries_total", "healthcode")
        results, opened = interleave(load, args.rounds, args.warmup, args.duration, servers["hub"].url)
        statements = metric(servers["hub"].url, "hub_source_queries_total", "healthcode") - q0
    finally:
        for server in servers.values():
            server.stop()
        if load is not None:
            load.close()

    stats = summary(results)
    hub_rps, bare_rps, ref_rps = stats["hub"]["rps"], stats["bare"]["rps"], stats["sqlite3"]["rps"]
    ratio = hub_rps / ref_rps
    persisted_rps = stats["hub-persisted"]["rps"]
    # The warm-ups are hub requests too: per request over all of them.
    sent = sum(stats[n]["requests"] + sum(r["warmup_requests"] for r in results[n])
               for n in ("hub", "hub-persisted"))
    statements_per_request = statements / sent if sent else 0.0
    total = time.perf_counter() - started
    figures: dict[str, Any] = {"persons": args.persons, "stats": stats, "ratio": ratio,
                               "ratio_persisted": persisted_rps / ref_rps,
                               "ratio_bare": hub_rps / bare_rps, "opened": opened,
                               "mismatches": mismatches, "tool": load.tool}
    if "hub-noaudit" in stats:
        figures["audit"] = hub_rps / stats["hub-noaudit"]["rps"]
    print(f"hub {hub_rps:,.0f} req/s (persisted {persisted_rps:,.0f}), sqlite3 {ref_rps:,.0f} req/s: "
          f"ratio {ratio:.2f}x (persisted {persisted_rps / ref_rps:.2f}x) "
          f"(target >= {TARGET:g}x); connections opened under load: {opened_text(opened)}; {total:.0f}s")
    if args.section is None:
        return figures
    verdict = "meets" if ratio >= TARGET else "**misses**"
    lines = [
        "## Single look-up throughput: hub vs bare Starlette (SQLite)",
        "",
        machine_block([
            f"- city: {city_persons(data_dir)} persons (`--persons {args.persons} --seed "
            f"{args.seed}`), data in `{data_dir}`"
            + (f" (generated in {gen_seconds:.0f}s by this run)" if gen_seconds else ""),
            f"- servers, each `{UVICORN_CMD}` in its own subprocess on 127.0.0.1 "
            f"(1 worker each, log level warning, no access log; uvicorn's loop and HTTP "
            f"parser: {_uvicorn_impl()}): " + ", ".join(f"`{s.factory}` ({s.name})" for s in servers.values()),
            f"- load: {load.tool}, {args.duration:g}s per run after a {args.warmup:g}s warm-up, "
            f"{args.rounds} rounds interleaved (the order reversed every other round), {len(ids)} ID numbers "
            f"rotated, the same for all; all servers stay up throughout, only one is loaded at "
            f"a time; 2 cores: the load generator takes one, the server the other; script took {total:.0f}s",
            f"- hub request: POST /graphql `{GRAPHQL}` with a bearer token (department "
            f"`province`); hub (persisted): the same hub asked by the hash of "
            f"`schema/persisted/{PERSISTED.name}` alone (`persistedQuery` extension, no text); "
            f"bare request: POST /code `{{\"idNumber\": ...}}`, no auth, "
            f"fields {{color, updatedAt}} converted as the hub does",
        ]),
        "",
        *table(results, LABELS),
        "",
        f"- **hub / bare stdlib sqlite3 = {ratio:.2f}x** (target >= {TARGET:g}x: {verdict}); asked by "
        f"the persisted query's hash: {persisted_rps / ref_rps:.2f}x; hub / bare on "
        f"the hub's own connector = {hub_rps / bare_rps:.2f}x. What the hub adds to the look-up (token "
        f"check, policy admission, parse cache, execution, the audit entry written before the answer, "
        f"the GraphQL JSON envelope) costs {1000 / hub_rps - 1000 / ref_rps:.2f} ms per request on top "
        f"of the bare sqlite3 app's {1000 / ref_rps:.2f} ms (cost per request = 1 / throughput of the one worker).",
        f"- p50/p99 under {args.connections} concurrent clients: in the table (means over the rounds).",
        f"- connections the hub opened to each source during the timed rounds (after the first warm-up; "
        f"`{OPENED}` on /metrics): {opened_text(opened)}.",
        f"- statements to the health-code source per hub request: {statements_per_request:.2f} (from /metrics).",
        "- every server answered the same colour and time for every ID number used"
        + ("." if not mismatches else f", except {mismatches} (see the script's output)."),
    ]
    if "audit" in figures:
        noaudit = stats["hub-noaudit"]["rps"]
        lines.append(
            f"- **audit cost**: the hub with its audit trail (SQLite, hash chain, group commit, each "
            f"answer waiting for its entry) does {figures['audit']:.2f}x the throughput of the same hub whose "
            f"audit store discards every entry (`create_hub_app_discarding_audit`, bench only): "
            f"{1000 / hub_rps - 1000 / noaudit:.2f} ms per request.")
    update_section(args.section, "\n".join(lines))
    return figures


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


def parser() -> argparse.ArgumentParser:
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
    p.add_argument("--no-audit-cost", dest="audit_cost", action="store_false",
                   help="skip the hub whose audit store discards (what the audit costs)")
    p.set_defaults(section="lookup")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.duration > 60 or args.rounds > 5:
        p.error("keep it bounded: --duration <= 60 and --rounds <= 5")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
