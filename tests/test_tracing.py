"""OpenTelemetry: with ``[tracing] otlp_endpoint`` set, a real `hub serve` sends
each request's trace to the collector over OTLP/HTTP (protobuf): the request's
span, the child of the client's ``traceparent``, and under it one span per
statement a source ran, naming the connector and its rows, never a value.

The collector here is a stub: a small HTTP server decoding what it receives with
the OTLP protobuf messages (opentelemetry-proto). The hub sends spans in batches;
stopping it (SIGTERM) sends what is waiting, so the test reads them afterwards.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from hub.access.tokens import issue_token
from hub.config import HubConfig
from tests.processes import serving

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def collector() -> Iterator[tuple[str, list[Any]]]:
    spans: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server calls it by this name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.path == "/v1/traces" and self.headers["Content-Type"] == "application/x-protobuf"
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
                for scope in resource.scope_spans:
                    spans.extend((service, span) for span in scope.spans)
            out = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", spans
    finally:
        server.shutdown()
        server.server_close()


def _counter(text: str, name: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2))
            for m in re.finditer(rf'^{name}{{connector="([^"]+)"}} ([0-9.e+]+)$', text, re.M)}


def test_a_school_query_is_one_trace_with_a_span_per_source_statement(
        city: Path, samples: dict[str, Any], tmp_path: Path, collector: tuple[str, list[Any]]) -> None:
    endpoint, spans = collector
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[hub]\ndata_dir = "{city}"\nstate_url = "sqlite+aiosqlite:///{tmp_path}/hub.sqlite"\n'
                   f'[tracing]\notlp_endpoint = "{endpoint}"\nservice_name = "hub-under-test"\n',
                   encoding="utf-8")
    token = issue_token(HubConfig.from_file(cfg).secret, "school", scopes={"school": [samples["school_id"]]})
    query = ('query Pupils($school: ID!) { school(id: $school) { name students(first: 20) { totalCount '
             'edges { node { idNumber name enrollment { grade } healthCode { color } '
             'clinicVisits(days: 14) { time nucleicAcidResult } } } } } }')
    with serving(cfg) as base:
        before = httpx.get(f"{base}/metrics").text
        r = httpx.post(f"{base}/graphql", json={"query": query, "variables": {"school": samples["school_id"]}},
                       headers={"Authorization": f"Bearer {token}", "X-Purpose": "school-reopening",
                                "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
        assert r.status_code == 200 and r.json()["data"]["school"]["students"]["edges"], r.text
        after = httpx.get(f"{base}/metrics").text
    statements = {k: v - _counter(before, "hub_source_queries_total").get(k, 0)
                  for k, v in _counter(after, "hub_source_queries_total").items()}
    rows = {k: v - _counter(before, "hub_source_rows_total").get(k, 0)
            for k, v in _counter(after, "hub_source_rows_total").items()}
    assert sum(statements.values()) >= 3  # school, students, codes, visits: several sources

    assert spans, "the collector received no span"
    assert {service for service, _ in spans} == {"hub-under-test"}
    ours = [s for _, s in spans if s.trace_id.hex() == TRACE_ID]
    requests = [s for s in ours if s.name == "POST /graphql"]
    assert len(requests) == 1, [s.name for s in ours]
    request = requests[0]
    assert request.parent_span_id.hex() == PARENT_ID  # the client's traceparent
    attributes = {a.key: a.value for a in request.attributes}
    assert attributes["hub.department"].string_value == "school"
    assert attributes["hub.operation"].string_value == "Pupils"
    assert attributes["http.response.status_code"].int_value == 200

    children = [s for s in ours if s.parent_span_id == request.span_id]
    assert len(children) == len(ours) - 1  # nothing else in the trace
    by_connector: dict[str, int] = {}
    rows_seen: dict[str, int] = {}
    for span in children:
        attrs = {a.key: a.value for a in span.attributes}
        connector = attrs["hub.connector"].string_value
        assert span.name == f"source {connector}"
        assert set(attrs) == {"hub.connector", "hub.rows"}  # never a value, a statement or a person
        assert request.start_time_unix_nano <= span.start_time_unix_nano <= span.end_time_unix_nano
        by_connector[connector] = by_connector.get(connector, 0) + 1
        rows_seen[connector] = rows_seen.get(connector, 0) + attrs["hub.rows"].int_value
    # One span per statement the sources ran for this request (the metrics count the same).
    assert by_connector == {k: int(v) for k, v in statements.items() if v}
    assert rows_seen == {k: int(v) for k, v in rows.items() if k in by_connector}
    # A trace holds no person: not the pupils' names or ID numbers the answer carried.
    pupil = r.json()["data"]["school"]["students"]["edges"][0]["node"]
    raw = b"".join(s.SerializeToString() for _, s in spans)
    assert pupil["name"].encode() not in raw and pupil["idNumber"].encode() not in raw


def test_tracing_is_off_by_default(city: Path) -> None:
    from hub.app import create_app

    app = create_app(HubConfig.for_data_dir(city))
    assert app.state.hub.tracing is None
