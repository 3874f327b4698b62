"""The README says what the code does."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.conftest import sql

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


def _examples_with_context() -> list[tuple[str, str]]:
    """Each GraphQL example of the README with the prose since the one before it."""
    out, last = [], 0
    for m in re.finditer(r"```graphql\n(.+?)\n```", README, re.S):
        prose = README[last:m.start()]
        out.append((m.group(1), prose if prose.strip() or not out else out[-1][1]))  # two in a row: one prose
        last = m.end()
    return out


#: How the README's examples are run: (department, purpose, variables from the
#: city's samples), by the operation's name or its first field. Every example
#: must be here, and the prose before it must name the department and purpose.
RUNS: dict[str, tuple[str, str, dict[str, str]]] = {
    "Pupils": ("school", "school-reopening", {"school": "senior_school_id"}),
    "Plan": ("school", "school-reopening", {"school": "senior_school_id"}),
    "Overview": ("education", "school-reopening", {}),
    "Staff": ("enterprise", "return-to-work", {"code": "credit_code"}),
    "Commit": ("enterprise", "return-to-work", {"code": "credit_code"}),
    "Declarations": ("enterprise", "return-to-work", {"code": "credit_code"}),
    "Community": ("community", "community-management", {"id": "community_id"}),
    "Trace": ("health", "epidemiological-investigation", {"id": "id_number"}),
    "Where": ("health", "epidemiological-investigation", {"venue": "venue_id", "id": "id_number"}),
    "Contacts": ("health", "epidemiological-investigation", {"id": "id_number"}),
    "KeyPersons": ("health", "epidemiological-investigation", {}),
    "arrivals": ("transport", "traffic-control", {}),
    "checkpoints": ("transport", "traffic-control", {}),
    "Code": ("province", "mutual-recognition", {"id": "id_number"}),
    "VisitorCode": ("transport", "traffic-control", {"id": "id_number"}),
    "WhoLooked": ("bigdata", "operations", {"id": "id_number"}),
    "Mine": ("citizen", "own-data", {}),
    "Ask": ("school", "school-reopening", {"pupil": "id_number"}),
    "Waiting": ("bigdata", "operations", {}),
    "Statistics": ("health", "statistics", {}),
}


def test_every_readme_example_answers_with_the_demo_token_it_names(city: Path, samples: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    """As a reader of the README: the demo's printed token of the department the
    example names, its purpose, the demo's default limits; no error, and data."""
    from graphql import OperationDefinitionNode, parse
    from starlette.testclient import TestClient

    from hub.app import create_app
    from hub.cli import demo_tokens
    from hub.config import HubConfig

    # Its own audit store: the commitment it submits stays out of the shared city's.
    config = replace(HubConfig.for_data_dir(city), state_url=f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite")
    tokens = {dept: token for dept, _scope, token in demo_tokens(config, samples)}
    examples = _examples_with_context()
    seen = set()
    with TestClient(create_app(config)) as client:
        for text, prose in examples:
            op = next(d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode))
            key = op.name.value if op.name else op.selection_set.selections[0].name.value  # type: ignore[attr-defined]
            assert key in RUNS, f"README example {key} has no entry in RUNS"
            dept, purpose, variables = RUNS[key]
            assert f"`{dept}`" in prose and f"`{purpose}`" in prose, (key, "the README does not name", dept, purpose)
            r = client.post("/graphql", json={"query": text, "variables": {k: samples[v] for k, v in variables.items()}},
                            headers={"Authorization": f"Bearer {tokens[dept]}", "X-Purpose": purpose})
            body = r.json()
            assert r.status_code == 200 and "errors" not in body, (key, body)
            assert all(v is not None for v in body["data"].values()), (key, body)
            seen.add(key)
            if key == "Pupils":  # the demo's school has the grade the example asks for
                assert body["data"]["school"]["students"]["totalCount"] > 0, body
    assert seen == set(RUNS)


def test_the_national_push_runs_as_the_readme_shows(city: Path, tmp_path: Path) -> None:
    """The README's commands for the push, as written, from a directory holding the demo
    city (the test's) and the venv; only the receiver's port is a free one."""
    import contextlib
    import os
    import shutil
    import signal
    import subprocess

    from tests.processes import free_port

    block = next(c for c in re.findall(r"```sh\n(.+?)\n```", README, re.S) if "hub push national" in c)
    shutil.copytree(city, tmp_path / "demo-data", ignore=shutil.ignore_patterns("hub.sqlite*"))
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    # Files, not pipes: the receiver left running in the background holds them open.
    with (tmp_path / "out").open("w") as stdout, (tmp_path / "err").open("w") as stderr:
        proc = subprocess.Popen(["bash", "-ec", block.replace("9200", str(free_port()))], cwd=tmp_path,
                                stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            proc.wait(timeout=300)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the receiver it started in the background
    out, err = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    assert proc.returncode == 0, err
    persons = len(sql(city, "healthcode", "SELECT sfzh FROM jkm_xx"))
    assert f"pushed {persons:,} records in {-(-persons // 1000)} batches" in out, out
    assert f'"records":{persons},' in out, out
