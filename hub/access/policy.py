"""Access policies: one TOML file per department under ``policies/``, default deny.

A file says which purposes the department may state, which row scope its
tokens carry, and which fields of which types it may read, each ``allow`` or
``mask`` (with a named mask from ``hub.access.masks``), optionally only for some
purposes::

    department = "school"
    purposes = ["school-reopening"]
    scope = "school"               # rows: only the school named in the token

    [[grant]]
    # Why: the school plans its own pupils' return.
    type = "Person"
    purposes = ["school-reopening"]
    allow = ["name", "healthCode"]
    mask = { idNumber = "id_number" }

Everything not granted is denied. ``PolicySet.load`` validates every file
against the schema and names file, line and key on any error; the hub refuses
to start on one, and a reload that fails keeps the policies in force.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import GraphQLObjectType, GraphQLSchema, get_named_type, is_scalar_type
from graphql.type import GraphQLNonNull

from hub.errors import ConfigError
from hub.access.tokens import DEPARTMENTS, PURPOSES, SCOPE_KINDS
from hub.access.masks import MASKS

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
_TOP_KEYS = {"department", "description", "purposes", "scope", "grant"}
_GRANT_KEYS = {"type", "allow", "mask", "purposes"}


def structural(type_name: str) -> bool:
    """Connection plumbing carries no data of its own: granted with its node."""
    return type_name == "PageInfo" or type_name.endswith(("Connection", "Edge"))


@dataclass(frozen=True)
class Rule:
    """One field's grant: ``mask`` is None for allow."""

    mask: str | None
    purposes: frozenset[str] | None  # None: any purpose the department may state
    where: str  # "file:line", for `hub policy show` and errors


@dataclass(frozen=True)
class Policy:
    department: str
    purposes: tuple[str, ...]
    scope: str | None
    rules: dict[str, tuple[Rule, ...]]  # "Type.field" -> rules
    path: Path
    description: str = ""

    def decide(self, type_field: str, purpose: str | None) -> Rule | None:
        """The rule that serves ``type_field`` for ``purpose``; allow beats mask."""
        best: Rule | None = None
        for rule in self.rules.get(type_field, ()):
            if rule.purposes is not None and purpose not in rule.purposes:
                continue
            if best is None or (best.mask is not None and rule.mask is None):
                best = rule
        return best

    def grants(self, purpose: str | None) -> dict[str, Rule]:
        out: dict[str, Rule] = {}
        for key in self.rules:
            rule = self.decide(key, purpose)
            if rule is not None:
                out[key] = rule
        return out


@dataclass
class PolicySet:
    policies: dict[str, Policy] = field(default_factory=dict)
    directory: Path = POLICY_DIR

    def __getitem__(self, department: str) -> Policy:
        return self.policies[department]

    @classmethod
    def load(cls, directory: Path, schema: GraphQLSchema) -> PolicySet:
        directory = Path(directory)
        if not directory.is_dir():
            raise ConfigError(f"{directory}: no such policy directory")
        policies: dict[str, Policy] = {}
        files = sorted(directory.glob("*.toml"))
        for path in files:
            policy = _load_file(path, schema)
            policies[policy.department] = policy
        missing = [d for d in DEPARTMENTS if d not in policies]
        if missing:
            raise ConfigError(f"{directory}: no policy file for department {missing[0]!r} "
                              f"(expected {directory / (missing[0] + '.toml')})")
        return cls(policies, directory)


