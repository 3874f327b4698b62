"""One entry of the audit trail and its place in the hash chain: its fields,
what its hash covers, its row, and the bounds on the text it holds.

An entry's hash covers ``CONTENT`` in order and, only where they differ from
their defaults, the fields of ``EXTRA`` (added by revisions 0003, 0004 and
0005; a NULL counts as the default), so every entry written before them still verifies
and a changed count or request id shows:

>>> row = {k: "" for k in CONTENT}
>>> entry_hash(GENESIS, row) == entry_hash(GENESIS, {**row, "repeat": 1, "client": "", "code": "",
...                                                  "request_id": None})
True
>>> entry_hash(GENESIS, row) == entry_hash(GENESIS, {**row, "repeat": 5000})
False
>>> entry_hash(GENESIS, row) == entry_hash(GENESIS, {**row, "request_id": "abc-1"})
False
>>> entry_hash(GENESIS, row) == entry_hash(GENESIS, {**row, "grant_id": None})
True
>>> entry_hash(GENESIS, row) == entry_hash(GENESIS, {**row, "grant_id": "5f0c"})
False
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import operator
from dataclasses import dataclass, field
from typing import Any

from hub.state.tables import GENESIS, audit_log

__all__ = ["CONTENT", "EXTRA", "GENESIS", "MARK", "Entry", "Problem", "bounded", "bounds",
           "column_chars", "decoded", "document_hash", "entry_hash", "persons_of", "row"]

#: The fields of an entry that its hash covers, in this order.
CONTENT = ("seq", "at", "department", "subject", "purpose", "operation", "document_hash",
           "fields", "persons", "source_rows", "outcome", "status", "latency_ms")
#: Fields a hash covers only where they differ from these values, appended as one object.
EXTRA: dict[str, Any] = {"repeat": 1, "client": "", "code": "", "request_id": "", "grant_id": ""}
#: What marks a value cut to its bound.
MARK = "…"


@dataclass
class Entry:
    """One request, as the audit records it (before it has a place in the chain)."""

    department: str
    subject: str
    purpose: str
    operation: str
    document_hash: str
    fields: list[str] = field(default_factory=list)
    persons: list[str] = field(default_factory=list)
    source_rows: dict[str, int] = field(default_factory=dict)
    outcome: str = "ok"
    status: int = 200
    latency_ms: int = 0
    at: str = ""
    #: The address the request came from ("" when unknown).
    client: str = ""
    #: The error that refused it: ``CODE`` or ``CODE:reason`` ("" when none did).
    code: str = ""
    #: How many requests this entry stands for (a summary counts more than one).
    repeat: int = 1
    #: The request's id (X-Request-Id, or made by the hub); "" for a summary.
    request_id: str = ""
    #: The emergency grant the request was answered under, or that it asked for ("" when none).
    grant_id: str = ""
    #: False when refused before admission (no identity or grant applied yet):
    #: such a refusal may be counted in a summary (hub/audit/summaries.py). Not stored.
    admitted: bool = True


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str  # changed / removed / inserted / truncated / checkpoint
    message: str


def entry_hash(prev_hash: str, row: dict[str, Any]) -> str:
    values: list[Any] = [row[k] for k in CONTENT]
    extra = {k: row[k] for k, default in EXTRA.items() if row.get(k) not in (None, default)}
    if extra:
        values.append(extra)
    content = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + "\n" + content).encode()).hexdigest()


def document_hash(query: str | None) -> str:
    return hashlib.sha256((query or "").encode()).hexdigest()


def bounded(text: str, chars: int) -> str:
    """``text`` cut to at most ``chars`` characters, a cut marked by a trailing "…".

    >>> bounded("school-reopening", 64)
    'school-reopening'
    >>> bounded("x" * 60_000, 8)
    'xxxxxxx…'
    """
    chars = max(chars, 1)
    return text if len(text) <= chars else text[:chars - 1] + MARK


def column_chars(name: str, limit: int | None = None) -> int:
    """The most characters audit_log's column ``name`` holds: its length, or ``limit`` if smaller.

    >>> column_chars("purpose"), column_chars("purpose", 32), column_chars("purpose", 10_000)
    (64, 32, 64)
    """
    length = getattr(audit_log.c[name].type, "length", None)
    if length is None:
        raise ValueError(f"audit_log.{name} has no length")
    return min(length, limit) if limit is not None else int(length)


@functools.lru_cache(maxsize=64)
def bounds(subject: int, purpose: int, operation: int) -> tuple[tuple[str, int], ...]:
    """(field, most characters) of each of an entry's bounded fields: its column's
    length, or the limit given if smaller (worked out once per set of limits).

    >>> dict(bounds(10_000, 32, 64))["purpose"], dict(bounds(10_000, 32, 64))["department"]
    (32, 32)
    """
    wanted = (("department", None), ("subject", subject), ("purpose", purpose),
              ("operation", operation), ("client", None), ("code", None), ("request_id", None))
    return tuple((name, max(column_chars(name, limit), 1)) for name, limit in wanted)


def row(entry: Entry, seq: int) -> dict[str, Any]:
    """The entry as audit_log stores it (without its hashes).

    Read field by field (``dataclasses.asdict`` would copy every person one by
    one, the most of an entry's cost when it has a thousand); the persons are
    ``persons_of`` the entry, the list its audit_person rows are made of:

    >>> stored = row(Entry("d", "s", "p", "o", "h", persons=["2", "1", "2"]), 7)
    >>> stored["persons"], stored["seq"]
    ('["1", "2"]', 7)
    """
    return {
        "seq": int(seq),
        "at": entry.at,
        "department": entry.department,
        "subject": entry.subject,
        "purpose": entry.purpose,
        "operation": entry.operation,
        "document_hash": entry.document_hash,
        "fields": json.dumps(sorted(set(entry.fields))),
        "persons": json.dumps(persons_of(entry)),
        "source_rows": json.dumps(dict(sorted(entry.source_rows.items()))),
        "outcome": entry.outcome,
        "status": int(entry.status),
        "latency_ms": int(entry.latency_ms),
        "repeat": int(entry.repeat),
        "client": entry.client,
        "code": entry.code,
        "request_id": entry.request_id or None,
        "grant_id": entry.grant_id or None,
    }


def persons_of(entry: Entry) -> list[str]:
    """The entry's persons in key order, each once (as audit_log.persons lists them).

    The endpoint's are sorted already (hub/audit/exchange.py): then sorting is one
    pass and no set is made.

    >>> persons_of(Entry("d", "s", "p", "o", "h", persons=["b", "a", "b", "c"]))
    ['a', 'b', 'c']
    """
    persons = sorted(entry.persons)
    if any(map(operator.eq, persons, itertools.islice(persons, 1, None))):
        return sorted(set(persons))
    return persons


def decoded(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored row with its JSON columns read."""
    out = dict(stored)
    for key in ("fields", "persons", "source_rows"):
        out[key] = json.loads(out[key])
    return out
