"""One error tree: every error the hub raises is a HubError with a stable code,
its HTTP status and exit code as class attributes, drawn in hub/errors.py's
docstring and documented in the README; and every answer has one shape."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import connectors
import hub
import schema
from hub import errors
from hub.errors import HubError, error_body

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _all_error_classes() -> list[type[HubError]]:
    for package in (hub, connectors, schema):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if info.name.startswith("hub.state.migrations.") or info.name.endswith(".__main__"):
                continue  # Alembic's env and revisions run only inside Alembic
            importlib.import_module(info.name)
    found: list[type[HubError]] = []
    todo = [HubError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_class_lives_in_the_tree_module() -> None:
    outside = [f"{c.__module__}.{c.__qualname__}" for c in _all_error_classes()
               if c.__module__ != "hub.errors"]
    assert not outside, f"error classes outside hub/errors.py: {outside}"


def test_the_tree_draws_every_class_with_its_code_and_status() -> None:
    doc = errors.__doc__ or ""
    for cls in _all_error_classes():
        line = next((ln for ln in doc.splitlines() if re.search(rf"\b{cls.__name__}\b", ln)), None)
        assert line is not None, f"{cls.__name__} is not drawn in hub/errors.py's tree"
        assert cls.code in line and str(cls.http_status) in line, (cls.__name__, line)


def test_every_code_is_documented_in_the_readme() -> None:
    for cls in _all_error_classes():
        assert f"`{cls.code}`" in README, f"{cls.code} ({cls.__name__}) is not in the README"


@pytest.mark.parametrize("cls", _all_error_classes(), ids=lambda c: c.__name__)
def test_the_shape_of_every_error(cls: type[HubError]) -> None:
    args: dict[type[HubError], tuple[Any, ...]] = {
        errors.RateLimited: (1.5,), errors.SourceUnavailable: ("school", "no answer within 5s"),
        errors.SourceTimeout: ("school", 5.0),
        errors.SourceCircuitOpen: ("school", "5 of 6 calls failed in 30s", 2.5),
        errors.OutboundUnavailable: ("national", "HTTP 503, after 6 attempts")}
    exc = cls(*args.get(cls, ("something was wrong; do this instead",)))
    assert isinstance(exc.code, str) and re.fullmatch(r"[A-Z_]+", exc.code)
    assert 200 <= exc.http_status < 600 and 1 <= exc.exit_code <= 5
    assert exc.extensions["code"] == exc.code
    body = error_body(exc.message, exc.code, **{k: v for k, v in exc.extensions.items() if k != "code"})
    assert list(body) == ["errors"] and len(body["errors"]) == 1
    err = body["errors"][0]
    assert set(err) == {"message", "extensions"} and err["message"] == exc.message
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in exc.headers().items())


def test_an_answer_for_each_http_error_has_its_status_and_headers(client: Any, token: Any) -> None:
    h = {"Authorization": f"Bearer {token('health')}", "X-Purpose": "epidemiological-investigation"}
    cases = [
        (client.post("/graphql", json={"query": "{ __typename }"}), 401, "UNAUTHENTICATED"),
        (client.post("/graphql", json={"query": "{ __typename }"},
                     headers={**h, "X-Purpose": "curiosity"}), 403, "FORBIDDEN"),
        (client.post("/graphql", content=b"x", headers={**h, "Content-Type": "text/plain"}),
         415, "UNSUPPORTED_MEDIA_TYPE"),
        (client.post("/graphql", json={"query": "{ __typename }"}, headers={**h, "Accept": "text/csv"}),
         406, "NOT_ACCEPTABLE"),
        (client.get("/graphql", params={"query": "mutation { __typename }"},
                    headers={"Authorization": f"Bearer {token('enterprise', scopes={'enterprise': ['x']})}",
                             "X-Purpose": "return-to-work"}), 405, "BAD_REQUEST"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == code
    assert cases[0][0].headers["WWW-Authenticate"].startswith("Bearer")
