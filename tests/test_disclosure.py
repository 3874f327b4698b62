"""Disclosure control (hub/execution/disclosure.py), checked the way an attacker
would work: from what a table publishes (its cells and totals) try to recover
each suppressed count, by exact linear algebra and by trying every whole
number from 0 that fits, on tables hypothesis generates."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.execution.disclosure import Protected, determined, protect

Cell = tuple[int, int]


def lines(t: Protected) -> list[list[Cell]]:
    """Every relation a reader knows: each row's and column's cells add up to its
    total (the last cell of the line), the totals' rows and columns included."""
    R, C = t.rows, t.columns
    return ([[(r, c) for c in range(C + 1)] for r in range(R + 1)]
            + [[(r, c) for r in range(R + 1)] for c in range(C + 1)])


def _near(value: int, bound: int) -> Iterator[int]:
    """0 to ``bound``, nearest ``value`` first (an alternative is usually close)."""
    yield value
    for d in range(1, bound + 1):
        for v in (value - d, value + d):
            if 0 <= v <= bound:
                yield v


def alternative(t: Protected, cell: Cell) -> dict[Cell, int] | None:
    """Values of the suppressed cells, whole numbers from 0, that agree with every
    published count and every total's equation, with ``cell`` other than its
    true value; None when there is none (the cell is recovered)."""
    bound = t.values[t.rows][t.columns] + 1  # enough for any move by one; every count fits
    unknown = sorted(t.suppressed)
    known = {(r, c): t.values[r][c] for r in range(t.rows + 1) for c in range(t.columns + 1)
             if (r, c) not in t.suppressed}
    relations = lines(t)

    def consistent(values: dict[Cell, int]) -> bool:
        for line in relations:
            parts, total = line[:-1], line[-1]
            done = [values[x] for x in parts if x in values]
            if total in values and sum(done) > values[total]:
                return False
            if len(done) == len(parts) and total in values and sum(done) != values[total]:
                return False
        return True

    def propagate(values: dict[Cell, int]) -> dict[Cell, int] | None:
        values = dict(values)
        changed = True
        while changed:
            changed = False
            for line in relations:
                parts, total = line[:-1], line[-1]
                open_ = [x for x in line if x not in values]
                if len(open_) != 1:
                    continue
                x = open_[0]
                rest = sum(values[p] for p in parts if p != x)
                v = rest if x == total else values[total] - rest
                if not 0 <= v <= bound:
                    return None
                values[x] = v
                changed = True
        return values if consistent(values) else None

    def search(values: dict[Cell, int]) -> dict[Cell, int] | None:
        values_ = propagate(values)
        if values_ is None:
            return None
        free = [x for x in unknown if x not in values_]
        if not free:
            return values_
        x = free[0]
        for v in _near(t.values[x[0]][x[1]], bound):
            found = search({**values_, x: v})
            if found is not None:
                return found
        return None

    true = t.values[cell[0]][cell[1]]
    for v in _near(true, bound):
        if v == true:
            continue
        found = search({**known, cell: v})
        if found is not None:
            return found
    return None


def recovered(t: Protected) -> set[Cell]:
    """The suppressed cells whose value is the only one that fits."""
    return {cell for cell in t.suppressed if alternative(t, cell) is None}


def check(cells: list[list[int]], k: int) -> Protected:
    t = protect(cells, k)
    R, C = t.rows, t.columns
    for r in range(R + 1):
        for c in range(C + 1):
            value = t.values[r][c]
            if value < k:
                assert (r, c) in t.suppressed, (cells, k, (r, c))
            published = t.published(r, c)
            assert published is None or published == value
    assert [row[:-1] for row in t.values[:-1]] == cells  # the cells are the table's own
    assert all(t.values[r][C] == sum(cells[r]) for r in range(R))
    assert determined(t) == set(), (cells, k, sorted(t.suppressed))
    return t


tables = st.integers(1, 3).flatmap(lambda rows: st.integers(1, 3).flatmap(
    lambda cols: st.lists(st.lists(st.integers(0, 14), min_size=cols, max_size=cols),
                          min_size=rows, max_size=rows)))


@settings(max_examples=150, deadline=None)
@given(tables, st.integers(2, 10))
def test_no_suppressed_count_can_be_recovered_by_trying_every_value(cells: list[list[int]],
                                                                    k: int) -> None:
    t = check(cells, k)
    assert recovered(t) == set(), (cells, k, sorted(t.suppressed))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12).flatmap(lambda rows: st.integers(1, 14).flatmap(
    lambda cols: st.lists(st.lists(st.integers(0, 40), min_size=cols, max_size=cols),
                          min_size=rows, max_size=rows))), st.integers(2, 12))
def test_bigger_tables_leave_no_suppressed_count_determined(cells: list[list[int]], k: int) -> None:
    # Exact linear algebra only (in check): trying every value is exponential in the
    # suppressed cells, so it runs on the small tables above.
    check(cells, k)


def primary_only(cells: list[list[int]], k: int) -> Protected:
    t = protect(cells, k)
    t.suppressed = {(r, c) for r in range(t.rows + 1) for c in range(t.columns + 1)
                    if t.values[r][c] < k}
    return t


def test_the_checks_catch_primary_suppression_alone() -> None:
    # A row with one small cell: its total minus the others gives it back.
    leaky = primary_only([[12, 3], [20, 15]], 10)
    assert recovered(leaky) == {(0, 1)} and determined(leaky) == {(0, 1)}
    # Two small cells of one row (its total too): each column's total gives its cell.
    leaky = primary_only([[2, 3], [20, 15]], 10)
    assert recovered(leaky) == {(0, 0), (0, 1), (0, 2)} == determined(leaky)
    # Counts cannot go below 0: two suppressed zeros whose published row total is 0 are
    # known, and with them the cells below, though the equations alone leave all four open.
    zeros = Protected([[0, 0, 0], [30, 20, 50], [30, 20, 50]], {(0, 0), (0, 1), (1, 0), (1, 1)}, k=10)
    assert determined(zeros) == set()
    assert recovered(zeros) == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_zeros_are_suppressed_and_kept_open() -> None:
    t = check([[0, 0], [30, 25]], 10)
    assert recovered(t) == set()
    assert t.published(0, 0) is None and t.published(0, 2) is None  # the row's total of 0 too


def test_large_counts_are_published() -> None:
    t = check([[40, 50], [60, 70]], 10)
    assert t.suppressed == set()
    assert [[t.published(r, c) for c in range(3)] for r in range(3)] == [
        [40, 50, 90], [60, 70, 130], [100, 120, 220]]


@pytest.mark.parametrize("cells", [[[5]], [[0]], [[3, 4, 5]], [[1], [2], [3]]])
def test_one_row_or_column(cells: Any) -> None:
    t = check(cells, 10)
    assert recovered(t) == set()


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError):
        protect([[1, -1]], 10)
    with pytest.raises(ValueError):
        protect([[1, 2], [3]], 10)
    with pytest.raises(ValueError):
        protect([[1]], 0)
