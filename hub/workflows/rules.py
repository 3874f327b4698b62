"""Who may return (to school, to work) on a given date, and why not.

The rules the departments apply, in one readable place. Each rule has a name
(it appears in answers as ``reason.rule``), reads the facts the hub gathered
about one person, and either lets the person through or gives a reason and,
where the data says so, the date from which the person may return. The
thresholds are configuration (``[rules]`` in the hub's TOML file).

A fact the hub could not learn (its source did not answer) is never taken
for a fact that is absent: the person gets a ``source-unavailable`` reason
naming the source, and counts as *undecided* unless another rule already keeps
them home. Nobody whose facts are unknown is counted as one who may return.

>>> facts = Facts("410105201003071234", color="YELLOW")
>>> [r.rule for r in evaluate(facts, dt.date(2020, 4, 20), RuleSettings())]
['health-code']
>>> facts = Facts("410105201003071234", unknown=[Unknown("health code", "healthcode", "no answer within 2s")])
>>> reasons = evaluate(facts, dt.date(2020, 4, 20), RuleSettings())
>>> [(r.rule, r.source) for r in reasons], undecided(reasons)
([('source-unavailable', 'healthcode')], True)
"""

from __future__ import annotations

import dataclasses
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
    #: A fever or a symptom declared to an employer this many days before the date counts.
    declaration_days: int = 7
    #: A declared temperature from this many °C is a fever.
    fever_temperature: float = 37.3
    #: An arrival from abroad or another province this many days before the date
    #: keeps a person home (0: the rule is off).
    arrival_days: int = 14
    #: Having shared a place with a case (a red code, a positive nucleic-acid result)
    #: this many days before the date keeps a person home (0: the rule is off).
    contact_days: int = 14


@dataclass
class Facts:
    """What the hub knows about one person, gathered across the sources."""

    id_number: str
    color: str | None = None
    arrivals: list[Record] = field(default_factory=list)
    clinic_visits: list[Record] = field(default_factory=list)
    residence: Record | None = None
    community_locked_down: bool = False
    #: When the person shared a place with a case (hub/workflows/contacts.py), for key persons.
    case_contacts: list[dt.datetime] = field(default_factory=list)
    #: Daily health declarations to employers (None: not asked, as for school reopening).
    declarations: list[Record] | None = None
    #: Facts that could not be learnt, each naming the source that did not answer.
    unknown: list[Unknown] = field(default_factory=list)

    def knows(self, fact: str) -> bool:
        return all(u.fact != fact for u in self.unknown)


@dataclass(frozen=True)
class Unknown:
    """One fact about a person the hub could not learn, and why."""

    #: "health code", "arrivals", "fever-clinic visits", "residence", "community lockdown",
    #: "health declarations".
    fact: str
    #: The connector that did not answer.
    connector: str
    #: Its one-line cause ("no answer within 2s").
    cause: str
    #: The error's code (SOURCE_UNAVAILABLE, SOURCE_TIMEOUT, SOURCE_CIRCUIT_OPEN).
    code: str = "SOURCE_UNAVAILABLE"


@dataclass(frozen=True)
class Reason:
    rule: str
    detail: str
    #: The first date the person may return, where the data says (else None).
    until: dt.date | None = None
    #: Rule ``source-unavailable``: the connector that did not answer.
    source: str | None = None


#: The rule of facts that could not be learnt: the person is undecided.
UNAVAILABLE = "source-unavailable"


def _next_day(moment: dt.datetime) -> dt.date:
    """The first whole day after ``moment`` (observation ends mid-day)."""
    day = moment.date()
    return day if moment.time() == dt.time(0) else day + dt.timedelta(days=1)


def health_code(f: Facts, on: dt.date, s: RuleSettings) -> Reason | None:
    if f.color is None and not f.knows("health code"):
        return None  # not "no code on record": the source-unavailable reason says why
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


def health_declaration(f: Facts, on: dt.date, s: RuleSettings) -> Reason | None:
    start = on - dt.timedelta(days=s.declaration_days)
    for d in sorted(f.declarations or (), key=lambda d: d["date"], reverse=True):
        day = d["date"]
        if not start <= day <= on:
            continue
        fever = d.get("temperature") is not None and d["temperature"] >= s.fever_temperature
        if fever or d.get("hasSymptoms"):
            what = f"a fever (from {s.fever_temperature} °C)" if fever else "symptoms"
            return Reason("health-declaration", f"declared {what} on {day:%Y-%m-%d} "
                          f"(within {s.declaration_days} days)", day + dt.timedelta(days=s.declaration_days + 1))
    return None


