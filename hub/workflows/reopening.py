"""School reopening: every pupil and staff member of some schools, with the
reasons each may not return on a date (the rules are hub/workflows/rules.py).

The facts are read through the request's *workflow* loaders: the fields
policies/_workflows.toml lists, under the asking token's row scope.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import facts
from .rules import Reason, RuleSettings, evaluate, undecided

#: Graduating grades return first (they sit the entrance examinations).
FIRST_TO_RETURN = ("senior-3", "junior-3")


@dataclass
class Evaluated:
    id_number: str
    role: str
    grade: str | None
    reasons: list[Reason]

    @property
    def undecided(self) -> bool:
        """Some facts unknown (a source did not answer) and no known reason: not counted
        as may return, nor as may not."""
        return undecided(self.reasons)


def counts(people: Sequence[Evaluated]) -> tuple[int, int, int]:
    """(may return, may not return, undecided) of ``people``."""
    held = sum(1 for p in people if p.undecided)
    bad = sum(1 for p in people if p.reasons) - held
    return len(people) - bad - held, bad, held


async def evaluate_schools(loaders: Any, school_ids: Sequence[str], on: dt.date,
                           settings: RuleSettings) -> dict[str, list[Evaluated]]:
    """school id -> its pupils then its staff, in register order, each with its reasons."""
    pupils, staff = await asyncio.gather(
        loaders.records("Student", "schoolId").load_many(list(school_ids)),
        loaders.records("Staff", "schoolId").load_many(list(school_ids)),
    )
    ids = [r["idNumber"] for rows in (*pupils, *staff) for r in rows]
    known = await facts.gather(loaders, ids, on, settings)
    out: dict[str, list[Evaluated]] = {}
    for sid, ps, ss in zip(school_ids, pupils, staff):
        people = [Evaluated(r["idNumber"], "STUDENT", r.get("grade"),
                            evaluate(known[r["idNumber"]], on, settings)) for r in ps]
        people += [Evaluated(r["idNumber"], "STAFF", None,
                             evaluate(known[r["idNumber"]], on, settings)) for r in ss]
        out[sid] = people
    return out


def ready(people: Sequence[Evaluated], settings: RuleSettings) -> bool:
    """A school is ready when at most ``school_ready_share`` of its people must stay home
    (the undecided counted among them: a school is not ready on facts it could not check)."""
    bad = sum(1 for p in people if p.reasons)
    return bool(people) and bad <= settings.school_ready_share * len(people)
