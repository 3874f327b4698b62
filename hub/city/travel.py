"""Journeys into and out of the city: returns from high-risk cities (home
observation), ordinary trips, arrivals from abroad (hotel observation),
commuters' cars at the city-road checkpoints and visitors from elsewhere. What
the parts are told: checkpoint passes (the last 30 days) and arrivals."""

from __future__ import annotations

from random import Random

from hub.city import catalog as cat
from hub.city.model import DAY, DAYS_30, DAYS_30_FLAT, HOUR, HOURS_TRAVEL, Clock
from hub.city.names import expand, plate_number
from hub.city.part import Events
from hub.city.person import FOREVER, GREEN, GREEN_REASON, RED, YELLOW, Person
from hub.city.plan import Checkpoint, CityPlan, Community, by_nearest
from hub.ids import OTHER_PROVINCE_REGIONS

__all__ = ["VISITOR_REGIONS", "Travel"]

HIGH_RISK = expand([(f"{c}|{code}", w) for c, code, w in cat.HIGH_RISK_CITIES], 500)
TRIPS = expand([(f"{c}|{code}|{int(far)}", w) for c, code, w, far in cat.TRIP_CITIES], 500)
COUNTRIES = expand([(c, w) for c, w, _ in cat.COUNTRIES], 500)
AIRLINES = {c: a for c, _, a in cat.COUNTRIES}
DOMESTIC_AIRLINES = ("CA", "MU", "CZ", "HU", "3U", "MF", "ZH", "GS")
RAILWAY_WEIGHTS = {"郑州东站": 55, "郑州站": 35, "郑州西站": 3, "郑州航空港站": 3, "新郑机场站": 2, "巩义南站": 2}
VISITOR_REGIONS = expand([(r, float(w)) for r, w in cat.VISITOR_WEIGHT.items()], 500)
ZHENGZHOU = ("郑州市", "410100")


