"""The console's last hour of metrics (hub/console/history.py) on a real
Prometheus registry and a clock the test moves: rates a minute, the series of
a chart, quantiles of a histogram within the hour, and the SVG it draws."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from hub.console.history import History, chart


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rates_series_and_quantiles_over_the_ring() -> None:
    registry = CollectorRegistry()
    queries = Counter("hub_source_queries", "q", ["connector"], registry=registry)
    latency = Histogram("lat_seconds", "l", ["connector"], buckets=(0.01, 0.1, 1), registry=registry)
    clock = Clock()
    history = History(registry, every=10, clock=clock)
    history.sample()
    for minute in range(5):  # 5 minutes, 10 s apart: 6 statements a minute to school, none to clinic
        for _ in range(6):
            clock.now += 10
            queries.labels("school").inc()
            latency.labels("school").observe(0.05 if minute < 4 else 0.5)
            history.sample()
    queries.labels("clinic")
    assert history.per_minute("hub_source_queries_total", connector="school") == 6.0
    assert history.per_minute("hub_source_queries_total", connector="clinic") == 0.0
    assert history.per_minute("hub_source_queries_total", 3600, connector="school") == 6.0  # since the first sample
    series = history.series("hub_source_queries_total", minutes=6, connector="school")
    assert len(series) == 6 and sum(series) >= 24 and max(series) <= 7
    p50 = history.quantile(0.5, "lat_seconds", connector="school")
    p99 = history.quantile(0.99, "lat_seconds", connector="school")
    assert p50 is not None and 0.01 < p50 <= 0.1  # 24 of 30 in the 10-100 ms bucket
    assert p99 is not None and 0.1 < p99 <= 1
    assert history.quantile(0.5, "lat_seconds", connector="clinic") is None
    # An hour and more later, the old observations have left the ring.
    for _ in range(400):
        clock.now += 10
        history.sample()
    assert history.quantile(0.5, "lat_seconds", connector="school") is None
    assert history.per_minute("hub_source_queries_total", connector="school") == 0.0


def test_the_chart_is_inline_svg_without_script_or_style() -> None:
    svg = str(chart([0, 1, 4, 2], label='a <b> "c"'))
    assert svg.startswith("<svg") and "<polyline" in svg
    assert "<script" not in svg and "style=" not in svg
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert "peak 4" in svg
    assert str(chart([], label="empty")).startswith("<svg")
