"""Key persons (重点人员): the residents the health commission and the community
grid workers must follow, by category, each with the reasons.

The reasons are the reopening plan's (hub/workflows/rules.py ``evaluate``, on
the same facts gathered the same way, hub/workflows/facts.py) and two rules of
key persons only (``KEY_RULES``: a recent arrival, a close contact of a case),
so a person listed for a return rule is exactly one the plan keeps home for it.
The people are the residents of the communities asked (a community's, a
district's, the city's), read through the request's workflow loaders under the
token's row scope: a community grid worker's are its own residents only.
A case is a person whose code is red or with a positive nucleic-acid result.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connectors.views import Condition, Where
from hub.errors import BadInput

from . import contacts, facts
from .rules import Reason, RuleSettings, key_reasons

#: Category -> the rules whose reasons put a person in it.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "CODE_NOT_GREEN": ("health-code",),
    "UNDER_OBSERVATION": ("medical-observation", "home-observation"),
    "RECENT_ARRIVAL": ("recent-arrival",),
    "CLOSE_CONTACT": ("close-contact",),
    "FEVER_CLINIC": ("fever-clinic",),
}
#: A close contact of a case: within this long of one of the case's events at the same place.
CONTACT_WINDOW = dt.timedelta(minutes=30)
MAX_COMMUNITIES = 2_000


@dataclass
class KeyPerson:
    id_number: str
    categories: list[str]
    reasons: list[Reason]


async def _communities(loaders: Any, community: str | None, district: Where) -> list[str]:
    if community is not None:
        return [community]
    page = await loaders.pages("Community", None, first=MAX_COMMUNITIES, after=None,
                               where=district).load("*")
    if page.has_next:
        raise BadInput(f"more than {MAX_COMMUNITIES} communities: ask district by district",
                       argument="district")
    return [str(r["id"]) for r in page.records]


async def cases(loaders: Any, since: dt.datetime) -> list[str]:
    """Everyone with a red code, or a positive nucleic-acid result since ``since``."""
    red, positive = await asyncio.gather(
        loaders.records("HealthCode", "color", forward=False).load("RED"),
        loaders.records("ClinicVisit", "nucleicAcidResult",
                        (Condition("time", ">=", since),)).load("POSITIVE"))
    return sorted({str(r["idNumber"]) for r in (*red, *positive)})


async def key_persons(loaders: Any, on: dt.date, now: dt.datetime, settings: RuleSettings,
                      categories: Sequence[str], days: int, community: str | None,
                      district: Where) -> list[KeyPerson]:
    """The residents in any of ``categories``, in community then register order."""
    ids = await _communities(loaders, community, district)
    residences = await loaders.records("Residence", "communityId").load_many(ids)
    people = list(dict.fromkeys(str(r["idNumber"]) for rs in residences for r in rs))
    known = await facts.gather(loaders, people, on, settings)
    since = (now - dt.timedelta(days=days)).replace(microsecond=0)
    if "CLOSE_CONTACT" in categories and people:
        found = await contacts.search_many(loaders, await cases(loaders, since), since, CONTACT_WINDOW)
        for contact in (c for cs in found.values() for c in cs):
            f = known.get(contact.id_number)
            if f is not None:
                f.case_contacts += [o.contact_time for o in contact.overlaps]
    out = []
    for idn in people:
        reasons = key_reasons(known[idn], on, settings, days)
        rules = {r.rule for r in reasons}
        mine = [c for c in categories if rules.intersection(CATEGORIES[c])]
        if mine:
            wanted = {rule for c in mine for rule in CATEGORIES[c]}
            out.append(KeyPerson(idn, mine, [r for r in reasons if r.rule in wanted]))
    return out
