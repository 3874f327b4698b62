"""``hub push national`` (one run of the feed, then a summary) and ``hub national-receiver``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
from typing import Any

from hub.config import HubConfig, NationalPush
from hub.errors import ConfigError, UsageError


def national_settings(config: HubConfig, args: argparse.Namespace) -> NationalPush:
    """``[push.national]`` with the command's flags over it; without the table, the flags
    (``--url``) and the key in ``$NATIONAL_PLATFORM_TOKEN``."""
    from hub.push.receiver import KEY_VAR

    overrides: dict[str, Any] = {k: v for k, v in (("url", args.url), ("batch_size", args.batch_size),
                                                   ("requests_per_second", args.requests_per_second))
                                 if v is not None}
    settings = config.national_push
    if settings is None:
        if args.url is None:
            raise UsageError("no [push.national] table in the configuration: name the national platform's "
                             "endpoint with --url URL (its key in $NATIONAL_PLATFORM_TOKEN), or configure "
                             "[push.national] (README, The push to the national platform)")
        token = os.environ.get(KEY_VAR, "")
        if not token:
            raise UsageError(f"--url needs the national platform's key in ${KEY_VAR}")
        try:
            return NationalPush(token=token, **overrides)
        except ConfigError as exc:  # the command's own flags
            raise UsageError(exc.message) from None
    try:
        return dataclasses.replace(settings, **overrides) if overrides else settings
    except ConfigError as exc:
        raise UsageError(exc.message) from None


def cmd_push(args: argparse.Namespace) -> int:
    from connectors import registry
    from hub.access.policy import PolicySet
    from hub.access.vocabulary import POLICY_DIR
    from hub.audit.trail import AuditLog
    from hub.push import NationalFeed
    from hub.push.records import DEPARTMENT
    from schema import SCHEMA

    from .commands import _config

    config = _config(args.config, args.data_dir)
    settings = national_settings(config, args)
    if config.state_url is None:
        raise UsageError("the configuration names no state_url (the cursor and the audit trail live there)")
    policy = PolicySet.load(config.policy_dir or POLICY_DIR, SCHEMA._schema).policies.get(DEPARTMENT)
    connector = registry.sources()["healthcode"].create(config.connectors["healthcode"])
    audit = AuditLog(config.state_url, config.secret, config.limits)
    feed = NationalFeed(settings, connector, audit, lambda: policy)

    async def run(on_progress: Any) -> Any:
        await audit.start()
        try:
            await connector.start()
            try:
                return await feed.run(on_progress)
            finally:
                await connector.close()
        finally:
            await audit.close()

    from .progress import progress

    with progress("push", 0, "records", quiet=args.quiet) as bar:

        def on_progress(done: int, total: int | None) -> None:
            # The feed says how many are done so far; the bar counts what it was told.
            if total is not None and total != bar.total:
                bar.restart("push", total, "records")
            bar.advance(done - bar.done)

        report = asyncio.run(run(on_progress))
    print(report.summary())
    print(f"  records pushed {report.records}, batches {report.batches}, "
          f"lag {feed.lag_seconds():.0f}s (every record changed before "
          f"{report.until:%Y-%m-%d %H:%M:%S} UTC is pushed)")
    return 0


def cmd_national_receiver(args: argparse.Namespace) -> int:
    from hub.push.receiver import serve

    return serve(args)


def add_commands(sub: Any, data_sources: Any) -> None:
    """``hub push national`` and ``hub national-receiver`` on the ``hub`` parser."""
    from hub.push.receiver import add_arguments

    push = sub.add_parser("push", help="push changed records to an outbound feed")
    feeds = push.add_subparsers(metavar="FEED")
    nat = feeds.add_parser("national", help="the health-code records changed since the last push, to the "
                                            "national platform ([push.national])")
    nat.add_argument("--url", default=None, help="the national platform's endpoint (default: [push.national] "
                                                 "url); its key in $NATIONAL_PLATFORM_TOKEN without the table")
    nat.add_argument("--batch-size", type=int, default=None, help="records a batch (default: [push.national])")
    nat.add_argument("--requests-per-second", type=float, default=None,
                     help="at most this many requests a second (default: [push.national])")
    nat.add_argument("--quiet", "-q", action="store_true",
                     help="no progress on stderr (a bar on a terminal, else a line every few seconds)")
    data_sources(nat)
    nat.set_defaults(func=cmd_push)
    push.set_defaults(func=_usage(push))

    rec = sub.add_parser("national-receiver", help="run a national platform receiving the push (demo, tests)")
    add_arguments(rec)
    rec.set_defaults(func=cmd_national_receiver)


def _usage(parser: argparse.ArgumentParser) -> Any:
    def show(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show
