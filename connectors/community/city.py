"""The street offices' part of the synthetic city: communities, their
resident registers and gate registration, in the offices' conventions:
district *names*, a Y/N lockdown flag, times as SQLite DATETIME text (naive
UTC). Gate entries are told household by household, so they are staged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.city.part import CityPart
from hub.city.person import Person
from hub.city.plan import CityPlan, Community
from hub.city.sqlite import datetime_text
from hub.ids import ZHENGZHOU_DISTRICTS

from .tables import metadata

__all__ = ["PART", "CommunityCity"]


class CommunityCity(CityPart):
    tables = metadata
    layouts = {
        "T_COMMUNITY": ("COMM_ID", "COMM_NAME", "STREET_NAME", "DISTRICT_NAME", "LOCKDOWN_FLAG"),
        "T_RESIDENT": ("RES_ID", "COMM_ID", "CERT_NO", "FULL_NAME", "TEL", "BUILDING", "ROOM", "RETURN_FROM",
                       "RETURN_DATE", "HOME_OBS_END"),
        "T_GATE_LOG": ("LOG_ID", "COMM_ID", "CERT_NO", "ENTER_TIME", "TEMPERATURE", "GATE_NAME"),
    }
    staged = {"T_GATE_LOG": "ENTER_TIME"}
    cache_mb = 32

    def start(self) -> None:
        self._residents = self.rows["T_RESIDENT"]
        self._gates = self.rows["T_GATE_LOG"]

    def places(self, plan: CityPlan) -> None:
        add = self.rows["T_COMMUNITY"].add
        for c in plan.communities:
            add((c.comm_id, c.name, c.street, ZHENGZHOU_DISTRICTS[c.district], "Y" if c.lockdown else "N"))

    def resident(self, person: Person, community: Community, building: str, room: str,
                 returned_from: str | None, returned_at: int | None, observation_end: int | None) -> None:
        self._residents.add((None, community.comm_id, person.id_number, person.name, person.mobile, building, room,
                             returned_from, datetime_text(returned_at) if returned_at is not None else None,
                             datetime_text(observation_end) if observation_end is not None else None))

    def gate_entry(self, person: Person, community: Community, at: int, temperature: float, gate: str) -> None:
        self._gates.add((None, community.comm_id, person.id_number, datetime_text(at), temperature, gate))

    def samples(self, plan: CityPlan) -> Mapping[str, Any]:
        return {"scopes": {"community": plan.sample_community().comm_id}}


PART = CommunityCity