def recent_arrival(f: Facts, on: dt.date, s: RuleSettings) -> Reason | None:
    """Arrived from abroad or another province within ``arrival_days`` days."""
    if not s.arrival_days:
        return None
    start = on - dt.timedelta(days=s.arrival_days)
    recent = [a for a in f.arrivals
              if a.get("arrivedAt") is not None and start <= a["arrivedAt"].date() <= on]
    if not recent:
        return None
    latest = max(recent, key=lambda a: a["arrivedAt"])
    whence = {"ABROAD": "abroad", "OTHER_PROVINCE": "another province"}.get(latest.get("kind") or "",
                                                                            "elsewhere")
    return Reason("recent-arrival", f"arrived from {whence} on {latest['arrivedAt']:%Y-%m-%d} "
                  f"(within {s.arrival_days} days)",
                  until=latest["arrivedAt"].date() + dt.timedelta(days=s.arrival_days + 1))


def close_contact(f: Facts, on: dt.date, s: RuleSettings) -> Reason | None:
    """Shared a place with a case within ``contact_days`` days (hub/workflows/contacts.py);
    the reason names neither the place nor the case."""
    if not s.contact_days:
        return None
    start = on - dt.timedelta(days=s.contact_days)
    met = [t for t in f.case_contacts if start <= t.date() <= on]
    if not met:
        return None
    last = max(met)
    return Reason("close-contact", f"close contact of a case on {last:%Y-%m-%d} (within {s.contact_days} days)",
                  until=last.date() + dt.timedelta(days=s.contact_days + 1))


#: The rules, in the order their reasons are listed: the reopening plan's, return
#: to work's and the key persons' (hub/workflows/keypersons.py) alike.
RULES: tuple[tuple[str, Callable[[Facts, dt.date, RuleSettings], Reason | None]], ...] = (
    ("health-code", health_code),
    ("medical-observation", medical_observation),
    ("home-observation", home_observation),
    ("fever-clinic", fever_clinic),
    ("community-lockdown", community_lockdown),
    ("health-declaration", health_declaration),
    ("recent-arrival", recent_arrival),
    ("close-contact", close_contact),
)


def key_reasons(facts: Facts, on: dt.date, settings: RuleSettings, days: int) -> list[Reason]:
    """Every reason the person is a key person on ``on``: the reopening plan's own rules,
    with the question's ``days`` for arrivals and contacts (the facts must have been
    gathered with the same settings: ``for_key_persons``)."""
    return evaluate(facts, on, for_key_persons(settings, days))


def for_key_persons(settings: RuleSettings, days: int) -> RuleSettings:
    """The rules' settings with ``days`` as the arrival and contact windows."""
    return dataclasses.replace(settings, arrival_days=days, contact_days=days)


def unavailable(f: Facts) -> list[Reason]:
    """One ``source-unavailable`` reason per source that left facts unknown."""
    by_source: dict[str, list[Unknown]] = {}
    for u in f.unknown:
        by_source.setdefault(u.connector, []).append(u)
    return [Reason(UNAVAILABLE, f"{', '.join(dict.fromkeys(u.fact for u in us))} unknown: the "
                                f"{source} source did not answer ({us[0].cause})", source=source)
            for source, us in by_source.items()]


def evaluate(facts: Facts, on: dt.date, settings: RuleSettings) -> list[Reason]:
    """Every reason this person may not return on ``on`` (empty: may return),
    a ``source-unavailable`` one for each source whose facts are unknown."""
    known = [r for _name, rule in RULES if (r := rule(facts, on, settings)) is not None]
    return known + unavailable(facts)


def undecided(reasons: list[Reason]) -> bool:
    """Facts are missing and no rule that could be checked keeps the person home."""
    return bool(reasons) and all(r.rule == UNAVAILABLE for r in reasons)


def may_return_from(reasons: list[Reason]) -> dt.date | None:
    """The first date every reason is over, when every reason has a known end."""
    if not reasons or any(r.until is None for r in reasons):
        return None
    return max(r.until for r in reasons if r.until is not None)
