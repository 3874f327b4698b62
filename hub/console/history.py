"""The last hour of the hub's own metrics, for the console's pages.

A :class:`History` samples the Prometheus registry (hub.http.metrics) every
``SAMPLE_SECONDS`` into a ring of an hour's samples, in the process: rates
(statements, rows, requests a minute), per-minute series for a chart, and
quantiles of a histogram's observations within the hour (interpolated inside
the bucket, as Prometheus' ``histogram_quantile`` does). Read from the same
counters ``/metrics`` serves, so the console shows what a scrape would.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Mapping

from markupsafe import Markup
from prometheus_client import CollectorRegistry

SAMPLE_SECONDS = 10.0
HOUR = 3600.0

Key = tuple[str, tuple[tuple[str, str], ...]]
Snapshot = dict[Key, float]


def snapshot(registry: CollectorRegistry) -> Snapshot:
    out: Snapshot = {}
    for metric in registry.collect():
        for s in metric.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


class History:
    def __init__(self, registry: CollectorRegistry, every: float = SAMPLE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self.every = every
        self.clock = clock
        self.samples: deque[tuple[float, Snapshot]] = deque(maxlen=int(HOUR / every) + 2)
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        self.samples.append((self.clock(), snapshot(self.registry)))

    async def start(self) -> None:
        self.sample()
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.sample()

    # -- reading -------------------------------------------------------------
    def _now(self) -> tuple[float, Snapshot]:
        return self.clock(), snapshot(self.registry)

    def _at(self, seconds_ago: float, now: float) -> tuple[float, Snapshot]:
        """The oldest sample within ``seconds_ago`` (the whole ring when it is younger)."""
        for at, values in self.samples:
            if now - at <= seconds_ago + self.every / 2:
                return at, values
        return now, {}

    @staticmethod
    def total(values: Mapping[Key, float], name: str, **labels: str) -> float:
        want = set(labels.items())
        return sum(v for (n, lab), v in values.items() if n == name and want <= set(lab))

    def per_minute(self, name: str, seconds: float = 60.0, **labels: str) -> float:
        """How much ``name`` (a counter's sample, e.g. ``hub_requests_total``) grew a minute,
        over the last ``seconds`` (or since the first sample, if later)."""
        now, values = self._now()
        then, old = self._at(seconds, now)
        if now - then <= 0:
            return 0.0
        grown = self.total(values, name, **labels) - self.total(old, name, **labels)
        return grown * 60.0 / (now - then)

    def series(self, name: str, minutes: int = 60, **labels: str) -> list[float]:
        """Growth of ``name`` in each of the last ``minutes`` minutes (oldest first)."""
        now, values = self._now()
        points = [*self.samples, (now, values)]
        out = []
        for m in range(minutes, 0, -1):
            start, end = now - m * 60, now - (m - 1) * 60
            inside = [(at, self.total(v, name, **labels)) for at, v in points if start - self.every / 2 <= at <= end]
            out.append(inside[-1][1] - inside[0][1] if len(inside) >= 2 else 0.0)
        return out

    def quantile(self, q: float, histogram: str, seconds: float = HOUR, **labels: str) -> float | None:
        """The ``q`` quantile of ``histogram``'s observations within the last ``seconds`` (None: none)."""
        now, values = self._now()
        _then, old = self._at(seconds, now)
        buckets: dict[float, float] = {}
        want = set(labels.items())
        for (n, lab), v in values.items():
            if n == f"{histogram}_bucket" and want <= set(lab):
                bound = float(dict(lab)["le"])
                buckets[bound] = buckets.get(bound, 0.0) + v - old.get((n, lab), 0.0)
        if not buckets:
            return None
        bounds = sorted(buckets)
        count = buckets[bounds[-1]]
        if count <= 0:
            return None
        rank, lower, below = q * count, 0.0, 0.0
        for bound in bounds:
            if buckets[bound] >= rank:
                if math.isinf(bound):
                    return lower
                inside = buckets[bound] - below
                return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = bound, buckets[bound]
        return lower


def chart(values: list[float], width: int = 240, height: int = 40, label: str = "") -> Markup:
    """A line over ``values`` as inline SVG (no script, no style attribute: the CSP allows it)."""
    top = max(values, default=0.0) or 1.0
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values))
    title = Markup.escape(label)
    svg = (f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
                  f'role="img" aria-label="{title}"><title>{title} (peak {top:,.0f})</title>'
                  f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/></svg>')
    return Markup(svg)  # noqa: S704 - numbers and an escaped label
