"""Statistics (purpose ``statistics``): tables of counts, counted in the sources
and published with disclosure control, so that a department that may read
them never receives a person.

Every table is counted by its source (``GROUP BY`` through the SQL driver,
``Loaders.aggregate``, under the token's row scope): no person's record
reaches the hub. Then ``hub.execution.disclosure.protect`` suppresses every
count below ``[statistics] k`` (default 10), totals included, and enough
others that no suppressed count follows from the rest; a suppressed count is
``{count: null, suppressed: true}``, never a 0. What each table counts, and
what cannot be counted this way, is in the README's "Governance" section.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.types import Info

from connectors.views import Condition, Where
from hub.execution.disclosure import protect
from hub.ids import ZHENGZHOU_DISTRICTS

from .arguments import check_days

#: Default of every day table's ``days``.
DEFAULT_DAYS = 14
COLORS = (("GREEN", "green code"), ("YELLOW", "yellow code"), ("RED", "red code"))
ELSEWHERE = "ELSEWHERE"
#: A table's price: rows and cells as at the default days; each day more adds a column.
_ROWS = 20
_DAY_TABLE = {"cost": 50, "cost_per": {"days": _ROWS * 2}}


@strawberry.type(description="One count of a table: null and suppressed when it is below k or "
                             "could tell one that is (never a 0 in its place).")
class StatisticsCell:
    count: int | None
    suppressed: bool


@strawberry.type(description="A row's or a column's key (a district code, a day, a colour) and label.")
class StatisticsHeading:
    key: str
    label: str


@strawberry.type(description="One row of a table: its cells in the order of the table's columns.")
class StatisticsRow:
    key: str
    label: str
    cells: list[StatisticsCell] = strawberry.field(metadata={"list_size": DEFAULT_DAYS})
    total: StatisticsCell


@strawberry.type(description="A table of counts with its row, column and grand totals, every "
                             "count below k suppressed, and enough others that none can be "
                             "recovered from the rest of the table.")
class StatisticsTable:
    k: int = strawberry.field(description="Counts below this are suppressed ([statistics] k).")
    rowsAre: str = strawberry.field(description="What the rows are (district, origin, ...).")
    columnsAre: str = strawberry.field(description="What the columns are (colour, day, ...).")
    columns: list[StatisticsHeading] = strawberry.field(metadata={"list_size": DEFAULT_DAYS})
    rows: list[StatisticsRow] = strawberry.field(metadata={"list_size": _ROWS})
    columnTotals: list[StatisticsCell] = strawberry.field(metadata={"list_size": DEFAULT_DAYS})
    total: StatisticsCell
    suppressedCells: int = strawberry.field(
        description="How many counts of the table (totals included) are suppressed.")


Key = tuple[str, str]


def build(k: int, rows_are: str, columns_are: str, rows: Sequence[Key], columns: Sequence[Key],
          counts: dict[tuple[str, str], int]) -> StatisticsTable:
    """The published table of ``counts`` (row key, column key) -> count."""
    cells = [[counts.get((r, c), 0) for c, _ in columns] for r, _ in rows]
    t = protect(cells, k, columns=len(columns))

    def cell(r: int, c: int) -> StatisticsCell:
        value = t.published(r, c)
        return StatisticsCell(count=value, suppressed=value is None)

    R, C = len(rows), len(columns)
    return StatisticsTable(
        k=k, rowsAre=rows_are, columnsAre=columns_are,
        columns=[StatisticsHeading(key=key, label=label) for key, label in columns],
        rows=[StatisticsRow(key=key, label=label, cells=[cell(i, c) for c in range(C)],
                            total=cell(i, C)) for i, (key, label) in enumerate(rows)],
        columnTotals=[cell(R, c) for c in range(C)], total=cell(R, C),
        suppressedCells=len(t.suppressed))


#: Province-level divisions by the first two digits of their GB/T 2260 codes.
PROVINCES = {f"{code}0000": name for code, name in (
    ("11", "北京市"), ("12", "天津市"), ("13", "河北省"), ("14", "山西省"), ("15", "内蒙古自治区"),
    ("21", "辽宁省"), ("22", "吉林省"), ("23", "黑龙江省"), ("31", "上海市"), ("32", "江苏省"),
    ("33", "浙江省"), ("34", "安徽省"), ("35", "福建省"), ("36", "江西省"), ("37", "山东省"),
    ("41", "河南省"), ("42", "湖北省"), ("43", "湖南省"), ("44", "广东省"), ("45", "广西壮族自治区"),
    ("46", "海南省"), ("50", "重庆市"), ("51", "四川省"), ("52", "贵州省"), ("53", "云南省"),
    ("54", "西藏自治区"), ("61", "陕西省"), ("62", "甘肃省"), ("63", "青海省"),
    ("64", "宁夏回族自治区"), ("65", "新疆维吾尔自治区"), ("71", "台湾省"),
    ("81", "香港特别行政区"), ("82", "澳门特别行政区"))}
PROVINCES["ABROAD"] = "abroad"


def _province(prefix: Any) -> str:
    """A pass's origin: its province's code, or ABROAD (a pass without a region code
    names a country)."""
    return f"{prefix}0000" if prefix else "ABROAD"


def _district(code: Any) -> str:
    return code if code in ZHENGZHOU_DISTRICTS else ELSEWHERE


def district_rows(keys: Any) -> list[Key]:
    """The city's districts in code order, then one row for everywhere else if any."""
    rows = [(code, name) for code, name in sorted(ZHENGZHOU_DISTRICTS.items()) if code in keys]
    if ELSEWHERE in keys:
        rows.append((ELSEWHERE, "outside the city"))
    return rows


