"""Disclosure control of a table of counts: small cells suppressed, and enough
others with them that no suppressed cell follows from what is published.

A table is ``R`` rows by ``C`` columns of counts, published with its row
totals, its column totals and its grand total. Seen together they are one
``(R+1) x (C+1)`` grid (the totals its last row and column) in which each row's
cells add up to its total and each column's to its total. :func:`protect`
suppresses:

- **primary**: every cell, total or grand total below ``k`` (a count of 0
  included: a published 0 would tell that nobody in the row has the property,
  and a row total of 1 would make its one person's cells readable);
- **complementary**: then, for each suppressed cell, a *rectangle* of
  suppressed cells through it (two rows and two columns of the grid, totals
  included) along which the counts can be moved by one, +1 and -1 alternating
  (a total moving with its cells), with every count staying at least 0. That
  moved table has the same published cells and totals, so whoever reads the
  answer cannot tell the two apart: the cell has at least two possible values.
  Where the suppressed cells do not yet make such a rectangle, the cheapest
  one is completed (fewest totals suppressed, then fewest cells, then the
  smallest counts). One always exists: a cell, its row total, its column total
  and the grand total can all grow by one together.

A rectangle certifies its four corners, and suppressing more never undoes a
certificate, so the loop ends. What it promises: **no suppressed cell's exact
value is determined by the published cells and totals, counts being whole
numbers from 0** (``tests/test_disclosure.py`` checks it on generated tables
by solving the equations exactly and by trying every possible value). It does
not promise a wide range (a suppressed cell may be known to be 3 or 4), nor
protect against what a reader knows besides the answer (that a suppressed
cell is below ``k``, another answer cut differently).

>>> t = protect([[12, 3], [20, 15]], k=10)
>>> [[t.published(r, c) for c in range(3)] for r in range(3)]
[[None, None, 15], [None, None, 35], [32, 18, 50]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

__all__ = ["Protected", "determined", "protect"]

Cell = tuple[int, int]


@dataclass
class Protected:
    """A table with its totals and which of them are suppressed.

    ``values`` is the ``(R+1) x (C+1)`` grid: cells, row totals in the last
    column, column totals in the last row, the grand total in the corner."""

    values: list[list[int]]
    suppressed: set[Cell] = field(default_factory=set)
    k: int = 10

    @property
    def rows(self) -> int:
        return len(self.values) - 1

    @property
    def columns(self) -> int:
        return len(self.values[0]) - 1

    def published(self, r: int, c: int) -> int | None:
        """The count at ``(r, c)`` of the grid, None when suppressed."""
        return None if (r, c) in self.suppressed else self.values[r][c]


def grid(cells: Sequence[Sequence[int]], columns: int) -> list[list[int]]:
    """Cells with their totals: ``(R+1) x (C+1)``."""
    rows = [[*list(row), sum(row)] for row in cells]
    if any(len(row) != columns + 1 for row in rows):
        raise ValueError("every row of a table needs one count per column")
    rows.append([sum(row[c] for row in rows) for c in range(columns + 1)])
    return rows


def protect(cells: Sequence[Sequence[int]], k: int, columns: int | None = None) -> Protected:
    """The table of ``cells`` (R rows of C counts, each at least 0) with its totals,
    every count below ``k`` suppressed and enough others that none can be recovered."""
    if k < 1:
        raise ValueError("k must be at least 1")
    width = columns if columns is not None else (len(cells[0]) if cells else 0)
    if any(v < 0 for row in cells for v in row):
        raise ValueError("counts are at least 0")
    values = grid(cells, width)
    table = Protected(values, k=k)
    R, C = len(values) - 1, width
    table.suppressed = {(r, c) for r in range(R + 1) for c in range(C + 1) if values[r][c] < k}
    if R == 0 or C == 0:
        # No cells: the totals are sums of nothing; suppressed as counts below k, nothing to move.
        return table
    certified: set[Cell] = set()
    pending = sorted(table.suppressed, reverse=True)  # popped in order
    while pending:
        cell = pending.pop()
        if cell in certified:
            continue
        corners = _rectangle(table, cell)
        pending.extend(x for x in corners if x not in table.suppressed)
        table.suppressed.update(corners)
        certified.update(corners)
    return table


def _sign(table: Protected, cell: Cell) -> int:
    """+1 for a cell and the grand total, -1 for a row or column total: moving a
    rectangle by one changes each corner by ``sign * pattern``."""
    r, c = cell
    return -1 if (r == table.rows) != (c == table.columns) else 1


def _moves(table: Protected, corners: tuple[Cell, Cell, Cell, Cell]) -> bool:
    """Whether the counts can move along the rectangle (one way or the other) and
    stay at least 0."""
    deltas = [p * _sign(table, cell) for p, cell in zip((1, -1, 1, -1), corners)]
    return any(all(table.values[r][c] + t * d >= 0 for (r, c), d in zip(corners, deltas)) for t in (1, -1))


def _rectangle(table: Protected, cell: Cell) -> tuple[Cell, ...]:
    """The cheapest rectangle through ``cell`` along which counts can move."""
    r, c = cell
    R, C = table.rows, table.columns
    sup = table.suppressed
    # Already there: suppressed corners only (the usual case in a sparse table).
    # Totals first, then the largest counts: the ones a move by one can take from.
    rows_here = sorted((r2 for r2 in range(R + 1) if r2 != r and (r2, c) in sup),
                       key=lambda r2: (r2 != R, -table.values[r2][c]))
    cols_here = sorted((c2 for c2 in range(C + 1) if c2 != c and (r, c2) in sup),
                       key=lambda c2: (c2 != C, -table.values[r][c2]))
    for r2 in rows_here:
        for c2 in cols_here:
            if (r2, c2) in sup:
                corners = ((r, c), (r, c2), (r2, c2), (r2, c))
                if _moves(table, corners):
                    return corners
    best: tuple[tuple[int, int, int], tuple[Cell, ...]] | None = None
    for r2 in range(R + 1):
        if r2 == r:
            continue
        for c2 in range(C + 1):
            if c2 == c:
                continue
            corners = ((r, c), (r, c2), (r2, c2), (r2, c))
            new = [x for x in corners if x not in sup]
            cost = (sum(1 for x in new if x[0] == R or x[1] == C), len(new),
                    sum(table.values[x[0]][x[1]] for x in new))
            if (best is None or cost < best[0]) and _moves(table, corners):
                best = (cost, corners)
    assert best is not None  # the cell, its totals and the grand total always move
    return best[1]


def determined(table: Protected) -> set[Cell]:
    """The suppressed cells whose value the published ones and the totals' equations
    fix: exact linear algebra over the rationals (counts' bounds not used). A cell
    is determined iff its unit vector is in the equations' row space, i.e. its
    pivot row in reduced echelon form has no free variable."""
    R, C = table.rows, table.columns
    unknowns = sorted(table.suppressed)
    index = {cell: i for i, cell in enumerate(unknowns)}
    lines = [[(r, c) for c in range(C + 1)] for r in range(R + 1)]
    lines += [[(r, c) for r in range(R + 1)] for c in range(C + 1)]
    # Sparse rows (variable -> coefficient): each row's or column's cells minus its total.
    rows: list[dict[int, Fraction]] = []
    for line in lines:
        row = {index[cell]: Fraction(-1 if cell == line[-1] else 1) for cell in line if cell in index}
        if row:
            rows.append(row)
    pivots: dict[int, dict[int, Fraction]] = {}  # pivot variable -> its row (reduced)
    for row in rows:
        for var, rrow in pivots.items():  # reduce by the pivots found so far
            f = row.get(var)
            if f:
                for j, v in rrow.items():
                    nv = row.get(j, Fraction(0)) - f * v
                    if nv:
                        row[j] = nv
                    else:
                        row.pop(j, None)
        if not row:
            continue
        var = min(row)
        lead = row[var]
        row = {j: v / lead for j, v in row.items()}
        for other in pivots.values():  # keep the earlier rows reduced
            f = other.get(var)
            if f:
                for j, v in row.items():
                    nv = other.get(j, Fraction(0)) - f * v
                    if nv:
                        other[j] = nv
                    else:
                        other.pop(j, None)
        pivots[var] = row
    return {unknowns[var] for var, row in pivots.items() if len(row) == 1}
