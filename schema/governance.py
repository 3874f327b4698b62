"""Break-glass in the graph: a department asks for access beyond its policy in
an emergency (``requestEmergencyAccess``), the big-data bureau reviews it
(``emergencyGrants``, ``reviewEmergencyGrant``). Who may ask for which fields,
and which fields no one is ever granted this way, is policy
(``[emergency]`` in a department's file, ``policies/_emergency.toml``); the
grants themselves are kept by ``hub/audit/grants.py`` and applied at admission
(``hub.access.admission.Widening``).
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from connectors.interface import Page
from hub.errors import AuditUnavailable, BadInput, Forbidden
from hub.execution.context import PERSON_RECORDS

from .arguments import check_text
from .paging import DEFAULT_PAGE, Connection, check_first, connection, list_cursors, position, position_cursor
from .resolve import asked

#: The most characters a grant's reason holds, and the most persons one lists.
MAX_REASON = 500
MAX_PERSONS = 100


@strawberry.enum(description="The big-data bureau's verdict on an emergency grant.")
class ReviewVerdict(Enum):
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


@strawberry.type(description="Access beyond a department's policy, asked for in an emergency "
                             "(break-glass), for a reason and a few minutes; and its review.")
class EmergencyGrant:
    id: strawberry.ID
    department: str
    subject: str = strawberry.field(description="The user the asking token named.")
    purpose: str
    fields: list[str] = strawberry.field(description="The Type.field it adds to the policy.",
                                         metadata={"list_size": 10})
    personList: strawberry.Private[list[str]]
    scope: list[str] = strawberry.field(
        description="The token's row scope the fields were widened over (KIND=ID), when no persons "
                    "are listed.", metadata={"list_size": 3})
    reason: str
    minutes: int
    grantedAt: dt.datetime
    expiresAt: dt.datetime
    auditEntry: int | None = strawberry.field(description="The audit entry of the request that asked.")
    reviewed: bool
    verdict: ReviewVerdict | None
    note: str | None
    reviewedAt: dt.datetime | None
    reviewedBy: str | None

    @strawberry.field(description="Whether it widens its token's requests now.")
    def active(self, info: Info) -> bool:
        grants = info.context.grants  # the grants' own clock decides, as at admission
        now = grants.clock() if grants is not None else info.context.now
        return bool(self.grantedAt <= now < self.expiresAt)

    @strawberry.field(description="ID numbers the fields were widened for (none: the token's own "
                                  "row scope). Masked unless the policy grants them in clear.",
                      metadata={"list_size": 20})
    def persons(self, info: Info) -> list[str]:
        info.context.touch(*self.personList)  # shown: the read is in their histories
        return self.personList


@strawberry.input(description="What an emergency request asks for: fields beyond the policy "
                              "(\"Type.field\"), for some persons (or the token's own row scope), "
                              "why, and for how many minutes (at most [emergency] max_minutes).")
class EmergencyAccessInput:
    fields: list[str]
    reason: str
    minutes: int
    persons: list[str] | None = None


def _node(grant: Any) -> EmergencyGrant:
    return EmergencyGrant(
        id=strawberry.ID(grant.id), department=grant.department, subject=grant.subject,
        purpose=grant.purpose, fields=list(grant.fields), personList=list(grant.persons or ()),
        scope=[f"{k}={v}" for k, ids in sorted(grant.scope.items()) for v in ids],
        reason=grant.reason, minutes=grant.minutes, grantedAt=grant.granted_at,
        expiresAt=grant.expires_at, auditEntry=grant.audit_seq, reviewed=grant.reviewed,
        verdict=ReviewVerdict(grant.verdict) if grant.verdict else None, note=grant.note,
        reviewedAt=grant.reviewed_at, reviewedBy=grant.reviewed_by)


def _store(info: Info) -> Any:
    grants = info.context.grants
    if grants is None:
        raise AuditUnavailable("emergency grants are kept in the hub's own database, which this "
                               "hub has not opened")
    return grants


def _fields(info: Info, names: list[str], persons: bool) -> list[str]:
    """The fields asked for, each an existing Type.field (BAD_INPUT), refused by policy (FORBIDDEN)."""
    if not names:
        raise BadInput("input.fields: name at least one Type.field", argument="input.fields")
    full = info.context.admission.grant.full
    out = []
    for name in dict.fromkeys(names):
        check_text("input.fields", name)
        type_name, _, fname = name.partition(".")
        gql_type = full.type_map.get(type_name)
        if not fname or type_name.startswith("__") or fname not in getattr(gql_type, "fields", {}):
            raise BadInput(f"input.fields: {name!r} is no Type.field of the schema", argument="input.fields")
        if persons and type_name not in PERSON_RECORDS:
            raise BadInput(f"input.fields: {name} belongs to {type_name}, which is no one person's "
                           "record, so it cannot be limited to persons; ask for it without persons "
                           "(over the token's own scope)", argument="input.fields")
        out.append(name)
    refusal = info.context.admission.grant.policy.emergency_refusal(out)
    if refusal is not None:
        raise Forbidden(refusal)
    return out


@strawberry.type
class GovernanceQuery:
    @strawberry.field(description="Emergency grants, newest first; reviewed: false lists those "
                                  "still waiting for the bureau's review.")
    async def emergencyGrants(self, info: Info, reviewed: bool | None = None, first: int = DEFAULT_PAGE,
                              after: str | None = None) -> Connection[EmergencyGrant]:
        cursors = list_cursors(info)
        last = position(cursors, after)
        start = last + 1 if last is not None else 0
        grants, total = await _store(info).page(reviewed, check_first(first), start)
        page = Page(records=[], has_next=start + len(grants) < total, total=total,
                    cursors=[position_cursor(cursors, start + i) for i in range(len(grants))])
        return connection(page, [_node(g) for g in grants], after)


@strawberry.type
class GovernanceMutation:
    @strawberry.mutation(description="Ask for access beyond your policy in an emergency: it widens "
                                     "this token's requests for this purpose until it expires, is "
                                     "recorded with its reason and reviewed by the big-data bureau.")
    async def requestEmergencyAccess(self, info: Info, input: EmergencyAccessInput) -> EmergencyGrant:
        ctx = info.context
        if ctx.grant_id is not None:
            raise BadInput(f"this request is answered under emergency grant {ctx.grant_id}, which is "
                           "still in force; ask for another once it has expired")
        persons = input.persons
        if persons is not None:
            if not persons or len(persons) > MAX_PERSONS:
                raise BadInput(f"input.persons: list 1 to {MAX_PERSONS} ID numbers, or leave it out "
                               "(the token's own row scope)", argument="input.persons")
            persons = [asked(info, p) for p in dict.fromkeys(persons)]  # in their histories
        fields = _fields(info, input.fields, persons is not None)
        reason = " ".join(input.reason.split())
        if not reason:
            raise BadInput("input.reason: say why the emergency needs this access",
                           argument="input.reason")
        check_text("input.reason", reason, MAX_REASON)
        identity = ctx.identity
        grant = await _store(info).create(
            department=identity.department, subject=identity.subject, purpose=ctx.purpose,
            fields=fields, persons=persons, scope={k: list(v) for k, v in identity.scopes.items()},
            reason=reason, minutes=input.minutes)
        ctx.grant_id, ctx.created = grant.id, True
        return _node(grant)

    @strawberry.mutation(description="The big-data bureau's review of an emergency grant: final.")
    async def reviewEmergencyGrant(self, info: Info, id: strawberry.ID, verdict: ReviewVerdict,
                                   note: str) -> EmergencyGrant:
        grant = await _store(info).review(check_text("id", str(id)), verdict.value,
                                          check_text("note", note), info.context.identity.subject)
        return _node(grant)
