"""Gathering what the return rules need about many people at once: one
batched statement per source and view, whatever the number of people."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

from connectors.views import Condition
from hub.execution.loaders import Loaders
from hub.workflows.rules import Facts, RuleSettings


async def gather(loaders: Loaders, id_numbers: Sequence[str], on: dt.date,
                 settings: RuleSettings) -> dict[str, Facts]:
    ids = list(dict.fromkeys(id_numbers))
    if not ids:
        return {}
    since = dt.datetime.combine(on - dt.timedelta(days=settings.clinic_visit_days), dt.time(0),
                                tzinfo=dt.UTC)
    codes, arrivals, visits, residences = await asyncio.gather(
        loaders.records("HealthCode", "idNumber", forward=False).load_many(ids),
        loaders.records("Arrival", "idNumber").load_many(ids),
        loaders.records("ClinicVisit", "idNumber",
                        (Condition("time", ">=", since),)).load_many(ids),
        loaders.records("Residence", "idNumber").load_many(ids),
    )
    community_ids = sorted({r[0]["communityId"] for r in residences if r})
    communities = await loaders.records("Community", "id").load_many(community_ids)
    locked = {cid for cid, rows in zip(community_ids, communities) if rows and rows[0].get("underLockdown")}
    out: dict[str, Facts] = {}
    for idn, code, arr, vis, res in zip(ids, codes, arrivals, visits, residences):
        residence = res[0] if res else None
        out[idn] = Facts(
            id_number=idn,
            color=code[0].get("color") if code else None,
            arrivals=list(arr),
            clinic_visits=list(vis),
            residence=residence,
            community_locked_down=bool(residence and residence["communityId"] in locked),
        )
    return out
