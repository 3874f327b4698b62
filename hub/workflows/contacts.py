"""Close contacts: who shared a place with a person within a window of time.

The epidemiological investigation's question (``Query.closeContacts``) and a
key-person category (a close contact of a case). A contact event is a pass at
the same checkpoint, an entry at the same community gate or a scan at the same
venue, within ``window`` of one of the index person's. Which lists of events
count is :data:`PLACES` (view, its place key, its place view): nothing here
knows a source, only views, read through the request's loaders.

Batched: for each hop, one look-up per view for the events of every person of
the hop's frontier (by ``idNumber``), then one per view for every event at all
their places within the span of their times (``key IN (...)`` and ``time``
between), whatever the number of persons and places. The matching of those
events is :func:`match`, pure:

>>> t = dt.datetime(2020, 3, 1, 9, tzinfo=dt.UTC)
>>> index = [Event("VENUE", "V1", t, "A")]
>>> there = [Event("VENUE", "V1", t + dt.timedelta(minutes=20), "B"),
...          Event("VENUE", "V1", t + dt.timedelta(minutes=45), "C"),
...          Event("VENUE", "V2", t, "D")]
>>> sorted(match(index, there, dt.timedelta(minutes=30), exclude={"A"}))
['B']
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.views import Condition


@dataclass(frozen=True)
class Place:
    """A kind of place people are seen at: the view of its events and their place key."""

    kind: str
    view: str
    key: str
    place_view: str


#: The lists of events a contact is found in (CheckpointPass, CommunityEntry, VenueScan).
PLACES = (
    Place("CHECKPOINT", "CheckpointPass", "checkpointId", "Checkpoint"),
    Place("COMMUNITY_GATE", "CommunityEntry", "communityId", "Community"),
    Place("VENUE", "VenueScan", "venueId", "Venue"),
)


@dataclass(frozen=True)
class Event:
    kind: str
    place_id: str
    time: dt.datetime
    id_number: str


@dataclass(frozen=True)
class Overlap:
    """One contact event: where, the index person's time and the contact's."""

    kind: str
    place_id: str
    index_time: dt.datetime
    contact_time: dt.datetime
    #: Whom the contact met there (the index person, or on hop 2 a first-hop contact).
    met: str
    hop: int


@dataclass
class Contact:
    id_number: str
    hop: int
    overlaps: list[Overlap]


def events_of(place: Place, records: Iterable[dict[str, Any]]) -> list[Event]:
    """The records' events (a record whose time or place this caller may not read is none)."""
    out = []
    for r in records:
        at, where, who = r.get("time"), r.get(place.key), r.get("idNumber")
        if at is not None and where is not None and who is not None:
            out.append(Event(place.kind, str(where), at, str(who)))
    return out


def match(index: Sequence[Event], there: Sequence[Event], window: dt.timedelta,
          exclude: set[str], hop: int = 1) -> dict[str, list[Overlap]]:
    """Person -> each event of ``there`` within ``window`` of one of ``index``'s at the same
    place (people in ``exclude`` are never contacts), ordered by the contact's time."""
    by_place: dict[tuple[str, str], list[Event]] = {}
    for e in index:
        by_place.setdefault((e.kind, e.place_id), []).append(e)
    found: dict[str, list[Overlap]] = {}
    for e in there:
        if e.id_number in exclude:
            continue
        for mine in by_place.get((e.kind, e.place_id), ()):
            if abs(e.time - mine.time) <= window and e.id_number != mine.id_number:
                found.setdefault(e.id_number, []).append(
                    Overlap(e.kind, e.place_id, mine.time, e.time, mine.id_number, hop))
    for overlaps in found.values():
        overlaps.sort(key=lambda o: (o.contact_time, o.kind, o.place_id, o.index_time))
    return found


def _served(loaders: Any) -> list[Place]:
    """The kinds of place some configured source has events of."""
    out = []
    for p in PLACES:
        try:
            loaders.sources.serving(p.view)
        except KeyError:
            continue  # e.g. a hub without the venue source
        out.append(p)
    return out


