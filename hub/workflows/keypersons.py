"""Key persons (重点人员): the residents the health commission and the community
grid workers must follow, by category, each with the reasons.

The reasons are the reopening plan's own (hub/workflows/rules.py ``evaluate``,
on the same facts gathered the same way, hub/workflows/facts.py), with the
question's ``days`` as the arrival and close-contact windows, so a person
listed with a reason is exactly one the plan (with those windows) keeps home.
The people are the residents of the communities asked (a community's, a
district's, the city's), read through the request's workflow loaders under the
token's row scope: a community grid worker's are its own residents only.
A case is a person whose code is red or with a positive nucleic-acid result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connectors.views import Where
from hub.errors import BadInput

from . import facts
from .rules import Reason, RuleSettings, for_key_persons, key_reasons

#: Category -> the rules whose reasons put a person in it.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "CODE_NOT_GREEN": ("health-code",),
    "UNDER_OBSERVATION": ("medical-observation", "home-observation"),
    "RECENT_ARRIVAL": ("recent-arrival",),
    "CLOSE_CONTACT": ("close-contact",),
    "FEVER_CLINIC": ("fever-clinic",),
}
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


async def key_persons(loaders: Any, on: dt.date, settings: RuleSettings,
                      categories: Sequence[str], days: int, community: str | None,
                      district: Where) -> list[KeyPerson]:
    """The residents in any of ``categories``, in community then register order."""
    ids = await _communities(loaders, community, district)
    residences = await loaders.records("Residence", "communityId").load_many(ids)
    people = list(dict.fromkeys(str(r["idNumber"]) for rs in residences for r in rs))
    known = await facts.gather(loaders, people, on, for_key_persons(settings, days))
    out = []
    for idn in people:
        reasons = key_reasons(known[idn], on, settings, days)
        rules = {r.rule for r in reasons}
        mine = [c for c in categories if rules.intersection(CATEGORIES[c])]
        if mine:
            wanted = {rule for c in mine for rule in CATEGORIES[c]}
            out.append(KeyPerson(idn, mine, [r for r in reasons if r.rule in wanted]))
    return out
