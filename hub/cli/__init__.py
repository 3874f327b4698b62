"""The ``hub`` command.

    hub generate --persons N --seed S --out DIR   build a synthetic city (SQLite per source)
    hub demo [--port 8000] [--data-dir DIR]       generate into a dir without a city, print tokens, serve
    hub serve --config FILE                        serve from a TOML configuration
    hub token --department NAME [--scope K=ID]... issue a bearer token (last line)
    hub token --citizen ID                         a citizen's own token (their ID number)
    hub schema                                     print the GraphQL SDL
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub.errors import HubError

from .commands import (
    DEFAULT_DATA_DIR,
    DEFAULT_PERSONS,
    DEFAULT_SEED,
    cmd_audit_export,
    cmd_audit_prune,
    cmd_audit_verify,
    cmd_generate,
    cmd_policy_check,
    cmd_policy_show,
    cmd_schema,
    cmd_token,
)
from .pushing import add_commands as add_push_commands
from .serving import DEMO_TTL, cmd_demo, cmd_serve, demo_banner, demo_query, demo_tokens

__all__ = ["DEFAULT_DATA_DIR", "DEMO_TTL", "demo_banner", "demo_query", "demo_tokens", "main"]



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


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default after its help, unless it has none or the help says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return super()._get_help_string(action) or text


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("city-brain-hub")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hub", description="City-brain GraphQL data hub.", formatter_class=_Help,
                                epilog="exit codes: 0 ok; 1 a check failed (audit verify); 2 usage; "
                                       "3 configuration or policy invalid; 4 data damaged or not as expected "
                                       "(and bad input); 5 a source or the audit store unreachable")
    p.add_argument("--version", action="version", version=f"hub {_version()}")
    sub = p.add_subparsers(metavar="COMMAND", parser_class=_SubParser)

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
                   help="with --target: load the city already generated in DIR (default: generate one)")
    _quiet(g)
    g.set_defaults(func=cmd_generate)

    d = sub.add_parser("demo", help="serve the demo hub on a generated city")
    d.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    d.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    d.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                   help="the city's directory: generated there when it holds none")
    d.add_argument("--persons", type=_positive, default=DEFAULT_PERSONS,
                   help="size of the city generated when the data dir has none")
    d.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the generator's seed (the same seed, the same city)")
    d.add_argument("--healthcode-over-http", action="store_true",
                   help="serve the health codes from the platform's JSON API, run as its own process")
    _log_level(d)
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("serve", help="serve from a TOML configuration file")
    s.add_argument("--config", type=Path, required=True, help="the configuration file (TOML; README, Configuration)")
    s.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    _log_level(s)
    s.set_defaults(func=cmd_serve)

    t = sub.add_parser("token", help="issue a bearer token; printed on the last line")
    t.add_argument("--department", metavar="NAME",
                   help="a department with a file in the policy directory (policies/NAME.toml); "
                        "default: none, name it or --citizen")
    t.add_argument("--citizen", metavar="ID",
                   help="a citizen's own token: department citizen, subject this ID number "
                        "(default: none)")
    t.add_argument("--scope", action="append", default=[], metavar="KIND=ID",
                   help="row scope, e.g. school=S410105001 (repeatable)")
    t.add_argument("--purpose", action="append", default=[], metavar="P",
                   help="allowed purpose (repeatable; default: the department's usual ones)")
    t.add_argument("--ttl", type=_positive, default=3600, metavar="SECONDS", help="how long the token is valid")
    t.add_argument("--subject", help="the user the token names (default: DEPARTMENT-app)")
    src = t.add_mutually_exclusive_group()
    src.add_argument("--data-dir", type=Path, help=f"demo data dir holding the key (default {DEFAULT_DATA_DIR})")
    src.add_argument("--config", type=Path, help="configuration file naming the key (default: the demo data dir's)")
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
    show.add_argument("--dir", type=Path, default=None, help="policy directory (default: the hub's policies/)")
    show.set_defaults(func=cmd_policy_show)
    pol.set_defaults(func=_help_of(pol))

    aud = sub.add_parser("audit", help="verify, export or prune the audit trail")
    audsub = aud.add_subparsers(metavar="ACTION")
    ver = audsub.add_parser("verify", help="exit 0 when the hash chain is intact, 1 otherwise")
    exp = audsub.add_parser("export", help="entries since a date, for regulators")
    exp.add_argument("--since", required=True, type=_date, metavar="DATE",
                     help="YYYY-MM-DD or an ISO 8601 time (UTC)")
    exp.add_argument("--format", choices=("jsonl", "csv"), default="jsonl",
                     help="one JSON object a line, or CSV with a header row")
    pru = audsub.add_parser("prune", help="remove entries past the retention period")
    pru.add_argument("--days", type=_positive, default=None,
                     help="keep this many days (default: the configured audit_retention_days)")
    _quiet(ver)
    _quiet(exp)
    for cmd, func in ((ver, cmd_audit_verify), (exp, cmd_audit_export), (pru, cmd_audit_prune)):
        group = cmd.add_mutually_exclusive_group()
        group.add_argument("--data-dir", type=Path, help=f"demo data dir (default {DEFAULT_DATA_DIR})")
        group.add_argument("--config", type=Path,
                           help="configuration file naming the store (default: the demo data dir's)")
        cmd.set_defaults(func=func)
    aud.set_defaults(func=_help_of(aud))

    def data_sources(cmd: argparse.ArgumentParser) -> None:
        group = cmd.add_mutually_exclusive_group()
        group.add_argument("--data-dir", type=Path, help=f"demo data dir (default {DEFAULT_DATA_DIR})")
        group.add_argument("--config", type=Path, help="configuration file (default: the demo data dir's)")

    add_push_commands(sub, data_sources)
    return p


class _SubParser(argparse.ArgumentParser):
    """A sub-command's parser: its options' help shows their defaults too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)
        # Sub-sub-commands (policy check, audit verify) are made the same way.
        self.register("action", "parsers", _SubParsers)


class _SubParsers(argparse._SubParsersAction):  # type: ignore[type-arg]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["parser_class"] = _SubParser
        super().__init__(*args, **kwargs)


def _quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress on stderr (a bar on a terminal, else a line every few seconds)")


def _log_level(parser: argparse.ArgumentParser) -> None:
    from .logs import LEVELS

    parser.add_argument("--log-level", choices=LEVELS, default=None,
                        help="the least severe log records written on stderr (default: the configuration's "
                             "[logging] level, else info)")


def _help_of(parser: argparse.ArgumentParser) -> Any:
    """A command's action when no sub-command is named: its help, and a usage exit."""

    def show(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show


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


if __name__ == "__main__":
    raise SystemExit(main())
