"""Gathering what the return rules need about many people at once: one
batched statement per source and view, whatever the number of people.

A source that does not answer leaves those facts unknown, never empty: each
person's ``Facts.unknown`` names the fact and the source, and the rules
(``hub/workflows/rules.py``) then count that person as undecided, never as
one who may return.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

from connectors.views import Condition
from hub.errors import SourceUnavailable
from hub.execution.loaders import Loaders
from hub.workflows import contacts
from hub.workflows.rules import Facts, RuleSettings, Unknown


async def _each(loader: Any, keys: Sequence[Any]) -> list[Any]:
    """Each key's records, or the ``SourceUnavailable`` that kept them unknown."""
    outcomes = await asyncio.gather(*(loader.load(k) for k in keys), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, SourceUnavailable):
            raise outcome
    return outcomes


async def _nothing(count: int) -> list[Any]:
    return [None] * count


def _unknown(fact: str, outcome: Any) -> list[Unknown]:
    if isinstance(outcome, SourceUnavailable):
        return [Unknown(fact, outcome.connector, outcome.cause, outcome.code)]
    return []


def _rows(outcome: Any) -> list[Any]:
    return [] if isinstance(outcome, SourceUnavailable) else list(outcome)


async def gather(loaders: Loaders, id_numbers: Sequence[str], on: dt.date,
                 settings: RuleSettings, *, declarations: bool = False) -> dict[str, Facts]:
    """Each person's facts; ``declarations``: their daily health declarations too
    (return to work: employees declare to their employers; pupils do not)."""
    ids = list(dict.fromkeys(id_numbers))
    if not ids:
        return {}
    since = dt.datetime.combine(on - dt.timedelta(days=settings.clinic_visit_days), dt.time(0),
                                tzinfo=dt.UTC)
    # Declarations submitted from the day before the window (a day's is sent the evening before at the earliest).
    declared_since = dt.datetime.combine(on - dt.timedelta(days=settings.declaration_days + 1), dt.time(0),
                                         tzinfo=dt.UTC)
    codes, arrivals, visits, residences, declared = await asyncio.gather(
        _each(loaders.records("HealthCode", "idNumber", forward=False), ids),
        _each(loaders.records("Arrival", "idNumber"), ids),
        _each(loaders.records("ClinicVisit", "idNumber", (Condition("time", ">=", since),)), ids),
        _each(loaders.records("Residence", "idNumber"), ids),
        _each(loaders.records("HealthDeclaration", "idNumber", (Condition("time", ">=", declared_since),)), ids)
        if declarations else _nothing(len(ids)),
    )
    community_ids = sorted({r[0]["communityId"] for r in residences if _rows(r)})
    communities = dict(zip(community_ids,
                           await _each(loaders.records("Community", "id"), community_ids)))
    out: dict[str, Facts] = {}
    for idn, code, arr, vis, res, dec in zip(ids, codes, arrivals, visits, residences, declared):
        residence = _rows(res)[0] if _rows(res) else None
        unknown = (_unknown("health code", code) + _unknown("arrivals", arr)
                   + _unknown("fever-clinic visits", vis) + _unknown("residence", res))
        community = communities.get(residence["communityId"]) if residence else None
        unknown += _unknown("community lockdown", community) + _unknown("health declarations", dec)
        rows = _rows(community) if community is not None else []
        out[idn] = Facts(
            id_number=idn,
            color=_rows(code)[0].get("color") if _rows(code) else None,
            arrivals=_rows(arr),
            clinic_visits=_rows(vis),
            residence=residence,
            community_locked_down=bool(rows and rows[0].get("underLockdown")),
            unknown=unknown,
            declarations=None if dec is None else _rows(dec),
        )
    if settings.contact_days:  # the close-contact rule: when each shared a place with a case
        since = dt.datetime.combine(on - dt.timedelta(days=settings.contact_days), dt.time(0), tzinfo=dt.UTC)
        try:
            met = await contacts.case_contacts(loaders, ids, since)
        except SourceUnavailable as exc:
            for f in out.values():
                f.unknown += _unknown("close contacts", exc)
        else:
            for idn, times in met.items():
                out[idn].case_contacts += times
    return out
