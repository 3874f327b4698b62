"""The access matrix: for one purpose, every data field of the schema against
every department, read from the grants that decide requests
(``hub.access.admission.Access.grant``): a field is in a cell when it is in
the department's own schema for that purpose (``Grant.schema``, what
validation and execution use), masked when the rule that serves it
(``Grant.rules``) names a mask. So the matrix cannot drift from what is
enforced: a field granted in a file but cut from the schema (its type granted
nothing, or unreachable) shows as denied, as a request finds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from graphql import GraphQLObjectType

from hub.access.admission import Access
from hub.access.masks import EXAMPLES, MASKS
from hub.access.policy import iter_data_fields


@dataclass(frozen=True)
class Cell:
    decision: str  # "allow", "mask" or "deny"
    mask: str | None = None
    example: str | None = None  # what the mask leaves of a made-up value
    why: str = ""
    file: str = ""  # the policy file's name, for the link to the grant's line
    line: int = 0


@dataclass(frozen=True)
class Column:
    department: str
    description: str
    scope: str | None  # the row scope its tokens carry (None: all rows)
    states: bool  # whether the department may state the purpose at all


@dataclass(frozen=True)
class Matrix:
    purpose: str
    purposes: tuple[str, ...]
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, str, tuple[Cell, ...]], ...]  # (type, field, a cell per column)

    def cell(self, department: str, type_field: str) -> Cell:
        index = next(i for i, c in enumerate(self.columns) if c.department == department)
        return next(cells[index] for t, f, cells in self.rows if f"{t}.{f}" == type_field)


DENY = Cell("deny")


def access_matrix(access: Access, purpose: str | None = None) -> Matrix:
    """The matrix for ``purpose`` (default: the vocabulary's first)."""
    purposes = tuple(access.vocabulary.purposes)
    chosen = purpose if purpose in purposes else purposes[0]
    policies = sorted(access.policies.policies.values(), key=lambda p: p.department)
    columns = tuple(Column(p.department, p.description, p.scope, chosen in p.purposes) for p in policies)
    grants = [access.grant(p, chosen) if chosen in p.purposes else None for p in policies]
    rows = []
    for type_name, fname in iter_data_fields(access.full):
        cells = []
        for grant in grants:
            cell = DENY
            if grant is not None:
                served = grant.schema.type_map.get(type_name)
                rule = grant.rules.get(f"{type_name}.{fname}")
                if isinstance(served, GraphQLObjectType) and fname in served.fields and rule is not None:
                    path, _, line = rule.where.rpartition(":")
                    file, number = (Path(path).name, int(line)) if line.isdigit() else ("", 0)
                    example = MASKS[rule.mask](EXAMPLES.get(rule.mask, "example")) if rule.mask else None
                    cell = Cell("mask" if rule.mask else "allow", rule.mask, example, rule.why, file, number)
            cells.append(cell)
        rows.append((type_name, fname, tuple(cells)))
    return Matrix(chosen, purposes, columns, tuple(rows))
