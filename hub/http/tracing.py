"""OpenTelemetry tracing, off unless ``[tracing] otlp_endpoint`` names a collector.

Each request is a span (``POST /graphql``), the child of the W3C
``traceparent`` (and ``tracestate``) the client sent, else a trace's root; each
statement a source runs for it is a child span (``source school``) with the
connector's name and the rows it returned, timed from when the statement was
sent (``connectors.interface.STATEMENT_STARTED``, handed in as ``started``). A span never holds a value:
no variables, no query text, no SQL parameters, no person's data; the request's
span names the department, the operation (a GraphQL name) and the outcome.

Spans are sent in batches over OTLP/HTTP (protobuf) by the SDK's exporter, off
the request's path. The packages are the ``tracing`` extra
(``pip install 'city-brain-hub[tracing]'``); configuring an endpoint without them
is a configuration error. The hub keeps its own tracer provider (the process's
global one is left alone).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from hub.errors import ConfigError

from .observe import operation_name, shown_path

SERVICE = "city-brain-hub"


class Tracing:
    def __init__(self, endpoint: str, service: str = SERVICE, *,
                 started: Callable[[], int | None] = lambda: None) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        except ImportError:
            raise ConfigError("[tracing] otlp_endpoint is set, but OpenTelemetry is not installed: "
                              "pip install 'city-brain-hub[tracing]'") from None
        from opentelemetry import trace

        self._trace = trace
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        self.tracer = self.provider.get_tracer("hub")
        self._propagator = TraceContextTextMapPropagator()
        self._started = started

    def request_span(self, scope: dict[str, Any]) -> AbstractContextManager[Any]:
        """The request's span, current while the request runs (its statements' parent)."""
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())
                   if k in (b"traceparent", b"tracestate")}
        parent = self._propagator.extract(carrier)
        method, path = str(scope.get("method", "")), shown_path(str(scope.get("path", "")))
        return self.tracer.start_as_current_span(
            f"{method} {path}", context=parent, kind=self._trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path})

    def finish(self, span: Any, status: int, facts: dict[str, Any]) -> None:
        span.set_attribute("http.response.status_code", status)
        for key in ("department", "outcome", "code"):
            if facts.get(key):
                span.set_attribute(f"hub.{key}", str(facts[key]))
        operation = operation_name(facts.get("operation"))
        if operation != "-":
            span.set_attribute("hub.operation", operation)
        if status >= 500:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))

    def observe_statement(self, connector: Any, _stmt: Any, rows: int) -> None:
        """A statement's span under the request's (none outside a request)."""
        if not self._trace.get_current_span().get_span_context().is_valid:
            return
        started = self._started() or time.time_ns()
        span = self.tracer.start_span(f"source {connector.name}", start_time=started,
                                      kind=self._trace.SpanKind.CLIENT,
                                      attributes={"hub.connector": connector.name, "hub.rows": rows})
        span.end()

    def close(self) -> None:
        """Send what is waiting and stop the exporter."""
        self.provider.shutdown()
