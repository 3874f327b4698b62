"""The README says what the code does."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", README)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = next(c for c in _commands() if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_readme_names_every_cli_command() -> None:
    from hub.cli import _parser

    sub = next(a for a in _parser()._actions if a.dest == "==SUPPRESS==" or a.metavar == "COMMAND")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"hub {name}" in README, name


def test_readme_lists_every_error_code() -> None:
    from hub import errors

    for cls in (errors.BadInput, errors.Unauthenticated, errors.SourceUnavailable):
        assert f"`{cls.code}`" in README


def test_readme_examples_validate_against_the_schema() -> None:
    from graphql import parse, validate

    from schema import SCHEMA

    examples = re.findall(r"```graphql\n(.+?)\n```", README, re.S)
    assert len(examples) >= 6
    for text in examples:
        errors = validate(SCHEMA._schema, parse(text))
        assert not errors, (text, errors)


def test_security_names_only_tests_that_exist_and_the_limits_that_are() -> None:
    import ast
    import dataclasses

    from hub.limits import Limits

    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text))
    assert len(named) > 20
    for path, name in sorted(named):
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        assert name in defined, f"SECURITY.md names {path}::{name}, which does not exist"
    table = {k.strip("`") for row in re.findall(r"^\| (`[^|]+) \|", text, re.M)
             for k in re.findall(r"`(\w+)`", row)}
    limits = {f.name for f in dataclasses.fields(Limits) if f.name not in {"departments", "sources"}}
    assert limits <= table, f"SECURITY.md's table misses {sorted(limits - table)}"
    assert table <= limits | {"cost", "rows"}, f"SECURITY.md's table names {sorted(table - limits)}"
