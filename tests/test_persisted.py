"""Persisted queries: a hash in, the operator's document out, by Apollo's rules."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from hub.errors import BadInput, ConfigError, HubError
from hub.http.persisted import (
    PersistedQueries,
    PersistedQueryHashMismatch,
    PersistedQueryNotFound,
    PersistedQueryNotSupported,
    document_hash,
)

ROOT = Path(__file__).resolve().parent.parent
PERSISTED = ROOT / "schema" / "persisted"
COLOR = ("query HealthCodeColor($idNumber: String!) "
         "{ healthCode(idNumber: $idNumber) { color updatedAt } }")
OTHER = "{ __typename }"


def params(key: str, query: str | None = None, version: Any = 1) -> dict[str, Any]:
    body: dict[str, Any] = {
        "extensions": {"persistedQuery": {"version": version, "sha256Hash": key}},
        "variables": {"idNumber": "420102199001011234"},
    }
    if query is not None:
        body["query"] = query
    return body


def test_the_health_code_document_is_persisted_under_its_hash() -> None:
    assert (PERSISTED / "health-code-color.graphql").read_text(encoding="utf-8") == COLOR + "\n"
    pq = PersistedQueries.from_directory(PERSISTED)
    key = hashlib.sha256(COLOR.encode()).hexdigest()
    assert key in pq
    assert pq.resolve(params(key)) == COLOR
    assert pq.resolve(params(key.upper())) == COLOR  # hex digits in either case


def test_the_document_parses_and_validates_against_the_schema() -> None:
    from graphql import parse, validate

    from schema import SCHEMA

    assert validate(SCHEMA._schema, parse(COLOR)) == []


def test_an_unknown_hash_alone_is_not_found_by_apollos_convention() -> None:
    pq = PersistedQueries({document_hash(COLOR): COLOR})
    with pytest.raises(PersistedQueryNotFound) as info:
        pq.resolve(params(document_hash(OTHER)))
    err = info.value
    assert isinstance(err, HubError)
    assert err.code == err.extensions["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert "PersistedQueryNotFound" in err.message


def test_a_query_that_does_not_hash_to_the_hash_is_refused() -> None:
    pq = PersistedQueries({document_hash(COLOR): COLOR})
    with pytest.raises(PersistedQueryHashMismatch) as info:
        pq.resolve(params(document_hash(COLOR), query=OTHER))
    assert isinstance(info.value, BadInput)
    assert info.value.code == "PERSISTED_QUERY_HASH_MISMATCH"


def test_registration_is_off_by_default() -> None:
    pq = PersistedQueries()
    key = document_hash(OTHER)
    assert pq.resolve(params(key, query=OTHER)) == OTHER  # answered, not kept
    with pytest.raises(PersistedQueryNotFound):
        pq.resolve(params(key))
    assert len(pq) == 0


def test_registration_when_allowed_is_the_apq_dance() -> None:
    pq = PersistedQueries(allow_register=True)
    key = document_hash(OTHER)
    with pytest.raises(PersistedQueryNotFound):
        pq.resolve(params(key))
    assert pq.resolve(params(key, query=OTHER)) == OTHER
    assert pq.resolve(params(key)) == OTHER


def test_registered_documents_are_bounded_but_the_operators_are_kept() -> None:
    pq = PersistedQueries({document_hash(COLOR): COLOR}, allow_register=True, registry_size=3)
    docs = [f"query Q{i} {{ __typename }}" for i in range(5)]
    for doc in docs:
        pq.resolve(params(document_hash(doc), query=doc))
    pq.resolve(params(document_hash(docs[2])))  # recently used: kept
    pq.resolve(params(document_hash("{ a: __typename }"), query="{ a: __typename }"))
    assert document_hash(COLOR) in pq
    assert [document_hash(d) in pq for d in docs] == [False, False, True, False, True]
    assert len(pq) == 4


@pytest.mark.parametrize("version", [2, 0, "1", True, None])
def test_an_unsupported_version_is_refused(version: Any) -> None:
    pq = PersistedQueries({document_hash(COLOR): COLOR})
    with pytest.raises(PersistedQueryNotSupported) as info:
        pq.resolve(params(document_hash(COLOR), version=version))
    assert info.value.code == "PERSISTED_QUERY_NOT_SUPPORTED"


@pytest.mark.parametrize("body", [
    {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "abc"}}},
    {"extensions": {"persistedQuery": {"version": 1}}},
    {"extensions": {"persistedQuery": "yes"}},
    {"extensions": "{not json"},
    {"extensions": []},
    {"query": 42},
    {},
    {"query": "   "},
])
def test_malformed_requests_are_bad_input(body: dict[str, Any]) -> None:
    with pytest.raises(BadInput):
        PersistedQueries().resolve(body)


def test_a_plain_query_passes_through() -> None:
    pq = PersistedQueries()
    assert pq.resolve({"query": OTHER}) == OTHER
    assert pq.resolve({"query": OTHER, "extensions": {"tracing": True}}) == OTHER


def test_get_requests_send_extensions_as_json_text() -> None:
    pq = PersistedQueries({document_hash(COLOR): COLOR})
    ext = json.dumps({"persistedQuery": {"version": 1, "sha256Hash": document_hash(COLOR)}})
    assert pq.resolve({"extensions": ext}) == COLOR


def test_a_document_under_the_wrong_key_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not the SHA-256"):
        PersistedQueries({document_hash(OTHER): COLOR})
    with pytest.raises(ConfigError, match="not a directory"):
        PersistedQueries.from_directory(tmp_path / "missing")
    (tmp_path / "empty.graphql").write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty"):
        PersistedQueries.from_directory(tmp_path)


def test_a_files_key_ignores_the_editors_final_newline(tmp_path: Path) -> None:
    (tmp_path / "a.graphql").write_text(OTHER + "\r\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a document", encoding="utf-8")
    pq = PersistedQueries.from_directory(tmp_path)
    assert len(pq) == 1 and pq.resolve(params(document_hash(OTHER))) == OTHER
