"""Serving: ``hub serve`` from a configuration, and ``hub demo`` on a generated
city with its banner of ready tokens."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hub.access.tokens import issue_token
from hub.access.vocabulary import POLICY_DIR, Vocabulary, load_vocabulary
from hub.config import HubConfig

DEMO_TTL = 12 * 3600


def cmd_serve(args: argparse.Namespace) -> int:
    config = HubConfig.from_file(args.config)
    _serve(config, args.host, args.port, args.log_level)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.city.generate import check_city, generate, holds_city

    data_dir: Path = args.data_dir
    if holds_city(data_dir):
        check_city(data_dir)  # a partial or damaged city: an error naming the file, never generated over
    else:
        print(f"generating a city of {args.persons:,} persons into {data_dir} ...", flush=True)
        generate(data_dir, persons=args.persons, seed=args.seed)
    config = HubConfig.for_data_dir(data_dir)
    samples = _samples(data_dir)
    base = f"http://{args.host}:{args.port}"
    with (_healthcode_over_http(config, data_dir) if args.healthcode_over_http
          else contextlib.nullcontext(config)) as config:
        print(demo_banner(config, samples, base), flush=True)
        _serve(config, args.host, args.port, args.log_level)
    return 0


@contextlib.contextmanager
def _healthcode_over_http(config: HubConfig, data_dir: Path) -> Iterator[HubConfig]:
    """``config`` reading the health codes from the platform's API, run as its own
    process (connectors/healthcode/platform.py) on a free port while the demo runs."""
    from dataclasses import replace

    from connectors.healthcode import HealthCodeSettings
    from connectors.healthcode.platform import spawn

    with spawn(data_dir / "healthcode.sqlite", "--log-level", "info") as (url, key):
        print(f"health codes over HTTP: the platform's API at {url}", flush=True)
        yield replace(config, connectors={**config.connectors, "healthcode": HealthCodeSettings(url, token=key)})


def _samples(data_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((data_dir / "city.json").read_text(encoding="utf-8"))["samples"])
    except (OSError, ValueError, KeyError):
        return {}


def demo_tokens(config: HubConfig, samples: dict[str, Any],
                vocabulary: Vocabulary | None = None) -> list[tuple[str, str, str]]:
    """(department, scope, token) for every department of the policies.

    A scoped department's token names the city's sample of its scope kind
    (``samples["scopes"]`` in city.json)."""
    vocabulary = vocabulary or load_vocabulary(config.policy_dir or POLICY_DIR)
    legacy = {"school": samples.get("school_id"), "community": samples.get("community_id"),
              "enterprise": samples.get("credit_code")}
    known = {**legacy, **samples.get("scopes", {})}
    rows = []
    for name, dept in vocabulary.departments.items():
        scopes: dict[str, list[str]] = {}
        label, subject = "-", None
        kind = vocabulary.scopes.get(dept.scope) if dept.scope is not None else None
        if kind is not None and kind.subject:  # a citizen's: the sample pupil's own token
            subject = str(samples.get("id_number") or kind.example)
            label = f"{kind.name}={subject}"
        elif dept.scope is not None and known.get(dept.scope):
            scopes[dept.scope] = [str(known[dept.scope])]
            label = f"{dept.scope}={known[dept.scope]}"
        rows.append((name, label, issue_token(config.secret, name, scopes=scopes, ttl=DEMO_TTL,
                                              subject=subject, vocabulary=vocabulary)))
    return rows


def demo_query(samples: dict[str, Any]) -> str:
    school = str(samples.get("school_id", "S410105001"))
    return ('{ school(id: "' + school + '") { name students(first: 3) { totalCount edges { node '
            '{ idNumber name enrollment { grade } healthCode { color } '
            'clinicVisits(days: 14) { time nucleicAcidResult } overseasArrival { observationEnd } '
            '} } } } }')


def demo_banner(config: HubConfig, samples: dict[str, Any], base: str) -> str:
    vocabulary = load_vocabulary(config.policy_dir or POLICY_DIR)
    rows = demo_tokens(config, samples, vocabulary)
    lines = [
        "",
        f"City-brain hub demo: {base}/graphql  (open it in a browser for GraphiQL)",
        f"health {base}/healthz   ready {base}/readyz   metrics {base}/metrics",
        "",
        f"{'department':<11} {'purposes':<40} {'scope':<30} token",
    ]
    for dept, scope, token in rows:
        purposes = ",".join(vocabulary.departments[dept].purposes)
        lines.append(f"{dept:<11} {purposes:<40} {scope:<30} {token}")
    education = next(t for d, _, t in rows if d == "education")
    body = json.dumps({"query": demo_query(samples)}, ensure_ascii=False)
    curl = " ".join([
        "curl -s", shlex.quote(f"{base}/graphql"),
        "-H", shlex.quote(f"Authorization: Bearer {education}"),
        "-H", shlex.quote("X-Purpose: school-reopening"),
        "-H", shlex.quote("Content-Type: application/json"),
        "--data", shlex.quote(body),
    ])
    lines += ["", "Try it (the education bureau asks about one school's pupils):", curl, ""]
    return "\n".join(lines)


async def _trial_audit(audit: Any) -> None:
    """Open the audit store (migrating it) and close it again, on this loop: the
    server opens it anew on its own."""
    await audit.start()
    await audit.close()


def _serve(config: HubConfig, host: str, port: int, log_level: str | None = None) -> None:
    import asyncio

    import uvicorn

    from hub.app import create_app

    from .logs import configure, uvicorn_options

    level = log_level or config.log_level
    configure(level, config.log_format)
    app = create_app(config)
    # A source file missing stops the command here, in one line naming it, before anything is created;
    # an audit store that cannot be reached (or migrated) too, with its own exit code (5).
    asyncio.run(app.state.hub.sources.trial_start())
    asyncio.run(_trial_audit(app.state.hub.audit))
    # uvicorn's own lines go through the hub's handler; each request has its own line (hub.http.observe).
    uvicorn.run(app, host=host, port=port, **uvicorn_options(level))


