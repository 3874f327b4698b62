"""Prometheus metrics served at /metrics, in the hub's own registry (so that
two apps in one process, as in the tests, count apart), with the process's
(CPU, memory, file descriptors) and Python's garbage collector's collectors.

The ``operation`` label never holds text a client chose: it is the persisted
query's name or the document's hash (``PersistedQueries.label``); hashes still
grow with clients' documents, so past ``MAX_OPERATIONS`` distinct ones they
are counted as ``other``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

# The *_created series double the output and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

MAX_OPERATIONS = 200
_LABEL = re.compile(r"^[a-z0-9][a-z0-9:._-]{0,79}$")


class _ConnectionsOpened(Collector):
    """``hub_source_connections_opened_total{connector}``, read from each connector at scrape time."""

    def __init__(self) -> None:
        self.sources: dict[str, Callable[[], float]] = {}

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "hub_source_connections_opened",
            "Connections opened to each source system (a steady pool opens none after warm-up).",
            labels=["connector"])
        for name, opened in self.sources.items():
            family.add_metric([name], opened())
        yield family


class Metrics:
    def __init__(self, started: Callable[[], int | None] = lambda: None) -> None:
        #: When the statement being observed was sent (ns; ``connectors.interface.STATEMENT_STARTED``).
        self._started = started
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, process_resident_memory_bytes, ...
        GCCollector(registry=self.registry)  # python_gc_collections_total, ... by generation
        PlatformCollector(registry=self.registry)  # python_info
        self.requests = Counter(
            "hub_requests",
            "GraphQL requests answered, by operation and outcome.",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hub_request_duration_seconds",
            "Time to answer a GraphQL request, by operation.",
            ["operation"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.source_queries = Counter(
            "hub_source_queries",
            "Statements sent to each source system.",
            ["connector"],
            registry=self.registry,
        )
        self.source_rows = Counter(
            "hub_source_rows",
            "Rows read from each source system.",
            ["connector"],
            registry=self.registry,
        )
        self.source_latency = Histogram(
            "hub_source_query_duration_seconds",
            "Time each statement to a source system took, from sending it to its last row.",
            ["connector"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.errors = Counter(
            "hub_request_errors",
            "GraphQL requests refused or failed, by the error code answered (COST_LIMIT: refused by price).",
            ["code"],
            registry=self.registry,
        )
        self.operation_cost = Gauge(
            "hub_operation_cost_max",
            "The highest price (hub.execution.price) each operation was estimated at.",
            ["operation"],
            registry=self.registry,
        )
        self.cost = Histogram(
            "hub_request_cost",
            "The price of each operation, estimated before any source runs (hub.execution.price).",
            buckets=(10, 100, 500, 1_000, 2_500, 5_000, 10_000, 100_000, 1_000_000),
            registry=self.registry,
        )
        self.audit_store = Gauge(
            "hub_audit_store_bytes",
            "Bytes the audit store takes (SQLite: the file and its WAL; PostgreSQL: the audit "
            "tables), measured every few seconds.",
            registry=self.registry,
        )
        self.circuit_state = Gauge(
            "hub_source_circuit_state",
            "Each source's circuit breaker: 0 closed, 1 half-open, 2 open.",
            ["connector"],
            registry=self.registry,
        )
        self.grants_overdue = Gauge(
            "hub_emergency_grants_unreviewed_overdue",
            "Emergency (break-glass) grants the big-data bureau has not reviewed within the "
            "review period ([emergency] review_hours), counted when /metrics or /readyz is read.",
            registry=self.registry,
        )
        self.push_records = Counter(
            "hub_push_records",
            "Records an outbound feed pushed and its receiver acknowledged (hub/push/).",
            ["feed"],
            registry=self.registry,
        )
        self.push_batches = Counter(
            "hub_push_batches",
            "Batches an outbound feed sent, by outcome (ok: acknowledged; error: given up on).",
            ["feed", "outcome"],
            registry=self.registry,
        )
        self.push_lag = Gauge(
            "hub_push_lag_seconds",
            "Seconds since the time up to which every changed record was pushed (NaN: not known yet).",
            ["feed"],
            registry=self.registry,
        )
        self._connections = _ConnectionsOpened()
        self.registry.register(self._connections)
        self._operations: set[str] = set()
        self._max_cost: dict[str, int] = {}
        #: Labelled series by their labels, looked up once (``labels`` takes a lock
        #: and checks the names at every call): per request and per statement.
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def operation_label(self, name: str | None) -> str:
        """``name`` (a persisted query's name or ``doc:HASH``) while fewer than
        ``MAX_OPERATIONS`` are known, else ``other``."""
        if not name:
            return "none"
        if not _LABEL.match(name):
            return "other"
        if name not in self._operations:
            if len(self._operations) >= MAX_OPERATIONS:
                return "other"
            self._operations.add(name)
        return name

    def observe_cost(self, cost: int) -> None:
        self.cost.observe(cost)

    def observe_request(self, operation: str | None, outcome: str, seconds: float, *,
                        code: str = "", cost: int | None = None) -> None:
        """One answered request; ``code``: the error it was answered with (a hub code, never
        client text); ``cost``: its price, when it got that far."""
        label = self.operation_label(operation)
        self._child(self.requests, label, outcome).inc()
        self._child(self.latency, label).observe(seconds)
        if code:
            self._child(self.errors, code).inc()
        if cost is not None and cost > self._max_cost.get(label, -1):  # the highest so far
            self._max_cost[label] = cost
            self.operation_cost.labels(label).set(cost)

    def observe_statement(self, connector: Any, _stmt: Any, rows: int) -> None:
        name = connector.name
        self._child(self.source_queries, name).inc()
        self._child(self.source_rows, name).inc(rows)
        started = self._started()
        if started is not None:
            self._child(self.source_latency, name).observe(max(time.time_ns() - started, 0) / 1e9)

    def watch_circuit(self, connector: str, state: Callable[[], float]) -> None:
        """``hub_source_circuit_state{connector}`` read from ``state()`` at each scrape."""
        self.circuit_state.labels(connector).set_function(state)

    def watch_connections(self, connector: str, opened: Callable[[], float]) -> None:
        """``hub_source_connections_opened_total{connector}`` read from ``opened()`` at each scrape."""
        self._connections.sources[connector] = opened

    def observe_push_batch(self, feed: str, outcome: str, records: int) -> None:
        self.push_batches.labels(feed, outcome).inc()
        self.push_records.labels(feed).inc(records)

    def watch_push_lag(self, feed: str, lag: Callable[[], float]) -> None:
        """``hub_push_lag_seconds{feed}`` read from ``lag()`` at each scrape."""
        self.push_lag.labels(feed).set_function(lag)
        for outcome in ("ok", "error"):  # shown at 0 before the first batch
            self.push_batches.labels(feed, outcome)
        self.push_records.labels(feed)

    def observe_audit_store(self, size: int) -> None:
        self.audit_store.set(size)

    def observe_grants_overdue(self, count: int) -> None:
        self.grants_overdue.set(count)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
