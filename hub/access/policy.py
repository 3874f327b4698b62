"""Access policies: one TOML file per department under ``policies/``, default deny.

A file says which purposes the department may state, which row scope its
tokens carry, and which fields of which types it may read, each ``allow`` or
``mask`` (with a named mask from ``hub.access.masks``: a string field, or a
list of strings masked element by element), optionally only for
some purposes::

    department = "school"
    purposes = ["school-reopening"]
    scope = "school"               # rows: only the school named in the token

    [[grant]]
    # Why: the school plans its own pupils' return.
    type = "Person"
    purposes = ["school-reopening"]
    allow = ["name", "healthCode"]
    mask = { idNumber = "id_number" }

Everything not granted is denied. Beside the department files,
``_vocabulary.toml`` declares the purposes and scope kinds (hub.access.vocabulary)
and ``_workflows.toml`` what the hub's own rules read (``[[read]]`` tables of
type and fields, each with its "Why:"). ``PolicySet.load`` validates every
file against the schema and names file, line and key on any error; the hub
refuses to start on one, and a reload that fails keeps the policies in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, is_scalar_type

from hub.errors import ConfigError

from .lines import Lines
from .masks import MASKS
from .vocabulary import POLICY_DIR, Vocabulary, load_vocabulary, read_toml, strings

__all__ = ["POLICY_DIR", "Policy", "PolicySet", "Rule", "access_table", "iter_data_fields",
           "structural"]

WORKFLOWS_FILE = "_workflows.toml"
EMERGENCY_FILE = "_emergency.toml"
_TOP_KEYS = {"department", "description", "purposes", "scope", "grant", "emergency"}
_EMERGENCY_KEYS = {"fields"}
_GRANT_KEYS = {"type", "allow", "mask", "purposes"}
_READ_KEYS = {"type", "fields"}


def structural(type_name: str) -> bool:
    """Connection plumbing carries no data of its own: granted with its node."""
    return type_name == "PageInfo" or type_name.endswith(("Connection", "Edge"))


@dataclass(frozen=True)
class Rule:
    """One field's grant: ``mask`` is None for allow."""

    mask: str | None
    purposes: frozenset[str] | None  # None: any purpose the department may state
    where: str  # "file:line", for `hub policy show` and errors
    why: str = ""  # the grant's "# Why:" comment (the console shows it)
    #: Only for these persons' objects (an emergency grant's ``persons``); None: for all.
    persons: frozenset[str] | None = None
    #: For everyone else when ``persons`` is set: the rule the policy gives (None: refused).
    otherwise: Rule | None = None


@dataclass(frozen=True)
class Policy:
    department: str
    purposes: tuple[str, ...]
    scope: str | None
    rules: dict[str, tuple[Rule, ...]]  # "Type.field" -> rules
    path: Path
    description: str = ""
    #: "Type.field" an emergency request (break-glass) may ask for -> "file:line";
    #: empty: the department may not ask (its file has no ``[emergency]``).
    emergency: dict[str, str] = field(default_factory=dict)
    #: "Type.field" no emergency request is ever granted (``_emergency.toml``) -> "file:line".
    never: dict[str, str] = field(default_factory=dict)

    def emergency_refusal(self, fields: Iterable[str]) -> str | None:
        """Why an emergency request for ``fields`` is refused by policy (None: it is not)."""
        for name in fields:
            if name in self.never:
                return (f"{name} is never granted by emergency access ({self.never[name]}); no "
                        "request can widen a department to it")
            if name not in self.emergency:
                allowed = ", ".join(sorted(self.emergency)) or "none: its file has no [emergency]"
                return (f"department {self.department} may not ask for {name} by emergency access "
                        f"(its [emergency] fields: {allowed})")
        return None

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
    vocabulary: Vocabulary | None = None
    #: "Type.field" the hub's own rules may read (``_workflows.toml``) -> "file:line".
    workflow_reads: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, department: str) -> Policy:
        return self.policies[department]

    @classmethod
    def load(cls, directory: Path, schema: GraphQLSchema) -> PolicySet:
        directory = Path(directory)
        vocabulary = load_vocabulary(directory)
        never = _load_reads(directory / EMERGENCY_FILE, schema, array="never", optional=True)
        policies = {name: _load_file(dept.path, schema, vocabulary, never)
                    for name, dept in vocabulary.departments.items()}
        reads = _load_reads(directory / WORKFLOWS_FILE, schema)
        return cls(policies, directory, vocabulary, reads)


def _error(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}")


def _object_type(schema: GraphQLSchema, type_name: Any, where: str) -> GraphQLObjectType:
    gql_type = schema.type_map.get(type_name) if isinstance(type_name, str) else None
    if not isinstance(gql_type, GraphQLObjectType) or str(type_name).startswith("__"):
        raise _error(where, f"unknown type {type_name!r}; a grant names an object type of the "
                     "schema (see `hub schema`)")
    return gql_type


