"""The transport bureau's part of the synthetic city: its checkpoints, every
pass through them and every arrival with its observation, times as epoch
seconds (the bureau's convention). Passes and arrivals are told out of time
order (household by household), so both tables are staged and sorted."""

from __future__ import annotations

from hub.city.part import CityPart
from hub.city.person import Person
from hub.city.plan import Checkpoint, CityPlan

from .tables import metadata

__all__ = ["PART", "TransportCity"]

#: The checkpoints where a car's plate is recorded.
_ROAD_KINDS = frozenset({"HIGHWAY_TOLL", "CITY_ROAD"})


class TransportCity(CityPart):
    tables = metadata
    layouts = {
        "checkpoint": ("cp_id", "cp_name", "cp_type", "district_code"),
        "pass_record": ("rec_id", "cp_id", "id_card", "traveller_name", "mobile", "direction", "pass_ts",
                        "origin_city", "origin_region", "plate_no"),
        "inbound_traveller": ("arr_id", "id_card", "arrive_kind", "from_place", "arrive_ts", "flight_no",
                              "obs_start_ts", "obs_end_ts", "obs_site"),
    }
    staged = {"pass_record": "pass_ts", "inbound_traveller": "arrive_ts"}

    def start(self) -> None:
        self._passes = self.rows["pass_record"]
        self._arrivals = self.rows["inbound_traveller"]

    def places(self, plan: CityPlan) -> None:
        add = self.rows["checkpoint"].add
        for cp in plan.checkpoints:
            add((cp.cp_id, cp.name, cp.kind, cp.district))

    def checkpoint_pass(self, checkpoint: Checkpoint, person: Person, direction: str, at: int,
                        origin_city: str | None, origin_region: str | None, plate: str | None) -> None:
        self._passes.add((None, checkpoint.cp_id, person.id_number, person.name, person.mobile, direction, at,
                          origin_city, origin_region, plate if checkpoint.kind in _ROAD_KINDS else None))

    def arrival(self, person: Person, kind: str, from_place: str, arrived_at: int, flight: str | None,
                observation_start: int, observation_end: int, observation_site: str) -> None:
        self._arrivals.add((None, person.id_number, kind, from_place, arrived_at, flight, observation_start,
                            observation_end, observation_site))


PART = TransportCity
