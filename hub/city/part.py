"""A source's part of the synthetic city.

The engine (:mod:`hub.city.generate`) models the city: its plan (communities,
schools, enterprises, checkpoints, hospitals), its households and what
happened to them. It knows no source: it tells every *part* what happened, in
neutral terms, and each part writes its own tables in its own encoding. A part
lives in its source's folder (``connectors/<source>/city.py``) and is named by
the source's ``city`` ("module:attribute", see :mod:`connectors.registry`).

Neutral values: times are epoch seconds (``int``, UTC), dates
``datetime.date``; a health code's colour is ``GREEN``, ``YELLOW`` or ``RED``;
a nucleic-acid result ``NEGATIVE``, ``POSITIVE`` or None while pending;
districts and regions are GB/T 2260 codes; kinds, directions, roles and
dispositions are the unified graph's (``ABROAD``, ``IN``, ``PRINCIPAL``,
``ISOLATION``...). Places are the plan's objects (:mod:`hub.city.plan`),
people :class:`hub.city.person.Person`. Handlers run in the order the city
happens; a part writes rows in the order it is told, and a table written out
of time order is *staged* (copied over sorted by its time column at the end).

A part is a subclass of :class:`CityPart`, made once per generation. It
handles the events it overrides (it is not called for the others) and may add
rows of its own: :meth:`CityPart.household` is called for every household
after its events, with :attr:`CityPart.rng`, a generator of the part's own
(from the seed and the part's name, so a part never changes what the others
write).
An outside package adds its part the same way as the built-in sources::

    from sqlalchemy import Column, Integer, MetaData, String, Table
    from hub.city.model import DAYS_14, HOURS_ANY
    from hub.city.part import CityPart

    metadata = MetaData()
    Table("venue", metadata, Column("venue_id", String(8), primary_key=True),
          Column("district", String(6)))
    Table("scan", metadata, Column("scan_id", Integer, primary_key=True),
          Column("venue_id", String(8)), Column("id_card", String(18)),
          Column("scan_ts", Integer))

    class VenueCity(CityPart):
        tables = metadata
        layouts = {"venue": ("venue_id", "district"),
                   "scan": ("scan_id", "venue_id", "id_card", "scan_ts")}
        staged = {"scan": "scan_ts"}  # scans come household by household

        def places(self, plan):  # the city's plan, before anyone lives in it
            self.venue_of = {}
            for i, district in enumerate(plan.district_population):
                self.venue_of[district] = f"V{i:03d}"
                self.rows["venue"].add((f"V{i:03d}", district))

        def household(self, household):  # who lives where, and where they work
            venue = self.venue_of[household.district]
            for person in household.members:
                if self.rng.random() < 0.3:
                    at = self.clock.at(self.rng, DAYS_14, HOURS_ANY)
                    self.rows["scan"].add((None, venue, person.id_number, at))

        def samples(self, plan):  # ids for the manifest's samples
            return {"venue_id": "V000"}

    PART = VenueCity  # and in the source's __init__.py: sql_source(..., city="venues.city:PART")

Rows are tuples in the order of ``layouts`` (checked against ``tables``, so a
changed connector fails loudly); ``None`` for an integer primary key lets
SQLite number the rows 1, 2, ... in the order they are written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from random import Random
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from hub.city.model import Clock
    from hub.city.person import Person
    from hub.city.plan import Checkpoint, CityPlan, Community, Enterprise, Hospital, School
    from hub.city.sqlite import Sink

__all__ = ["EVENTS", "NEGATIVE", "POSITIVE", "CityPart", "Events", "Household", "registered_parts"]

#: Nucleic-acid results.
NEGATIVE, POSITIVE = "NEGATIVE", "POSITIVE"

#: What a part may be told, in the order a city happens (methods of :class:`CityPart`).
EVENTS = ("places", "health_code", "resident", "gate_entry", "checkpoint_pass", "arrival", "clinic_visit",
          "enrolment", "job", "household", "staff_member", "school_class")


class Household:
    """The people of one flat, given to :meth:`CityPart.household` after every
    event about them (their jobs and school places included)."""

    __slots__ = ("building", "community", "members", "plate", "room")

    def __init__(self, community: Community, building: str, room: str, members: list[Person],
                 plate: str | None) -> None:
        self.community, self.building, self.room = community, building, room
        self.members, self.plate = members, plate

    @property
    def district(self) -> str:
        """The home district's GB/T 2260 code."""
        return self.community.district


