"""What one request may cost, and how much the hub lets anyone spend.

Defaults are graphql-armor's (aliases 15, depth 6, tokens 1,000, directives 50,
cost 5,000), and the configuration may change each (``[limits]``), per
department (``[limits.departments.NAME]``) and, for rows, per source
(``[limits.sources.NAME]``). SECURITY.md says what each defends against.

>>> Limits().for_department("school").cost
5000
>>> Limits(departments={"education": DepartmentLimits(cost=20000)}).for_department("education").cost
20000
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DepartmentLimits:
    """``[limits.departments.NAME]``: a department's own budget (unset: the global one)."""

    cost: int | None = None
    depth: int | None = None
    aliases: int | None = None


@dataclass(frozen=True)
class SourceLimits:
    """``[limits.sources.NAME]``: the most rows one request may ask of a source."""

    rows: int


@dataclass(frozen=True)
class Limits:
    """``[limits]``."""

    #: The price of an operation: 2 per object and 1 per leaf of the largest answer
    #: it can have (lists at their `first`, or `list_size`), counted before any source runs.
    cost: int = 5_000
    #: Fields nested in one another (the connection plumbing edges/node/pageInfo not counted).
    depth: int = 6
    #: Aliased fields in the document.
    aliases: int = 15
    #: Directives in the document.
    directives: int = 50
    #: Lexical tokens in the document.
    tokens: int = 1_000
    #: The length assumed for a list without `first` (a person's visits, arrivals, ...).
    list_size: int = 10
    #: Seconds a request may run before it is answered 503 DEADLINE_EXCEEDED.
    deadline_seconds: float = 10.0
    #: Bytes an answer may have (beyond: 400 ANSWER_TOO_LARGE, ask for less).
    answer_bytes: int = 10_000_000
    #: Bytes a request body may have (refused by Content-Length before reading,
    #: and cut while streaming one without it).
    body_bytes: int = 100_000
    #: Characters of X-Purpose and operationName, bytes of Authorization.
    purpose_chars: int = 64
    operation_chars: int = 128
    authorization_bytes: int = 4_096
    #: Requests per period from one client address, checked before its token is
    #: (0: no limit). Shared through the rate limit's Redis when one is configured.
    address_requests: int = 100
    address_period_seconds: float = 1.0
    #: Longest lifetime a token may have (a token valid for longer is refused).
    token_max_seconds: int = 7 * 24 * 3600
    #: Characters of a token's subject as the audit trail records it (longer: cut, marked "…").
    subject_chars: int = 128
    #: Seconds a request waits for its audit entry to be committed; past it the
    #: answer is 503 AUDIT_UNAVAILABLE and the entry is not written (hub/audit/trail.py).
    audit_write_seconds: float = 2.0
    #: Seconds within which identical refusals before admission (401, 429, 400, 413,
    #: 415, 431 from one client address) are counted in one summary entry (0: one entry each).
    audit_summary_seconds: float = 1.0
    #: Bytes the audit store may hold (SQLite: the file and its WAL; PostgreSQL: the
    #: audit tables) before /readyz says not ready (0: no budget). Entries are still written.
    audit_max_bytes: int = 0
    departments: Mapping[str, DepartmentLimits] = field(default_factory=dict)
    sources: Mapping[str, SourceLimits] = field(default_factory=dict)

    def for_department(self, department: str) -> Limits:
        """These limits with the department's own budget in place of the global one."""
        own = self.departments.get(department)
        if own is None:
            return self
        changes = {k: v for k, v in dataclasses.asdict(own).items() if v is not None}
        return dataclasses.replace(self, **changes) if changes else self
