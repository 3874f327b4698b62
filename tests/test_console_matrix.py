"""The console's access matrix against what requests get: for every
department, every purpose and every data field, the cell (allow, mask, deny)
equals the answer of a real /graphql request with that department's token,
that purpose and a document selecting the field (reached through fields the
matrix allows; a denied one through any path). Masked values come masked.
The documents are the policy matrix's own (tests/test_policies.py)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import get_named_type

from hub.access.masks import MASKS
from hub.access.policy import iter_data_fields, structural
from hub.console.matrix import access_matrix
from tests.test_policies import FULL, POLICIES, ROOT_ARGS, _has_required_id_args, _leaves, _path_to, _query, _token
from tests.test_policies import client as client  # the module's shared app (module_client)

VOCABULARY = sorted(POLICIES.vocabulary.purposes) if POLICIES.vocabulary else []


#: Types a mutation answers (e.g. EmergencyGrant to the department that asked for it).
MUTATION_ANSWERS = {get_named_type(f.type).name for f in FULL.mutation_type.fields.values()} \
    if FULL.mutation_type else set()


@pytest.mark.parametrize("purpose", VOCABULARY)
def test_every_cell_is_what_a_request_gets(client: Any, gql: Any, samples: dict[str, Any], purpose: str) -> None:
    matrix = access_matrix(client.app.state.console.access, purpose)
    assert matrix.purpose == purpose
    fields = [(t, f) for t, f in iter_data_fields(FULL) if t != "Mutation"
              and (t != "Query" or f in ROOT_ARGS or not _has_required_id_args(f))]
    assert {f"{t}.{f}" for t, f, _ in matrix.rows} >= {f"{t}.{f}" for t, f in fields}
    for index, column in enumerate(matrix.columns):
        dept = column.department
        policy = POLICIES[dept]
        cells = {f"{t}.{f}": c[index] for t, f, c in matrix.rows}
        assert column.scope == policy.scope
        if not column.states:
            assert {c.decision for c in cells.values()} == {"deny"}, dept
            r = gql("{ __typename }", department=dept, purpose=purpose, **_token(policy, samples))
            assert r.status_code == 403 and r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            continue

        def allowed(t: str, f: str, cells: dict[str, Any] = cells) -> bool:
            return structural(t) or cells[f"{t}.{f}"].decision != "deny"

        for type_name, fname in fields:
            cell = cells[f"{type_name}.{fname}"]
            path = _path_to(type_name, allowed if cell.decision != "deny" else lambda t, f: True)
            if path is None and cell.decision != "deny" and type_name in MUTATION_ANSWERS:
                continue  # granted as a mutation's answer, which no query of theirs reaches
            assert path is not None, (dept, purpose, type_name, fname, cell)
            query = _query(path, (type_name, fname), samples)
            r = gql(query, department=dept, purpose=purpose, **_token(policy, samples),
                    purposes=[purpose])
            body = r.json()
            forbidden = any(e.get("extensions", {}).get("code") == "FORBIDDEN" for e in body.get("errors", []))
            if cell.decision == "deny":
                assert forbidden and r.status_code in (400, 403) and "data" not in body, (dept, query, body)
                continue
            assert r.status_code == 200 and not forbidden, (dept, purpose, query, cell, body)
            if cell.decision == "mask":
                assert cell.example and "*" in cell.example
                for value in _leaves(body.get("data"), fname):
                    # Masked already (its mask leaves it as it is); id_numbers_in keeps a text
                    # without an ID number (a staff id) whole.
                    assert value is None or (MASKS[cell.mask](value) == value and (
                        "*" in value or cell.mask == "id_numbers_in")), (dept, query, value)


def test_a_cell_names_its_grant_file_line_and_why(client: Any) -> None:
    matrix = access_matrix(client.app.state.console.access, "school-reopening")
    cell = matrix.cell("school", "Person.idNumber")
    assert (cell.decision, cell.mask, cell.example) == ("mask", "id_number", "410105********1234")
    assert cell.file == "school.toml"
    line = (POLICIES["school"].path.read_text(encoding="utf-8").splitlines())[cell.line - 1]
    assert "idNumber" in line
    assert "ID number stays masked" in cell.why
    assert matrix.cell("school", "Person.phone").decision == "deny"