class CityPart:
    """One source's part of the synthetic city (see the module's docstring)."""

    #: The source's tables: its SQLite file has exactly these.
    tables: ClassVar[MetaData]
    #: Per table, the column order of the tuples the part writes (every table has one).
    layouts: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: Tables written out of time order: table -> the time column to sort them by.
    staged: ClassVar[Mapping[str, str]] = {}
    #: SQLite page cache while writing, in MB (a big index in random order needs more).
    cache_mb: ClassVar[int] = 16

    def __init__(self, name: str, rows: Mapping[str, Sink], clock: Clock, seed: int) -> None:
        #: The source's name (its file is ``<name>.sqlite``).
        self.name = name
        #: Table name -> its sink: ``self.rows["t"].add(row_tuple)``.
        self.rows = rows
        #: ``now`` and the calendar: ``clock.now_ts``, ``clock.at(rng, days, hours)``.
        self.clock = clock
        #: The part's own random numbers, the same for the same seed.
        self.rng = Random(f"{seed}/part/{name}")
        #: The city's plan, from :meth:`places` on.
        self.plan: CityPlan | None = None
        self.start()

    def start(self) -> None:
        """Per-generation set-up (``__init__`` has set the attributes)."""

    # ----------------------------------------------------------------- events
    def places(self, plan: CityPlan) -> None:
        """The city's plan, before anyone lives in it: communities, schools and
        their classes, enterprises, checkpoints, hospitals."""

    def health_code(self, person: Person, colour: str, reason: str, updated_at: int, issuer: str) -> None:
        """A resident's current health code."""

    def resident(self, person: Person, community: Community, building: str, room: str,
                 returned_from: str | None, returned_at: int | None, observation_end: int | None) -> None:
        """A resident registered at home; the return to the city the community
        knows of and the end of observation after it, if any."""

    def gate_entry(self, person: Person, community: Community, at: int, temperature: float, gate: str) -> None:
        """A resident through a gate of their community (the last 14 days)."""

    def checkpoint_pass(self, checkpoint: Checkpoint, person: Person, direction: str, at: int,
                        origin_city: str | None, origin_region: str | None, plate: str | None) -> None:
        """Someone (a resident or a visitor) through a checkpoint, ``IN`` or
        ``OUT``, by car (``plate``) or not (the last 30 days)."""

    def arrival(self, person: Person, kind: str, from_place: str, arrived_at: int, flight: str | None,
                observation_start: int, observation_end: int, observation_site: str) -> None:
        """An arrival from ``ABROAD`` or from a high-risk city (``OTHER_PROVINCE``)
        and the medical observation after it."""

    def clinic_visit(self, person: Person, hospital: Hospital, phone: str | None, at: int, temperature: float,
                     diagnosis: str, nucleic_acid: str | None, result_at: int | None, disposition: str) -> None:
        """A visit to a fever clinic; ``phone``: the patient's or a guardian's."""

    def enrolment(self, person: Person, school: School, class_id: int, grade: int,
                  guardian_phone: str | None) -> None:
        """A pupil in a class of a school; ``grade`` 1-12."""

    def job(self, person: Person, enterprise: Enterprise, post: str, hired_on: date) -> None:
        """An employee on an enterprise's register."""

    def staff_member(self, school: School, id_number: str, name: str, phone: str | None, role: str) -> None:
        """A member of a school's staff (once every household is known)."""

    def school_class(self, school: School, class_id: int, grade: int, class_no: int,
                     head_teacher: str | None) -> None:
        """A class and its head teacher's ID number (once every household is known)."""

    # ----------------------------------------------------------------- hooks
    def household(self, household: Household) -> None:
        """Rows of the part's own for one household, after every event about it."""

    def samples(self, plan: CityPlan) -> Mapping[str, Any]:
        """Ids for the manifest's ``samples`` (after the city is complete);
        ``{"scopes": {kind: id}}`` adds a row scope to ``samples["scopes"]``."""
        return {}


def _ignore(*_args: Any) -> None:
    return None


def _fan_out(handlers: list[Callable[..., None]]) -> Callable[..., None]:
    if not handlers:
        return _ignore
    if len(handlers) == 1:
        return handlers[0]

    def fan(*args: Any) -> None:
        for handler in handlers:
            handler(*args)

    return fan


class Events:
    """What the engine calls: one attribute per event of :data:`EVENTS`, which
    calls that handler of every part that overrides it, in the parts' order
    (the handler itself when only one part has it; nothing when none has)."""

    places: Callable[..., None]
    health_code: Callable[..., None]
    resident: Callable[..., None]
    gate_entry: Callable[..., None]
    checkpoint_pass: Callable[..., None]
    arrival: Callable[..., None]
    clinic_visit: Callable[..., None]
    enrolment: Callable[..., None]
    job: Callable[..., None]
    household: Callable[..., None]
    staff_member: Callable[..., None]
    school_class: Callable[..., None]

    def __init__(self, parts: list[CityPart]) -> None:
        #: Whether a part wants :meth:`CityPart.household` (the engine skips making households if not).
        self.wants_households = False
        for event in EVENTS:
            default = getattr(CityPart, event)
            handlers = [getattr(p, event) for p in parts if getattr(type(p), event) is not default]
            setattr(self, event, _fan_out(handlers))
            if event == "household" and handlers:
                self.wants_households = True


def registered_parts() -> dict[str, type[CityPart]]:
    """The part of every registered source the city has a file for, in registry order."""
    from connectors.registry import GROUP, sources

    parts: dict[str, type[CityPart]] = {}
    for name, source in sources().items():
        if not source.generated:
            continue
        if source.city is None:
            raise LookupError(f"source {name} (entry-point group {GROUP}) has generated=True but no "
                              "city part: give sql_source(..., city='module:PART')")
        part = source.load_city()
        if not (isinstance(part, type) and issubclass(part, CityPart)):
            raise TypeError(f"the city part {source.city!r} of source {name} is not a subclass of "
                            "hub.city.part.CityPart")
        parts[name] = part
    return parts