class _Lines:
    """Line numbers for keys and values (tomllib keeps no positions)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.grant_starts = [i for i, line in enumerate(self.lines) if line.strip() == "[[grant]]"]

    def at(self, needle: str, grant: int | None = None) -> str:
        start = self.grant_starts[grant] if grant is not None and grant < len(self.grant_starts) else 0
        end = (self.grant_starts[grant + 1] if grant is not None and grant + 1 < len(self.grant_starts)
               else len(self.lines))
        pattern = re.compile(rf"(^|[^\w]){re.escape(needle)}([^\w]|$)")
        for i in range(start, end):
            if self.lines[i].lstrip().startswith("#"):
                continue
            if pattern.search(self.lines[i]):
                return f"{self.path}:{i + 1}"
        return f"{self.path}:{start + 1}" if grant is not None else str(self.path)


def _error(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}")


def _strings(value: Any, where: str, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error(where, f"{what} must be a list of strings")
    return list(value)


def _load_file(path: Path, schema: GraphQLSchema) -> Policy:
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _error(str(path), f"not valid TOML: {exc}") from None
    lines = _Lines(path, text)
    for key in raw:
        if key not in _TOP_KEYS:
            raise _error(lines.at(key), f"unknown key {key!r}; expected one of {sorted(_TOP_KEYS)}")
    department = raw.get("department")
    if department not in DEPARTMENTS:
        raise _error(lines.at("department"), f"department {department!r} is unknown; use one of "
                     f"{', '.join(DEPARTMENTS)}")
    if path.stem != department:
        raise _error(lines.at("department"), f"the file for department {department!r} must be "
                     f"named {department}.toml")
    purposes = _strings(raw.get("purposes", []), lines.at("purposes"), "purposes")
    for p in purposes:
        if p not in PURPOSES:
            raise _error(lines.at(p), f"purpose {p!r} is unknown; use one of {', '.join(PURPOSES)}")
    scope = raw.get("scope")
    if scope is not None and scope not in SCOPE_KINDS:
        raise _error(lines.at("scope"), f"scope {scope!r} is unknown; use one of {', '.join(SCOPE_KINDS)}")
    grants = raw.get("grant", [])
    if not isinstance(grants, list):
        raise _error(lines.at("grant"), "grants are written as [[grant]] tables")
    rules: dict[str, list[Rule]] = {}
    for index, grant in enumerate(grants):
        for key in grant:
            if key not in _GRANT_KEYS:
                raise _error(lines.at(key, index), f"unknown key {key!r} in a grant; expected "
                             f"one of {sorted(_GRANT_KEYS)}")
        type_name = grant.get("type")
        gql_type = schema.type_map.get(type_name) if isinstance(type_name, str) else None
        if not isinstance(gql_type, GraphQLObjectType) or type_name.startswith("__"):
            raise _error(lines.at("type", index), f"unknown type {type_name!r}; a grant names an "
                         "object type of the schema (see `hub schema`)")
        if structural(type_name):
            raise _error(lines.at("type", index), f"{type_name} is granted with the list that "
                         "holds it; grant the list field instead")
        bound = grant.get("purposes")
        bound_set: frozenset[str] | None = None
        if bound is not None:
            bound_set = frozenset(_strings(bound, lines.at("purposes", index), "purposes"))
            for p in sorted(bound_set):
                if p not in purposes:
                    raise _error(lines.at(p, index), f"purpose {p!r} is not one this department "
                                 f"may state ({', '.join(purposes) or 'none'})")
        entries: list[tuple[str, str | None]] = []
        entries += [(f, None) for f in _strings(grant.get("allow", []), lines.at("allow", index), "allow")]
        masks = grant.get("mask", {})
        if not isinstance(masks, dict):
            raise _error(lines.at("mask", index), "mask is a table: { field = \"mask name\" }")
        for f, m in masks.items():
            if m not in MASKS:
                raise _error(lines.at(f, index), f"unknown mask {m!r} for {type_name}.{f}; use one "
                             f"of {', '.join(MASKS)}")
            entries.append((f, m))
        for fname, mask in entries:
            gql_field = gql_type.fields.get(fname)
            if gql_field is None:
                raise _error(lines.at(fname, index), f"type {type_name} has no field {fname!r}")
            if mask is not None:
                base = get_named_type(gql_field.type)
                if not (is_scalar_type(base) and base.name in ("String", "ID")) or _is_list(gql_field.type):
                    raise _error(lines.at(fname, index), f"{type_name}.{fname} is not a string; "
                                 "only strings can be masked")
            rules.setdefault(f"{type_name}.{fname}", []).append(
                Rule(mask=mask, purposes=bound_set, where=lines.at(fname, index)))
    return Policy(
        department=department,
        purposes=tuple(purposes),
        scope=scope,
        rules={k: tuple(v) for k, v in rules.items()},
        path=path,
        description=str(raw.get("description", "")),
    )


def _is_list(t: Any) -> bool:
    if isinstance(t, GraphQLNonNull):
        t = t.of_type
    return type(t).__name__ == "GraphQLList"


def access_table(policy: Policy, schema: GraphQLSchema) -> list[tuple[str, str, str]]:
    """(Type.field, decision, purposes) for every data field of the schema."""
    rows = []
    for name, t in sorted(schema.type_map.items()):
        if not isinstance(t, GraphQLObjectType) or name.startswith("__") or structural(name):
            continue
        for fname in t.fields:
            key = f"{name}.{fname}"
            rules = policy.rules.get(key, ())
            if not rules:
                rows.append((key, "deny", "-"))
                continue
            for rule in rules:
                decision = "allow" if rule.mask is None else f"mask:{rule.mask}"
                purposes = ",".join(sorted(rule.purposes)) if rule.purposes else "any"
                rows.append((key, decision, purposes))
    return rows


def iter_data_fields(schema: GraphQLSchema) -> Iterable[tuple[str, str]]:
    for name, t in sorted(schema.type_map.items()):
        if isinstance(t, GraphQLObjectType) and not name.startswith("__") and not structural(name):
            for fname in t.fields:
                yield name, fname
