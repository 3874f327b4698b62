"""The commands that work on files and stores: generate, token, schema,
policy check/show, audit verify/export/prune."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hub.access.tokens import issue_token, parse_scope
from hub.access.vocabulary import POLICY_DIR, load_vocabulary
from hub.config import HubConfig
from hub.errors import BadInput, UsageError

from .progress import progress

DEFAULT_DATA_DIR = Path("demo-data")
DEFAULT_PERSONS = 20_000
DEFAULT_SEED = 2020
#: The department of a citizen's own token (``hub token --citizen ID``).
CITIZEN = "citizen"


def cmd_generate(args: argparse.Namespace) -> int:
    from hub.city.generate import generate

    if args.target:  # stdout: the configuration that serves the loaded city (hub/city/load.py)
        from hub.city.load import target_command
        from hub.config import demo_secret  # the key that `hub token` and `hub serve` share

        # --from loads a city already made: the rows to copy are counted once the load starts.
        step = ("load", 0, "rows") if args.from_dir is not None else ("generate", args.persons or DEFAULT_PERSONS,
                                                                        "persons")
        with progress(*step, quiet=args.quiet) as bar:
            out = target_command(args.target, args.database_prefix, args.from_dir, out=args.out,
                                 persons=args.persons, seed=args.seed,
                                 defaults=(DEFAULT_DATA_DIR, DEFAULT_PERSONS, DEFAULT_SEED),
                                 keep_key=demo_secret, progress=bar)
        print(out, end="")
        return 0
    for flag, value in (("--database-prefix", args.database_prefix), ("--from", args.from_dir)):
        if value is not None:
            raise UsageError(f"{flag} goes with --target (the databases to load the city into)")
    persons = args.persons or DEFAULT_PERSONS
    with progress("generate", persons, "persons", quiet=args.quiet) as bar:
        report = generate(args.out or DEFAULT_DATA_DIR, persons=persons,
                          seed=DEFAULT_SEED if args.seed is None else args.seed, progress=bar)
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
        department, subject = args.department, args.subject
        if args.citizen is not None:  # a citizen's own token: the subject is their ID number
            if (department or CITIZEN) != CITIZEN or subject is not None or scopes:
                raise BadInput(f"--citizen ID issues department {CITIZEN}'s token whose subject is "
                               "that ID number; leave out --department, --subject and --scope")
            department, subject = CITIZEN, args.citizen
        if department is None:
            raise BadInput("name the department (--department NAME) or the citizen (--citizen ID)")
        token = issue_token(config.secret, department, scopes=scopes,
                            purposes=args.purpose or None, ttl=args.ttl, subject=subject,
                            vocabulary=vocabulary, max_ttl=config.limits.token_max_seconds)
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
    print(f"emergency (break-glass) may ask for: {', '.join(sorted(policy.emergency)) or 'nothing'}")
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
    return config, AuditLog(config.state_url, config.secret, config.limits)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    import asyncio

    _, audit = _audit_log(args)

    async def run() -> Any:
        await audit.start()
        try:
            with progress("verify", await audit.count(), "entries", quiet=args.quiet) as bar:
                problem = await audit.verify(bar.advance)
            return problem, await audit.count(), await audit.summaries_stored()
        finally:
            await audit.close()

    problem, count, (summaries, counted) = asyncio.run(run())
    if problem is None:
        # A summary entry stands for several refused requests (its repeat).
        counts = f" ({summaries} of them summaries counting {counted} refused requests)" if summaries else ""
        print(f"audit trail intact: {count} entries verify{counts}")
        return 0
    print(f"audit trail broken at entry {problem.seq} ({problem.kind}): {problem.message}")
    return 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    import asyncio

    _, audit = _audit_log(args)

    async def run() -> None:
        await audit.start()
        try:  # progress on stderr, the entries on stdout
            with progress("export", await audit.count(args.since), "entries", quiet=args.quiet) as bar:
                header = args.format == "csv"
                async for chunk in audit.export(args.since, args.format):
                    sys.stdout.write(chunk)
                    if header:  # CSV's first chunk is its header row
                        header = False
                    else:
                        bar.advance(1)
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
            return int(await audit.prune(before))
        finally:
            await audit.close()

    removed = asyncio.run(run())
    print(f"pruned {removed} entries older than {before:%Y-%m-%d %H:%M} UTC ({days} days); "
          "a signed checkpoint keeps the chain verifiable")
    return 0


def _config(config_file: Path | None, data_dir: Path | None) -> HubConfig:
    if config_file is not None:
        return HubConfig.from_file(config_file)
    return HubConfig.for_data_dir(data_dir or DEFAULT_DATA_DIR)


