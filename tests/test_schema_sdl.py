"""The committed SDL is what the code serves: a client sees every change in review."""

from pathlib import Path

from schema import SCHEMA

SDL = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"


def test_committed_sdl_matches_code() -> None:
    committed = SDL.read_text(encoding="utf-8").strip()
    assert committed == SCHEMA.as_str().strip(), (
        "schema/schema.graphql is out of date: run `hub schema > schema/schema.graphql` "
        "and commit it"
    )


def test_minimum_contract_is_present() -> None:
    sdl = SCHEMA.as_str()
    for needle in [
        "person(idNumber: String!): Person",
        "healthCode(idNumber: String!): HealthCode",
        "school(id: ID!): School",
        "community(id: ID!): Community",
        "enterprise(creditCode: String!): Enterprise",
        "checkpoint(id: ID!): Checkpoint",
        "clinic(id: ID!): Clinic",
        "enum CodeColor",
        "color: CodeColor!",  # the design's contract: a health code always has a colour
    ]:
        assert needle in sdl, needle
