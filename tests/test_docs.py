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
