"""Who may return (to school, to work) on a given date, and why not.

The rules the departments apply, in one readable place. Each rule has a name
(it appears in answers as ``reason.rule``), reads the facts the hub gathered
about one person, and either lets the person through or gives a reason and,
where the data says so, the date from which the person may return. The
thresholds are configuration (``[rules]`` in the hub's TOML file).

>>> facts = Facts("410105201003071234", color="YELLOW")
>>> [r.rule for r in evaluate(facts, dt.date(2020, 4, 20), RuleSettings())]
['health-code']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]


@dataclass(frozen=True)
class RuleSettings:
    """Thresholds of the rules; every one has a key in ``[rules]``."""

    #: A fever-clinic visit this many days before the date counts.
    clinic_visit_days: int = 14
    #: Code colours that may return.
    allowed_colors: tuple[str, ...] = ("GREEN",)
    #: Whether living in a community under lockdown keeps a person home.
    lockdown_excludes: bool = True
    #: An enterprise may reopen when at most this share of its employees must stay home.
    max_excluded_share: float = 0.3
    #: A school counts as ready when at most this share of its people must stay home.
    school_ready_share: float = 0.05


@dataclass
class Facts:
    """What the hub knows about one person, gathered across the sources."""

    id_number: str
    color: str | None = None
    arrivals: list[Record] = field(default_factory=list)
    clinic_visits: list[Record] = field(default_factory=list)
    residence: Record | None = None
    community_locked_down: bool = False


@dataclass(frozen=True)
class Reason:
    rule: str
    detail: str
    #: The first date the person may return, where the data says (else None).
    until: dt.date | None = None


def _next_day(moment: dt.datetime) -> dt.date:
    """The first whole day after ``moment`` (observation ends mid-day)."""
    day = moment.date()
    return day if moment.time() == dt.time(0) else day + dt.timedelta(days=1)


def health_code(f: Facts, on: dt.date, s: RuleSettings) -> Reason | None:
    if f.color is None:
        return Reason("health-code", "no health code on record: apply for one first")
    if f.color not in s.allowed_colors:
        return Reason("health-code", f"health code is {f.color}; only {'/'.join(s.allowed_colors)} may return")
    return None


def medical_observation(f: Facts, on: dt.date, s: RuleSettings) -> Reason | None:
    ends = [a["observationEnd"] for a in f.arrivals if a.get("observationEnd") is not None]
    running = [e for e in ends if _next_day(e) > on]
    if not running:
        return None
    end = max(running)
    return Reason("medical-observation",
                  f"under medical observation after arrival until {end:%Y-%m-%d %H:%M} UTC",
                  _next_day(end))


def home_observation(f: Facts, on: dt.date, s: RuleSettings) -> Reason | None:
    until = (f.residence or {}).get("homeObservationUntil")
    if until is None or _next_day(until) <= on:
        return None
    return Reason("home-observation", f"under home observation until {until:%Y-%m-%d}", _next_day(until))


def fever_clinic(f: Facts, on: dt.date, s: RuleSettings) -> Reason | None:
    start = on - dt.timedelta(days=s.clinic_visit_days)
    for visit in sorted(f.clinic_visits, key=lambda v: v["time"], reverse=True):
        day = visit["time"].date()
        if not start <= day <= on:
            continue
        result = visit.get("nucleicAcidResult")
        if result == "NEGATIVE" and visit.get("resultAt") is not None and visit["resultAt"].date() <= on:
            continue
        state = {"POSITIVE": "a positive result"}.get(result or "", "no negative result yet")
        return Reason("fever-clinic", f"fever-clinic visit on {day:%Y-%m-%d} with {state} "
                      f"(within {s.clinic_visit_days} days)")
    return None


def community_lockdown(f: Facts, on: dt.date, s: RuleSettings) -> Reason | None:
    if s.lockdown_excludes and f.community_locked_down:
        return Reason("community-lockdown", "lives in a residential community under lockdown")
    return None


#: The rules, in the order their reasons are listed.
RULES: tuple[tuple[str, Callable[[Facts, dt.date, RuleSettings], Reason | None]], ...] = (
    ("health-code", health_code),
    ("medical-observation", medical_observation),
    ("home-observation", home_observation),
    ("fever-clinic", fever_clinic),
    ("community-lockdown", community_lockdown),
)


def evaluate(facts: Facts, on: dt.date, settings: RuleSettings) -> list[Reason]:
    """Every reason this person may not return on ``on`` (empty: may return)."""
    return [r for _name, rule in RULES if (r := rule(facts, on, settings)) is not None]


def may_return_from(reasons: list[Reason]) -> dt.date | None:
    """The first date every reason is over, when every reason has a known end."""
    if not reasons or any(r.until is None for r in reasons):
        return None
    return max(r.until for r in reasons if r.until is not None)
