"""Shared by the benchmarks: the generated city, the machine, RESULTS.md.

Nothing here needs a package the project does not already depend on.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import shlex
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"
PACKAGES = ("strawberry-graphql", "graphql-core", "starlette", "uvicorn", "sqlalchemy",
            "aiosqlite", "aiodataloader", "httpx", "pyjwt", "h11", "uvloop", "httptools", "orjson")
#: The sources the school query reads (the columns of its statement table) and
#: whose files every benchmarked revision's city has; the venue source is neither.
SOURCES = ("healthcode", "transport", "community", "enterprise", "school", "clinic")

_HEADER = """# Benchmarks

Written by the scripts in `bench/` (each one rewrites only its own section, between
its `<!-- name -->` markers). Run them from the repository root with the project's venv:

    python -m bench.all              # all of the below but hostile and soak, and latency by city size
    python -m bench.school_query     # the school query, hub vs hand-written SQL
    python -m bench.lookup           # single health-code look-ups, hub vs bare Starlette; the audit's cost
    python -m bench.pg               # on PostgreSQL: hub vs bare asyncpg vs PostGraphile 5
    python -m bench.audit_entry      # one audit entry of 1 to 2,700 persons, SQLite and PostgreSQL
    python -m bench.audit_growth     # the school query as the audit store grows from empty
    python -m bench.instructions     # the school query and the look-up counted in instructions (callgrind)
    python -m bench.hostile          # hostile queries: refused how fast, and what they cost others
    python -m bench.soak             # two hubs on PostgreSQL for 10 minutes, a source failing in the middle

"""


# --------------------------------------------------------------------------- data
def ensure_city(data_dir: Path, persons: int, seed: int, log=print) -> float:
    """Generate the city into ``data_dir`` unless it is there; seconds spent generating."""
    data_dir = Path(data_dir)
    try:
        from hub.city.generate import generate, is_generated
    except ImportError:
        if all((data_dir / f"{s}.sqlite").exists() for s in SOURCES):
            log(f"using the city in {data_dir} (hub.city.generate is not importable)")
            return 0.0
        raise
    if is_generated(data_dir):
        log(f"using the city in {data_dir}")
        return 0.0
    log(f"generating a city of {persons:,} persons (seed {seed}) into {data_dir} ...")
    started = time.perf_counter()
    generate(Path(data_dir), persons=persons, seed=seed,
             progress=lambda msg: log(f"  {msg}"))
    seconds = time.perf_counter() - started
    log(f"generated in {seconds:.1f}s")
    return seconds


def city_persons(data_dir: Path) -> str:
    """The size written in city.json, if the generator recorded it."""
    import json

    try:
        meta = json.loads((Path(data_dir) / "city.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "?"
    for key in ("persons", "population"):
        if key in meta:
            return f"{meta[key]:,}" if isinstance(meta[key], int) else str(meta[key])
    return "?"


def city_generated_at(data_dir: Path) -> str:
    """'generated at <its now>' from city.json: "last 14 days" are relative to it."""
    import json

    try:
        meta = json.loads((Path(data_dir) / "city.json").read_text(encoding="utf-8"))
        return f"city generated at {meta['generated_at']} (its \"now\")"
    except (OSError, ValueError, KeyError):
        return "generation time unknown"


# --------------------------------------------------------------------------- machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def versions() -> str:
    out = []
    for name in PACKAGES:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def machine_block(extra: list[str] | None = None) -> str:
    lines = [
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- command: `{command_line()}`",
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores; memory {memory_gib()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}",
        f"- code: {code_version()}",
        f"- packages: {versions()}",
        f"- load average when written (1/5/15 min): {load_average()} (other work on the "
        f"machine skews absolute times; the interleaving keeps the ratios fair)",
    ]
    return "\n".join(lines + (extra or []))


def code_version() -> str:
    """The commit measured, and whether the hub's code differed from it."""
    import subprocess

    repo = BENCH_DIR.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "hub", "connectors",
                                "schema", "policies"], cwd=repo, text=True,
                               capture_output=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    if not head:
        return "unknown (no git)"
    return f"commit {head}" + (" with uncommitted changes to the hub's code" if dirty else "")


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def command_line() -> str:
    argv = list(sys.argv)
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return " ".join(["python -m", spec.name, *map(shlex.quote, argv[1:])])
    return " ".join(["python", *map(shlex.quote, argv)])


# --------------------------------------------------------------------------- results
def update_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or append) the text between ``<!-- name -->`` and ``<!-- /name -->``."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- numbers
def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1), linear between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
