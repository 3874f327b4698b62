"""A person of the synthetic city, as the model knows them while their
household is generated: who they are, the state of their health code, when
they were away or isolated, and where they study or work.

The city parts (:mod:`hub.city.part`) receive these objects with every event
about a person; a part reads them and never changes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.city.plan import Enterprise, School

__all__ = ["COLOURS", "FOREVER", "GREEN", "GREEN_REASON", "RED", "YELLOW", "Person"]

#: Health-code levels, in the order of severity.
GREEN, YELLOW, RED = 0, 1, 2
#: The colour of each level, as the unified graph names it.
COLOURS = ("GREEN", "YELLOW", "RED")
GREEN_REASON = "健康申报正常"
#: An end of time: blocked "until further notice".
FOREVER = 1 << 62


class Person:
    """One resident (or visitor).

    ``role``: F father/husband, M mother/wife, P single parent, C child,
    G grandparent, S single adult, E elderly, V visitor from elsewhere.
    ``grade``: a child's school grade (1-12; 0 and below: not yet at school),
    None for adults. ``region``: the GB/T 2260 code of the ID number.
    ``level``, ``reason``, ``updated_at``: the health code (GREEN/YELLOW/RED,
    see :data:`COLOURS`). ``returned_from``, ``returned_at``,
    ``observation_end``: the last return to the city a community registers.
    ``school``: where a pupil is enrolled or a teacher teaches; ``employers``:
    the enterprises whose registers list them. Times are epoch seconds (UTC).
    """

    __slots__ = (
        "age",
        "blocks",
        "employers",
        "female",
        "forced",
        "grade",
        "id_number",
        "level",
        "mobile",
        "name",
        "observation_end",
        "reason",
        "region",
        "returned_at",
        "returned_from",
        "role",
        "school",
        "updated_at",
    )

    def __init__(self, role: str, female: bool, age: float, grade: int | None, name: str,
                 mobile: str | None, id_number: str, region: str) -> None:
        self.role, self.female, self.age, self.grade = role, female, age, grade
        self.name, self.mobile, self.id_number, self.region = name, mobile, id_number, region
        self.level, self.reason, self.updated_at = GREEN, GREEN_REASON, 0
        self.blocks: list[tuple[int, int]] | None = None  # away / isolated: no gate entries
        self.forced: list[int] | None = None  # gate entries that must be there (coming home)
        self.returned_from: str | None = None
        self.returned_at: int | None = None
        self.observation_end: int | None = None
        self.school: School | None = None
        self.employers: tuple[Enterprise, ...] = ()

    @property
    def colour(self) -> str:
        """The health code's colour: GREEN, YELLOW or RED."""
        return COLOURS[self.level]

    def status(self, level: int, reason: str, ts: int) -> None:
        if level > self.level or (level == self.level and ts > self.updated_at):
            self.level, self.reason, self.updated_at = level, reason, ts

    def block(self, start: int, end: int) -> None:
        if self.blocks is None:
            self.blocks = []
        self.blocks.append((start, end))

    def blocked(self, ts: int) -> bool:
        return self.blocks is not None and any(s <= ts < e for s, e in self.blocks)

    def force(self, ts: int) -> None:
        if self.forced is None:
            self.forced = []
        self.forced.append(ts)