class Travel:
    """Checkpoints by kind, and the journeys that pass them."""

    def __init__(self, plan: CityPlan, clock: Clock, events: Events, counts: dict[str, int],
                 samples: dict[str, str]) -> None:
        self.clock, self.counts, self.samples = clock, counts, samples
        self._checkpoint_pass = events.checkpoint_pass
        self._arrival = events.arrival
        cps = plan.checkpoints
        self.cp_rail = expand([(str(c.cp_id), float(RAILWAY_WEIGHTS.get(c.name, 1)))
                               for c in cps if c.kind == "RAILWAY"], 200)
        self.cp_by_id = {c.cp_id: c for c in cps}
        self.cp_toll = [c for c in cps if c.kind == "HIGHWAY_TOLL"]
        self.cp_road = [c for c in cps if c.kind == "CITY_ROAD"]
        self.cp_air = next(c for c in cps if c.kind == "AIRPORT" and c.name != cat.INTERNATIONAL_ARRIVALS)
        self.cp_intl = next(c for c in cps if c.name == cat.INTERNATIONAL_ARRIVALS)
        # The city-road checkpoints of a district, or of the nearest one with some.
        self.road_in = by_nearest(self.cp_road)

    def passes(self, cp: Checkpoint, p: Person, direction: str, ts: int, origin_city: str | None,
               origin_region: str | None, plate: str | None) -> None:
        """``p`` through ``cp``; only passes of the last 30 days are told."""
        if not self.clock.window_30 <= ts <= self.clock.now_ts:
            return
        cp.passes += 1
        self._checkpoint_pass(cp, p, direction, ts, origin_city, origin_region, plate)

    @staticmethod
    def _travellers(rng: Random, people: list[Person], together: float) -> list[Person]:
        if rng.random() < together:
            return people
        adults = [p for p in people if p.grade is None and p.age < 70] or people
        return [adults[int(rng.random() * len(adults))]]

    def _mode(self, rng: Random, plate: str | None, far: bool, car: float) -> tuple[Checkpoint, str | None, str]:
        """(checkpoint, plate, kind) of a journey into or out of the city."""
        if plate is not None and not far and rng.random() < car:
            return self.cp_toll[int(rng.random() * len(self.cp_toll))], plate, "car"
        if far and rng.random() < 0.35:
            return self.cp_air, None, "air"
        return self.cp_by_id[int(self.cp_rail[int(rng.random() * len(self.cp_rail))])], None, "rail"

    # ----------------------------------------------------------------- residents
    def high_risk_return(self, rng: Random, people: list[Person], comm: Community, building: str,
                         plate: str | None) -> None:
        clock, now = self.clock, self.clock.now_ts
        city, code = HIGH_RISK[int(rng.random() * len(HIGH_RISK))].split("|")
        arrive = clock.at(rng, DAYS_30_FLAT, HOURS_TRAVEL)
        leave = arrive - (5 + int(rng.random() * 55)) * DAY - int(rng.random() * 6 * HOUR)
        cp, car, mode = self._mode(rng, plate, rng.random() < 0.25, 0.35)
        flight = f"{DOMESTIC_AIRLINES[int(rng.random() * 8)]}{1000 + int(rng.random() * 9000)}" \
            if mode == "air" else None
        obs_end = arrive + 14 * DAY
        site = f"居家观察（{comm.name}{building}）"
        for p in self._travellers(rng, people, 0.6):
            self.counts["other_province"] += 1
            self.passes(cp, p, "OUT", leave, *ZHENGZHOU, car)
            self.passes(cp, p, "IN", arrive, city, code, car)
            self._arrival(p, "OTHER_PROVINCE", city, arrive, flight, arrive, obs_end, site)
            p.returned_from, p.returned_at, p.observation_end = city, arrive, obs_end
            if obs_end > now:
                p.status(YELLOW, "14天内有中高风险地区旅居史", min(now, arrive + 600 + int(rng.random() * 3 * HOUR)))
                self.samples.setdefault("observation_id_number", p.id_number)
            else:
                p.status(GREEN, GREEN_REASON, min(now, obs_end + int(rng.random() * 12 * HOUR)))
            p.block(leave, obs_end)
            p.force(arrive + 1800 + int(rng.random() * 2 * HOUR))

    def trip(self, rng: Random, people: list[Person], plate: str | None) -> None:
        clock, now = self.clock, self.clock.now_ts
        city, code, far = TRIPS[int(rng.random() * len(TRIPS))].split("|")
        cp, car, _mode = self._mode(rng, plate, far == "1", 0.6)
        leave = clock.on_day(rng, 1 + int(rng.random() * 40), HOURS_TRAVEL)
        back = leave + (1 + int(rng.random() * 12)) * DAY + int((rng.random() - 0.5) * 8 * HOUR)
        registered = rng.random() < 0.7
        for p in self._travellers(rng, people, 0.4):
            self.passes(cp, p, "OUT", leave, *ZHENGZHOU, car)
            if back <= now:
                self.passes(cp, p, "IN", back, city, code, car)
                p.force(back + 1800 + int(rng.random() * 2 * HOUR))
                if registered and back >= clock.window_30:
                    p.returned_from, p.returned_at = city, back
            p.block(leave, back if back <= now else FOREVER)

    def abroad(self, rng: Random, p: Person) -> None:
        now = self.clock.now_ts
        country = COUNTRIES[int(rng.random() * len(COUNTRIES))]
        airlines = AIRLINES[country]
        flight = f"{airlines[int(rng.random() * len(airlines))]}{100 + int(rng.random() * 900)}"
        arrive = self.clock.at(rng, DAYS_30_FLAT, HOURS_TRAVEL)
        start = min(now, arrive + 1800 + int(rng.random() * 3 * HOUR))
        hotel_end = start + 14 * DAY
        home_end = hotel_end + 7 * DAY
        hotel = f"郑州{cat.HOTEL_WORDS[int(rng.random() * len(cat.HOTEL_WORDS))]}酒店集中观察点"
        self.counts["abroad"] += 1
        self.samples.setdefault("arrival_id_number", p.id_number)
        self.passes(self.cp_intl, p, "IN", arrive, country, None, None)
        self._arrival(p, "ABROAD", country, arrive, flight, start, hotel_end, hotel)
        p.returned_from, p.returned_at, p.observation_end = country, arrive, home_end
        if now < hotel_end:
            p.status(RED, "集中隔离医学观察中", start)
        elif now < home_end:
            p.status(YELLOW, "境外入境居家观察中", hotel_end)
        else:
            p.status(GREEN, GREEN_REASON, min(now, home_end + int(rng.random() * 12 * HOUR)))
        p.block(0, home_end)
        p.force(hotel_end + 1800 + int(rng.random() * 2 * HOUR))

    def commute(self, rng: Random, people: list[Person], district: str, plate: str) -> None:
        """A household's car seen at city-road checkpoints over the month."""
        driver = next((p for p in people if p.grade is None and p.age < 65), None)
        if driver is None:
            return
        clock = self.clock
        roads = self.road_in[district]
        for _ in range(2 + int(rng.random() * 7)):
            ts = clock.at(rng, DAYS_30, HOURS_TRAVEL)
            if driver.blocked(ts):
                continue
            cp = roads[int(rng.random() * len(roads))] if rng.random() < 0.6 else \
                self.cp_road[int(rng.random() * len(self.cp_road))]
            self.passes(cp, driver, "IN" if rng.random() < 0.5 else "OUT", ts, "郑州市", district, plate)

    # ----------------------------------------------------------------- visitors
    def visit(self, rng: Random, v: Person) -> None:
        """A visitor's stay: in through a checkpoint, around by car if they came
        by car, and out again unless they are still here."""
        clock, now = self.clock, self.clock.now_ts
        region = v.region
        place = OTHER_PROVINCE_REGIONS[region]
        city = place[: place.index("市") + 1]
        henan = region.startswith("41")
        r = rng.random()
        plate = None
        if r < (0.55 if henan else 0.2):
            cp = self.cp_toll[int(rng.random() * len(self.cp_toll))]
            plate = plate_number(rng, cat.PLATE_PREFIX[region])
        elif not henan and r < 0.4:
            cp = self.cp_air
        else:
            cp = self.cp_by_id[int(self.cp_rail[int(rng.random() * len(self.cp_rail))])]
        arrive = clock.at(rng, DAYS_30, HOURS_TRAVEL)
        if arrive < clock.window_30:  # every visitor is seen arriving
            arrive += DAY
        leave = arrive + (1 + int(rng.random() * 10)) * DAY + int(rng.random() * 8 * HOUR)
        self.passes(cp, v, "IN", arrive, city, region, plate)
        if plate is not None:
            for _ in range(int(rng.random() * 4)):
                ts = arrive + int(rng.random() * (min(leave, now) - arrive))
                road = self.cp_road[int(rng.random() * len(self.cp_road))]
                self.passes(road, v, "IN" if rng.random() < 0.5 else "OUT", ts, city, region, plate)
        if leave <= now:
            self.passes(cp, v, "OUT", leave, *ZHENGZHOU, plate)