def _load_file(path: Path, schema: GraphQLSchema, vocabulary: Vocabulary,
               never: dict[str, str] | None = None) -> Policy:
    raw, text = read_toml(path)
    lines = Lines(path, text)
    for key in raw:
        if key not in _TOP_KEYS:
            raise _error(lines.at(key), f"unknown key {key!r}; expected one of {sorted(_TOP_KEYS)}")
    dept = vocabulary.departments[path.stem]
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
        gql_type = _object_type(schema, type_name, lines.at("type", index))
        if structural(type_name):
            raise _error(lines.at("type", index), f"{type_name} is granted with the list that "
                         "holds it; grant the list field instead")
        bound = grant.get("purposes")
        bound_set: frozenset[str] | None = None
        if bound is not None:
            bound_set = frozenset(strings(bound, lines.at("purposes", index), "purposes"))
            for p in sorted(bound_set):
                if p not in dept.purposes:
                    raise _error(lines.at(p, index), f"purpose {p!r} is not one this department "
                                 f"may state ({', '.join(dept.purposes) or 'none'})")
        entries: list[tuple[str, str | None]] = []
        entries += [(f, None) for f in strings(grant.get("allow", []), lines.at("allow", index), "allow")]
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
            if mask is not None and not _maskable(gql_field.type):
                raise _error(lines.at(fname, index), f"{type_name}.{fname} is not a string nor a "
                             "list of strings; only those can be masked (allow it or leave it out)")
            rules.setdefault(f"{type_name}.{fname}", []).append(
                Rule(mask=mask, purposes=bound_set, where=lines.at(fname, index), why=lines.why(index)))
    return Policy(
        department=dept.name,
        purposes=dept.purposes,
        scope=dept.scope,
        rules={k: tuple(v) for k, v in rules.items()},
        path=path,
        description=dept.description,
        emergency=_emergency(raw.get("emergency"), lines, schema, never or {}),
        never=dict(never or {}),
    )


def _emergency(table: Any, lines: Lines, schema: GraphQLSchema, never: dict[str, str]) -> dict[str, str]:
    """``[emergency] fields = ["Type.field", ...]``: what the department may ask for by break-glass."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise _error(lines.at("emergency"), "emergency is a table: [emergency] fields = [\"Type.field\"]")
    for key in table:
        if key not in _EMERGENCY_KEYS:
            raise _error(lines.at(key), f"unknown key {key!r} in [emergency]; expected one of "
                         f"{sorted(_EMERGENCY_KEYS)}")
    out: dict[str, str] = {}
    for name in strings(table.get("fields", []), lines.at("fields"), "emergency fields"):
        where = lines.at(name)
        type_name, _, fname = name.partition(".")
        gql_type = _object_type(schema, type_name, where)
        if fname not in gql_type.fields:
            raise _error(where, f"type {type_name} has no field {fname!r} (write Type.field)")
        if name in never:
            raise _error(where, f"{name} is never granted by emergency access ({never[name]})")
        out[name] = where
    return out


def _load_reads(path: Path, schema: GraphQLSchema, *, array: str = "read",
                optional: bool = False) -> dict[str, str]:
    """``_workflows.toml``: the fields the hub's own rules read, beyond any grant
    (``[[read]]``); ``_emergency.toml``: the fields no emergency request is
    granted (``[[never]]``, optional). Each table: type and fields."""
    if not path.is_file():
        if optional:
            return {}
        raise ConfigError(f"{path}: missing; it declares what the reopening and return-to-work "
                          "rules may read (see the repository's policies/)")
    raw, text = read_toml(path)
    lines = Lines(path, text, array=array)
    for key in raw:
        if key != array:
            raise _error(lines.at(key), f"unknown key {key!r}; the file holds [[{array}]] tables")
    reads = raw.get(array, [])
    if not isinstance(reads, list):
        raise _error(lines.at(array), f"its tables are written as [[{array}]]")
    out: dict[str, str] = {}
    for index, read in enumerate(reads):
        for key in read:
            if key not in _READ_KEYS:
                raise _error(lines.at(key, index), f"unknown key {key!r} in a read; expected "
                             f"one of {sorted(_READ_KEYS)}")
        type_name = read.get("type")
        gql_type = _object_type(schema, type_name, lines.at("type", index))
        for fname in strings(read.get("fields", []), lines.at("fields", index), "fields"):
            if fname not in gql_type.fields:
                raise _error(lines.at(fname, index), f"type {type_name} has no field {fname!r}")
            out[f"{type_name}.{fname}"] = lines.at(fname, index)
    return out


def _maskable(t: Any) -> bool:
    """A String or ID, or a list of them (each element masked); not a list of lists."""
    if isinstance(t, GraphQLNonNull):
        t = t.of_type
    if isinstance(t, GraphQLList):
        t = t.of_type
        if isinstance(t, GraphQLNonNull):
            t = t.of_type
    return is_scalar_type(t) and t.name in ("String", "ID")


def access_table(policy: Policy, schema: GraphQLSchema) -> list[tuple[str, str, str]]:
    """(Type.field, decision, purposes) for every data field of the schema."""
    rows = []
    for name, fname in iter_data_fields(schema):
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
