"""What every resolver receives as ``info.context``: who asks, why, what they
may read, and the request's loaders."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hub.access.admission import Admission
from hub.access.tokens import Identity

from .cursors import Cursors, cursor_key
from .loaders import Loaders

if TYPE_CHECKING:
    from hub.audit.grants import EmergencyGrants
    from hub.audit.trail import AuditLog
    from hub.workflows.commitments import Commitments
    from hub.workflows.rules import RuleSettings


#: GraphQL types each of whose objects is one person's data, and the attribute
#: holding that person's ID number (``schema.records.register`` adds every
#: unified type carrying an ``idNumber``: Person, a checkpoint pass, a clinic
#: visit, an excluded pupil, ...). An object of one of them in the answer puts
#: its person in the audit entry; an object the answer does not hold (a page
#: of which only ``totalCount`` was asked, a node nulled by an error) does not.
PERSON_RECORDS: dict[str, str] = {}


def person_record(type_name: str, attribute: str = "idNumber") -> None:
    """Make every object of ``type_name`` in an answer touch the person ``attribute`` names."""
    PERSON_RECORDS[type_name] = attribute


class _Watch(Mapping[str, Callable[[list[Any]], None]]):
    """:data:`PERSON_RECORDS` as callbacks adding the persons of objects to ``touched``."""

    __slots__ = ("_touched",)

    def __init__(self, touched: set[str]) -> None:
        self._touched = touched

    def __getitem__(self, name: str) -> Callable[[list[Any]], None]:
        attribute = PERSON_RECORDS[name]
        touched = self._touched
        return lambda objects: touched.update(getattr(o, attribute) for o in objects)

    def __iter__(self) -> Iterator[str]:
        return iter(PERSON_RECORDS)

    def __len__(self) -> int:
        return len(PERSON_RECORDS)


@dataclass
class RequestContext:
    identity: Identity
    purpose: str | None
    loaders: Loaders
    admission: Admission | None = None
    #: The audit trail, for the fields that read it (auditLog, accessHistory).
    audit: AuditLog | None = None
    #: Loaders for the hub's own decisions (the reopening and return-to-work
    #: rules): the fields policies/_workflows.toml lists, the same row scope.
    internal: Loaders | None = None
    rules: RuleSettings | None = None
    #: Return-to-work commitments (the hub's own database).
    commitments: Commitments | None = None
    #: This hub's province code: other ID numbers are visitors, asked of peers.
    province: str = "41"
    #: How many more hubs a visitor's code may be asked of (``X-Hub-Hops``, connectors/peer/wire.py).
    hops: int = 2
    #: Counts below this are suppressed in the statistics (``[statistics] k``).
    statistics_k: int = 10
    #: One "now" per request, so every "last N days" in it agrees.
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    #: "Last N days" row filters, by N (schema.records.since_cutoff).
    cutoffs: dict[int, Any] = field(default_factory=dict)
    #: ID numbers of every person whose data is in the answer, and of every
    #: person asked for by ID number (the audit entry's persons): see
    #: :data:`PERSON_RECORDS` and :meth:`touch`.
    touched: set[str] = field(default_factory=set)
    #: Signs and opens the lists' cursors (hub.execution.cursors); without one
    #: (a context made by hand), a key of this context's own.
    cursors: Cursors | None = None
    #: Break-glass grants (the hub's own database), for the fields that ask and review them.
    grants: EmergencyGrants | None = None
    #: The emergency grant this request is answered under, or that it asked for (its
    #: audit entry names it); ``created``: asked for by this request.
    grant_id: str | None = None
    created: bool = False

    def __post_init__(self) -> None:
        if self.cursors is None:
            self.cursors = Cursors(cursor_key(secrets.token_urlsafe(32)), self.identity.department)

    def release(self) -> None:
        """The request is answered: its loaders let go of what they hold (``Loaders.release``)."""
        self.loaders.release()
        if self.internal is not None:
            self.internal.release()

    def touch(self, *id_numbers: str) -> None:
        """Put persons in this request's audit entry: asked for by ID number, or
        shown by a field that lists ID numbers (an audit entry's persons)."""
        self.touched.update(id_numbers)

    def watch(self) -> Mapping[str, Callable[[list[Any]], None]]:
        """For the executor: per person-record type, what to do with the objects
        of it the answer holds (touch their persons); made when a type is met,
        not for every type at every request."""
        return _Watch(self.touched)

    async def person_in_scope(self, id_number: str) -> bool:
        """Whether a scoped department may see this person (unscoped: always).

        A school sees its pupils and staff, a community its residents, an
        enterprise its employees: the person must appear in one of the scoped
        views, read through the same row filter as everything else.
        """
        if self.admission is None or not self.admission.person_views:
            return True
        for view in self.admission.person_views:
            if await self.loaders.records(view, "idNumber").load(id_number):
                return True
        return False
