"""The ``hub`` command.

    hub generate --persons N --seed S --out DIR   build a synthetic city (SQLite per source)
    hub generate --target URL [--out DIR]         ... into PostgreSQL / MariaDB; prints its config
    hub demo [--port 8000] [--data-dir DIR]       generate if missing, print tokens, serve
    hub serve --config FILE                        serve from a TOML configuration
    hub token --department NAME [--scope K=ID]... issue a bearer token (last line)
    hub schema                                     print the GraphQL SDL
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub.access.tokens import issue_token, parse_scope
from hub.access.vocabulary import POLICY_DIR, Vocabulary, load_vocabulary
from hub.config import HubConfig
from hub.errors import BadInput, HubError, UsageError

DEFAULT_DATA_DIR = Path("demo-data")
DEFAULT_PERSONS = 20_000
DEFAULT_SEED = 2020
DEMO_TTL = 12 * 3600


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except HubError as exc:
        print(f"hub: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `hub policy show x | head`
        return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hub", description="City-brain GraphQL data hub.")
    sub = p.add_subparsers(metavar="COMMAND")

    g = sub.add_parser("generate", help="generate a synthetic city (SQLite files, or databases with --target)")
    g.add_argument("--persons", type=_positive, default=None, help=f"residents (default {DEFAULT_PERSONS:,})")
    g.add_argument("--seed", type=int, default=None, help=f"(default {DEFAULT_SEED})")
    g.add_argument("--out", type=Path, default=None, help=f"the city's directory (default {DEFAULT_DATA_DIR}); with "
                   "--target it keeps city.json, the key and the audit store")
    g.add_argument("--target", action="append", default=[], metavar="URL|NAME=URL",
                   help="load the sources into a server (a database per source, e.g. postgresql+asyncpg://"
                        "root@127.0.0.1/) and/or NAME=URL databases; prints the configuration serving them")
    g.add_argument("--database-prefix", metavar="PREFIX", help="database names on a server: PREFIX + source "
                   "(default hub_city_)")
    g.add_argument("--from", dest="from_dir", type=Path, metavar="DIR",
                   help="with --target: load the city already generated in DIR")
    g.set_defaults(func=cmd_generate)

    d = sub.add_parser("demo", help="serve the demo hub on a generated city")
    d.add_argument("--port", type=int, default=8000)
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    d.add_argument("--persons", type=_positive, default=DEFAULT_PERSONS,
                   help="size of the city generated when the data dir has none")
    d.add_argument("--seed", type=int, default=DEFAULT_SEED)
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("serve", help="serve from a TOML configuration file")
    s.add_argument("--config", type=Path, required=True)
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--host", default="127.0.0.1")
    s.set_defaults(func=cmd_serve)

    t = sub.add_parser("token", help="issue a bearer token; printed on the last line")
    t.add_argument("--department", required=True, metavar="NAME",
                   help="a department with a file in the policy directory (policies/NAME.toml)")
    t.add_argument("--scope", action="append", default=[], metavar="KIND=ID",
                   help="row scope, e.g. school=S410105001 (repeatable)")
    t.add_argument("--purpose", action="append", default=[], metavar="P",
                   help="allowed purpose (repeatable; default: the department's usual ones)")
    t.add_argument("--ttl", type=_positive, default=3600, metavar="SECONDS")
    t.add_argument("--subject", help="the user the token names (default: DEPARTMENT-app)")
    src = t.add_mutually_exclusive_group()
    src.add_argument("--data-dir", type=Path, help=f"demo data dir holding the key (default {DEFAULT_DATA_DIR})")
    src.add_argument("--config", type=Path, help="configuration file naming the key")
    t.set_defaults(func=cmd_token)

    sc = sub.add_parser("schema", help="print the GraphQL SDL")
    sc.set_defaults(func=cmd_schema)

    pol = sub.add_parser("policy", help="check or show the access policies")
    polsub = pol.add_subparsers(metavar="ACTION")
    chk = polsub.add_parser("check", help="validate the policy files against the schema")
    chk.add_argument("directory", nargs="?", type=Path, default=None,
                     help="policy directory (default: the hub's policies/)")
    chk.set_defaults(func=cmd_policy_check)
    show = polsub.add_parser("show", help="print a department's effective access table")
    show.add_argument("department", metavar="DEPARTMENT")
    show.add_argument("--dir", type=Path, default=None, help="policy directory")
    show.set_defaults(func=cmd_policy_show)
    pol.set_defaults(func=lambda _a: (pol.print_help(), 2)[1])

    aud = sub.add_parser("audit", help="verify, export or prune the audit trail")
    audsub = aud.add_subparsers(metavar="ACTION")
    ver = audsub.add_parser("verify", help="exit 0 when the hash chain is intact, 1 otherwise")
    exp = audsub.add_parser("export", help="entries since a date, for regulators")
    exp.add_argument("--since", required=True, type=_date, metavar="DATE",
                     help="YYYY-MM-DD or an ISO 8601 time (UTC)")
    exp.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    pru = audsub.add_parser("prune", help="remove entries past the retention period")
    pru.add_argument("--days", type=_positive, default=None,
                     help="keep this many days (default: the configured audit_retention_days)")
    for cmd, func in ((ver, cmd_audit_verify), (exp, cmd_audit_export), (pru, cmd_audit_prune)):
        group = cmd.add_mutually_exclusive_group()
        group.add_argument("--data-dir", type=Path, help=f"demo data dir (default {DEFAULT_DATA_DIR})")
        group.add_argument("--config", type=Path, help="configuration file naming the store")
        cmd.set_defaults(func=func)
    aud.set_defaults(func=lambda _a: (aud.print_help(), 2)[1])
    return p


def _date(text: str) -> Any:
    import datetime as dt

    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


# --------------------------------------------------------------------------- commands
def cmd_generate(args: argparse.Namespace) -> int:
    from hub.city.generate import generate

    if args.target:  # stdout: the configuration that serves the loaded city (hub/city/load.py)
        from hub.city.load import target_command
        from hub.config import demo_secret  # the key that `hub token` and `hub serve` share

        print(target_command(args.target, args.database_prefix, args.from_dir, out=args.out, persons=args.persons,
                             seed=args.seed, defaults=(DEFAULT_DATA_DIR, DEFAULT_PERSONS, DEFAULT_SEED),
                             keep_key=demo_secret, progress=lambda m: print(m, file=sys.stderr, flush=True)), end="")
        return 0
    for flag, value in (("--database-prefix", args.database_prefix), ("--from", args.from_dir)):
        if value is not None:
            raise UsageError(f"{flag} goes with --target (the databases to load the city into)")
    report = generate(args.out or DEFAULT_DATA_DIR, persons=args.persons or DEFAULT_PERSONS,
                      seed=DEFAULT_SEED if args.seed is None else args.seed,
                      progress=lambda msg: print(msg, file=sys.stderr))
    print(f"generated {report.persons:,} persons (seed {report.seed}) into {report.out_dir} "
          f"in {report.seconds:.1f}s")
    for table, count in report.rows.items():
        print(f"  {table:<24} {count:>10,}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    config = _config(args.config, args.data_dir)
    vocabulary = load_vocabulary(config.policy_dir or POLICY_DIR)
    scopes: dict[str, list[str]] = {}
    try:
        for text in args.scope:
            kind, value = parse_scope(text, vocabulary)
            scopes.setdefault(kind, []).append(value)
        token = issue_token(config.secret, args.department, scopes=scopes,
                            purposes=args.purpose or None, ttl=args.ttl, subject=args.subject,
                            vocabulary=vocabulary)
    except BadInput as exc:  # the command's own arguments: a usage error
        raise UsageError(exc.message) from None
    print(token)
    return 0


def cmd_schema(_args: argparse.Namespace) -> int:
    from schema import SCHEMA

    print(SCHEMA.as_str())
    return 0


def cmd_policy_check(args: argparse.Namespace) -> int:
    from hub.access.policy import PolicySet
    from schema import SCHEMA

    directory = args.directory or POLICY_DIR
    policies = PolicySet.load(directory, SCHEMA._schema)
    for dept, policy in sorted(policies.policies.items()):
        fields = sum(len(r) for r in policy.rules.values())
        print(f"ok  {policy.path}  ({dept}: {fields} grants, purposes "
              f"{', '.join(policy.purposes)}{', scope ' + policy.scope if policy.scope else ''})")
    return 0


def cmd_policy_show(args: argparse.Namespace) -> int:
    from hub.access.policy import PolicySet, access_table
    from schema import SCHEMA

    policies = PolicySet.load(args.dir or POLICY_DIR, SCHEMA._schema)
    if args.department not in policies.policies:
        raise UsageError(f"department {args.department!r} has no policy file; the departments "
                         f"are {', '.join(sorted(policies.policies))}")
    policy = policies[args.department]
    print(f"department {policy.department}: {policy.description}")
    print(f"purposes: {', '.join(policy.purposes)}")
    print(f"row scope: {policy.scope + ' (from the token)' if policy.scope else 'none (all rows)'}")
    print()
    rows = access_table(policy, SCHEMA._schema)
    width = max(len(r[0]) for r in rows)
    print(f"{'field':<{width}}  {'access':<16} purposes")
    for key, decision, purposes in rows:
        print(f"{key:<{width}}  {decision:<16} {purposes}")
    return 0


def _audit_log(args: argparse.Namespace) -> Any:
    from hub.audit.trail import AuditLog

    config = _config(args.config, args.data_dir)
    if config.state_url is None:
        raise UsageError("the configuration names no state_url")
    return config, AuditLog(config.state_url, config.secret)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    import asyncio

    _config_, audit = _audit_log(args)

    async def run() -> Any:
        await audit.start()
        try:
            return await audit.verify(), await audit.count()
        finally:
            await audit.close()

    problem, count = asyncio.run(run())
    if problem is None:
        print(f"audit trail intact: {count} entries verify")
        return 0
    print(f"audit trail broken at entry {problem.seq} ({problem.kind}): {problem.message}")
    return 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    import asyncio

    _config_, audit = _audit_log(args)

    async def run() -> None:
        await audit.start()
        try:
            async for chunk in audit.export(args.since, args.format):
                sys.stdout.write(chunk)
        finally:
            await audit.close()

    asyncio.run(run())
    return 0


def cmd_audit_prune(args: argparse.Namespace) -> int:
    import asyncio
    import datetime as dt

    config, audit = _audit_log(args)
    days = args.days or config.audit_retention_days
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)

    async def run() -> int:
        await audit.start()
        try:
            return await audit.prune(before)
        finally:
            await audit.close()

    removed = asyncio.run(run())
    print(f"pruned {removed} entries older than {before:%Y-%m-%d %H:%M} UTC ({days} days); "
          "a signed checkpoint keeps the chain verifiable")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    config = HubConfig.from_file(args.config)
    _serve(config, args.host, args.port)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.city.generate import generate, is_generated

    data_dir: Path = args.data_dir
    if not is_generated(data_dir):
        print(f"generating a city of {args.persons:,} persons into {data_dir} ...", flush=True)
        generate(data_dir, persons=args.persons, seed=args.seed)
    config = HubConfig.for_data_dir(data_dir)
    samples = _samples(data_dir)
    base = f"http://{args.host}:{args.port}"
    print(demo_banner(config, samples, base), flush=True)
    _serve(config, args.host, args.port)
    return 0


# --------------------------------------------------------------------------- helpers
def _config(config_file: Path | None, data_dir: Path | None) -> HubConfig:
    if config_file is not None:
        return HubConfig.from_file(config_file)
    return HubConfig.for_data_dir(data_dir or DEFAULT_DATA_DIR)


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
        label = "-"
        if dept.scope is not None and known.get(dept.scope):
            scopes[dept.scope] = [str(known[dept.scope])]
            label = f"{dept.scope}={known[dept.scope]}"
        rows.append((name, label, issue_token(config.secret, name, scopes=scopes, ttl=DEMO_TTL,
                                              vocabulary=vocabulary)))
    return rows


def demo_query(samples: dict[str, Any]) -> str:
    school = samples.get("school_id", "S410105001")
    return ('{ school(id: "%s") { name students(first: 3) { totalCount edges { node '
            '{ idNumber name enrollment { grade } healthCode { color } '
            'clinicVisits(days: 14) { time nucleicAcidResult } overseasArrival { observationEnd } '
            '} } } } }' % school)


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


def _serve(config: HubConfig, host: str, port: int) -> None:
    import uvicorn

    from hub.app import create_app

    uvicorn.run(create_app(config), host=host, port=port, log_level="info", access_log=False)


if __name__ == "__main__":
    raise SystemExit(main())