class Days:
    """The last ``days`` UTC days, today's included: the columns of a day table."""

    def __init__(self, info: Info, days: int) -> None:
        today = info.context.now.astimezone(dt.UTC).date()
        self.dates = [today - dt.timedelta(days=n) for n in range(check_days(days) - 1, -1, -1)]
        self.columns: list[Key] = [(d.isoformat(), d.isoformat()) for d in self.dates]
        start = dt.datetime.combine(self.dates[0], dt.time(), dt.UTC)
        self.since = start

    def where(self, field: str) -> Where:
        return (Condition(field, ">=", self.since),)

    def key(self, day: Any) -> str | None:
        return day.isoformat() if isinstance(day, dt.date) else None


async def _count(info: Info, view: str, by: Sequence[str], where: Where = (),
                 distinct: str | None = None) -> list[tuple[tuple[Any, ...], int]]:
    return await info.context.loaders.aggregate(view, by, where, distinct=distinct)


def _k(info: Info) -> int:
    return int(info.context.statistics_k)


@strawberry.type(description="Counts for the statistics purpose: tables counted in the sources, "
                             "small counts suppressed (see StatisticsTable).")
class Statistics:
    @strawberry.field(description="Counts below this are suppressed ([statistics] k).")
    def k(self, info: Info) -> int:
        return _k(info)

    @strawberry.field(description="Persons by the colour of their health code, by the district "
                                  "their ID number was issued in (the health-code platform "
                                  "holds no residence).", metadata={"cost": 50})
    async def healthCodes(self, info: Info) -> StatisticsTable | None:
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for (district, color), n in await _count(info, "HealthCode", ("district", "color")):
            counts[(_district(district), str(color))] += n
        rows = district_rows({r for r, _ in counts})
        return build(_k(info), "district of the ID number", "colour", rows, COLORS, counts)

    @strawberry.field(description="Health codes by their colour now and the (UTC) day of their "
                                  "last change, the last `days` days.", metadata=_DAY_TABLE)
    async def codeChanges(self, info: Info, days: int = DEFAULT_DAYS) -> StatisticsTable | None:
        d = Days(info, days)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for (color, day), n in await _count(info, "HealthCode", ("color", "day"),
                                            d.where("updatedAt")):
            if (key := d.key(day)) is not None:
                counts[(str(color), key)] += n
        return build(_k(info), "colour", "day", COLORS, d.columns, counts)

    @strawberry.field(description="Checkpoint passes into the city by the traveller's province of "
                                  "origin (or abroad) and (UTC) day, the last `days` days.",
                      metadata=_DAY_TABLE)
    async def checkpointInflow(self, info: Info, days: int = DEFAULT_DAYS) -> StatisticsTable | None:
        d = Days(info, days)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        where = (Condition("direction", "=", "IN"), *d.where("time"))
        for (region, day), n in await _count(info, "CheckpointPass", ("originProvince", "day"),
                                             where):
            if (key := d.key(day)) is not None:
                counts[(_province(region), key)] += n
        keys = {r for r, _ in counts}
        rows = [(code, name) for code, name in PROVINCES.items() if code in keys]
        rows += [(code, code) for code in sorted(keys - set(PROVINCES))]
        return build(_k(info), "province of origin (GB/T 2260), or abroad", "day", rows,
                     d.columns, counts)

    @strawberry.field(description="Arrivals from abroad and from another province by (UTC) day "
                                  "of arrival, the last `days` days.", metadata=_DAY_TABLE)
    async def arrivals(self, info: Info, days: int = DEFAULT_DAYS) -> StatisticsTable | None:
        d = Days(info, days)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for (kind, day), n in await _count(info, "Arrival", ("kind", "day"), d.where("arrivedAt")):
            if (key := d.key(day)) is not None:
                counts[(str(kind), key)] += n
        rows = [("ABROAD", "from abroad"), ("OTHER_PROVINCE", "from another province")]
        return build(_k(info), "arrival kind", "day", rows, d.columns, counts)

    @strawberry.field(description="Fever-clinic visits by the clinic's district and (UTC) day, "
                                  "the last `days` days.", metadata=_DAY_TABLE)
    async def clinicVisits(self, info: Info, days: int = DEFAULT_DAYS) -> StatisticsTable | None:
        d = Days(info, days)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for (district, day), n in await _count(info, "ClinicVisit", ("district", "day"),
                                               d.where("time")):
            if (key := d.key(day)) is not None:
                counts[(_district(district), key)] += n
        rows = district_rows({r for r, _ in counts})
        return build(_k(info), "district of the clinic", "day", rows, d.columns, counts)

    @strawberry.field(description="Key persons by category and the (UTC) day they became one, "
                                  "the last `days` days: each source counts its own category "
                                  "(distinct persons a day); close contacts are not counted "
                                  "(finding them joins two persons' events in the hub).",
                      metadata=_DAY_TABLE)
    async def keyPersons(self, info: Info, days: int = DEFAULT_DAYS) -> StatisticsTable | None:
        d = Days(info, days)
        asks = [
            ("CODE_NOT_GREEN", "code not green (by its last change)", "HealthCode",
             (Condition("color", "in", ["YELLOW", "RED"]), *d.where("updatedAt"))),
            ("UNDER_OBSERVATION", "medical observation begun", "Arrival", d.where("observationStart")),
            ("RECENT_ARRIVAL", "arrived from abroad or another province", "Arrival",
             d.where("arrivedAt")),
            ("FEVER_CLINIC", "visited a fever clinic", "ClinicVisit", d.where("time")),
        ]
        group = {"UNDER_OBSERVATION": "observationDay"}
        counts: dict[tuple[str, str], int] = {}
        for category, _label, view, where in asks:
            for (day,), n in await _count(info, view, (group.get(category, "day"),), where,
                                          distinct="idNumber"):
                if (key := d.key(day)) is not None:
                    counts[(category, key)] = n
        rows = [(category, label) for category, label, _v, _w in asks]
        return build(_k(info), "key-person category", "day", rows, d.columns, counts)


@strawberry.type
class StatisticsQuery:
    @strawberry.field(description="Tables of counts for the statistics purpose; never a person.")
    def statistics(self) -> Statistics:
        return Statistics()