async def _events(loaders: Any, places: Sequence[Place], people: Sequence[str],
                  since: dt.datetime) -> list[Event]:
    """Every event of ``people`` since ``since``: one look-up per view."""
    found = await asyncio.gather(*(
        loaders.records(p.view, "idNumber", (Condition("time", ">=", since),)).load_many(list(people))
        for p in places))
    return [e for p, rows in zip(places, found) for e in events_of(p, (r for rs in rows for r in rs))]


async def _around(loaders: Any, places: Sequence[Place], index: Sequence[Event],
                  window: dt.timedelta) -> list[Event]:
    """Every event at the places of ``index`` within the span of its times: one look-up per view."""
    asks = []
    for p in places:
        mine = [e for e in index if e.kind == p.kind]
        if not mine:
            continue
        ids = sorted({e.place_id for e in mine})
        lo = min(e.time for e in mine) - window
        hi = max(e.time for e in mine) + window
        where = (Condition("time", ">=", lo.replace(microsecond=0)),
                 Condition("time", "<=", hi.replace(microsecond=0) + dt.timedelta(seconds=1)))
        asks.append((p, loaders.records(p.view, p.key, where).load_many(ids)))
    out: list[Event] = []
    for p, future in asks:
        rows = await future
        out += events_of(p, (r for rs in rows for r in rs))
    return out


async def search(loaders: Any, index: str, since: dt.datetime, window: dt.timedelta,
                 hops: int = 1) -> list[Contact]:
    """The close contacts of ``index`` since ``since``: hop 1 met the index person, hop 2
    met a hop-1 contact; each person once, at their nearest hop, ordered by first contact."""
    return (await search_many(loaders, [index], since, window, hops)).get(index, [])


async def search_many(loaders: Any, indexes: Sequence[str], since: dt.datetime,
                      window: dt.timedelta, hops: int = 1) -> dict[str, list[Contact]]:
    """``search`` for several index persons at once (the same statements as for one):
    index person -> their contacts."""
    places = _served(loaders)
    out: dict[str, dict[str, Contact]] = {i: {} for i in indexes}
    frontier: dict[str, set[str]] = {i: {i} for i in indexes}  # index -> this hop's people
    for hop in range(1, hops + 1):
        people = sorted({p for ps in frontier.values() for p in ps})
        if not people or not places:
            break
        mine = await _events(loaders, places, people, since)
        there = await _around(loaders, places, mine, window)
        following: dict[str, set[str]] = {}
        for index, ps in frontier.items():
            known = out[index]
            exclude = {index, *known}
            found = match([e for e in mine if e.id_number in ps], there, window, exclude, hop)
            for person, overlaps in found.items():
                known[person] = Contact(person, hop, overlaps)
            following[index] = set(found)
        frontier = following
    return {i: sorted(cs.values(), key=lambda c: (c.hop, c.overlaps[0].contact_time, c.id_number))
            for i, cs in out.items()}


#: A close contact of a case: within this long of one of the case's events at the same place.
CONTACT_WINDOW = dt.timedelta(minutes=30)


async def cases(loaders: Any, since: dt.datetime) -> list[str]:
    """Everyone with a red code, or a positive nucleic-acid result since ``since``."""
    red, positive = await asyncio.gather(
        loaders.records("HealthCode", "color", forward=False).load("RED"),
        loaders.records("ClinicVisit", "nucleicAcidResult",
                        (Condition("time", ">=", since),)).load("POSITIVE"))
    return sorted({str(r["idNumber"]) for r in (*red, *positive)})


async def case_contacts(loaders: Any, people: Sequence[str], since: dt.datetime) -> dict[str, list[dt.datetime]]:
    """For each of ``people`` who shared a place with a case since ``since``: when."""
    wanted = set(people)
    index = await cases(loaders, since)
    if not index or not wanted:
        return {}
    found = await search_many(loaders, index, since, CONTACT_WINDOW)
    out: dict[str, list[dt.datetime]] = {}
    for contact in (c for cs in found.values() for c in cs):
        if contact.id_number in wanted:
            out.setdefault(contact.id_number, []).extend(o.contact_time for o in contact.overlaps)
    return out
