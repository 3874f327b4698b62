"""The console's pages (hub.console.app): access matrix, sources, audit, requests,
emergency grants.

``PAGES`` is the menu and the routes in one list; a page is a path, a title
(empty: not in the menu), an ``async (console, request, session) -> Response``
and its methods. Every page is behind the bureau's session; a POST reaches its
handler only with the session's CSRF token, its form parsed in
``request.state.form``; a template extends ``base.html`` and puts
``<input type="hidden" name="csrf" value="{{ csrf }}">`` in its forms. Adding a
page is one more entry here and its template.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from hub.ids import id_number_problem

from .app import Page, Session
from .history import chart
from .matrix import access_matrix

if TYPE_CHECKING:
    from .app import Console

#: What an audit search selects of each entry (the detail shows them all).
ENTRY = ("seq at department subject purpose operation documentHash fields persons "
         "sourceRows { connector rows } outcome status latencyMs hash repeat client code requestId")
AUDIT_LOG = ("query Audit($filter: AuditFilter, $first: Int!) { auditLog(filter: $filter, first: $first) "
             f"{{ totalCount edges {{ node {{ {ENTRY} }} }} }} }}")
HISTORY = ("query History($idNumber: String!, $first: Int!) { accessHistory(idNumber: $idNumber, first: $first) "
           f"{{ totalCount edges {{ node {{ {ENTRY} }} }} }} }}")
VERIFY = "query Verify { auditVerification { intact entries brokenAt kind message } }"
PAGE_SIZE = 50
#: Codes of requests refused by their price (hub.execution.price).
PRICE_CODES = ("COST_LIMIT",)


async def matrix_page(console: Console, request: Request, session: Session) -> Response:
    matrix = access_matrix(console.access, request.query_params.get("purpose"))
    return console.render("matrix.html", request=request, session=session, matrix=matrix)


async def policy_page(console: Console, request: Request, session: Session) -> Response:
    """A department's policy file, its lines numbered (the matrix links to them)."""
    name = request.path_params["department"]
    policy = console.access.policies.policies.get(name)
    if policy is None:
        return console.render("message.html", 404, request=request, session=session,
                              title="No such department", text=f"No policy file for {name[:64]!r}.")
    lines = policy.path.read_text(encoding="utf-8").splitlines()
    return console.render("policy.html", request=request, session=session, policy=policy,
                          file=policy.path.name, lines=list(enumerate(lines, 1)))


async def sources_page(console: Console, request: Request, session: Session) -> Response:
    hub, history = console.hub, console.history
    ready = await hub.readiness()
    circuits = hub.sources.circuits()
    rows = []
    for name, connector in hub.sources.connectors.items():
        state = ready.get(name, "unknown")
        p50 = history.quantile(0.5, "hub_source_query_duration_seconds", connector=name)
        p99 = history.quantile(0.99, "hub_source_query_duration_seconds", connector=name)
        rows.append({
            "name": name, "ready": state == "ok", "reason": "" if state == "ok" else state,
            "circuit": circuits.get(name), "timeout": connector.timeout,
            "statements": history.per_minute("hub_source_queries_total", connector=name),
            "rows": history.per_minute("hub_source_rows_total", connector=name),
            "p50": None if p50 is None else p50 * 1000, "p99": None if p99 is None else p99 * 1000,
            "chart": chart(history.series("hub_source_queries_total", connector=name),
                           label=f"{name}: statements a minute, last hour"),
        })
    return console.render("sources.html", request=request, session=session, sources=rows)


async def requests_page(console: Console, request: Request, session: Session) -> Response:
    from .history import snapshot

    history = console.history
    now = snapshot(console.metrics.registry)
    errors = sorted(((dict(lab)["code"], v) for (n, lab), v in now.items() if n == "hub_request_errors_total"),
                    key=lambda kv: -kv[1])
    costly = sorted(((dict(lab)["operation"], v) for (n, lab), v in now.items() if n == "hub_operation_cost_max"),
                    key=lambda kv: -kv[1])[:15]
    outcomes = {o: history.total(now, "hub_requests_total", outcome=o) for o in ("ok", "refused", "error")}
    return console.render(
        "requests.html", request=request, session=session,
        rate=history.per_minute("hub_requests_total"), outcomes=outcomes,
        hour=history.per_minute("hub_requests_total", 3600) * 60,
        chart=chart(history.series("hub_requests_total"), width=480, height=60, label="requests a minute"),
        errors=errors, priced=sum(v for c, v in errors if c in PRICE_CODES), costly=costly)


def _search(form: dict[str, str]) -> tuple[str, dict[str, Any], str | None]:
    """The GraphQL query and variables of an audit search form, or an error to show."""
    person = form.get("idNumber", "").strip().upper()
    if person:
        why = id_number_problem(person)
        if why is not None:
            return "", {}, f"ID number: {why}"
        return HISTORY, {"idNumber": person, "first": PAGE_SIZE}, None
    filters: dict[str, Any] = {}
    for key in ("department", "purpose", "operation"):
        if form.get(key, "").strip():
            filters[key] = form[key].strip()[:128]
    for key in ("since", "until"):
        text = form.get(key, "").strip()
        if text:
            try:
                value = dt.datetime.fromisoformat(text)
            except ValueError:
                return "", {}, f"{key}: {text[:40]!r} is not a time (YYYY-MM-DDTHH:MM)"
            filters[key] = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    return AUDIT_LOG, {"filter": filters, "first": PAGE_SIZE}, None


#: What a link to the audit page may ask by its query string: a search, and the entry to open.
SEARCH_KEYS = ("idNumber", "department", "purpose", "operation", "since", "until")


async def audit_page(console: Console, request: Request, session: Session) -> Response:
    """A search posted (or linked: the same names in the query string, ``seq`` the entry to open)."""
    if request.method == "POST":
        form: dict[str, str] = getattr(request.state, "form", {})
    else:
        form = {k: request.query_params[k][:128] for k in SEARCH_KEYS if request.query_params.get(k)}
        form = {**form, "action": "search"} if form else {}
    opened = request.query_params.get("seq", "")
    values: dict[str, Any] = {"form": form, "entries": None, "total": None, "error": None, "verified": None,
                              "opened": int(opened) if opened.isdigit() else None}
    if form.get("action") == "verify":
        status, body = await console.graphql(request, session, VERIFY)
        values["verified"] = (body.get("data") or {}).get("auditVerification")
        values["error"] = _errors(status, body)
    elif form:
        query, variables, error = _search(form)
        values["error"] = error
        if query:
            status, body = await console.graphql(request, session, query, variables)
            found = next(iter((body.get("data") or {}).values()), None)
            values["error"] = _errors(status, body)
            if found is not None:
                values["entries"] = [e["node"] for e in found["edges"]]
                values["total"] = found["totalCount"]
    return console.render("audit.html", request=request, session=session, **values)


#: What the grants page selects of each grant.
GRANT = ("id department subject purpose fields persons scope reason minutes grantedAt expiresAt active "
         "auditEntry reviewed verdict note reviewedAt reviewedBy")
GRANT_PAGE = f"totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {GRANT} }} }}"
GRANTS = ("query Grants($first: Int!, $waitingAfter: String, $reviewedAfter: String) { "
          f"waiting: emergencyGrants(reviewed: false, first: $first, after: $waitingAfter) {{ {GRANT_PAGE} }} "
          f"reviewed: emergencyGrants(reviewed: true, first: $first, after: $reviewedAfter) {{ {GRANT_PAGE} }} }}")
REVIEW = ("mutation Review($id: ID!, $verdict: ReviewVerdict!, $note: String!) { "
          "reviewEmergencyGrant(id: $id, verdict: $verdict, note: $note) { id verdict } }")
#: Grants a page shows of each list: both lists, at 20, are priced well within the default cost limit.
GRANTS_PAGE = 20
#: Around a grant's time, the trail searched for the entry of the request that asked for it.
ENTRY_WINDOW = dt.timedelta(minutes=5)


def _entry_link(grant: dict[str, Any]) -> str | None:
    """The audit page searched for the grant's audit entry and opening it (None: no entry)."""
    if grant.get("auditEntry") is None:
        return None
    at = dt.datetime.fromisoformat(grant["grantedAt"]).astimezone(dt.UTC).replace(tzinfo=None)
    query = {"department": grant["department"], "purpose": grant["purpose"],
             "since": (at - ENTRY_WINDOW).isoformat(timespec="seconds"),
             "until": (at + ENTRY_WINDOW).isoformat(timespec="seconds"), "seq": str(grant["auditEntry"])}
    return f"audit?{urllib.parse.urlencode(query)}#entry-{grant['auditEntry']}"


async def grants_page(console: Console, request: Request, session: Session) -> Response:
    """Emergency grants: those waiting for review (each with its review form), then the reviewed."""
    values: dict[str, Any] = {"done": None, "error": None}
    if request.method == "POST":
        form: dict[str, str] = getattr(request.state, "form", {})
        variables = {"id": form.get("id", "")[:64], "verdict": form.get("verdict", "")[:16],
                     "note": form.get("note", "").strip()}
        status, body = await console.graphql(request, session, REVIEW, variables)
        values["error"] = _errors(status, body)
        done = (body.get("data") or {}).get("reviewEmergencyGrant")
        if done:
            values["done"] = f"Emergency grant {done['id']} reviewed: {done['verdict']}."
    after = {name: request.query_params.get(name) for name in ("waiting", "reviewed")}
    status, body = await console.graphql(request, session, GRANTS, {
        "first": GRANTS_PAGE, "waitingAfter": after["waiting"], "reviewedAfter": after["reviewed"]})
    values["error"] = values["error"] or _errors(status, body)
    data = body.get("data") or {}
    grants = console.hub.grants
    overdue_before = grants.clock() - dt.timedelta(hours=grants.review_hours)
    for name in ("waiting", "reviewed"):
        found = data.get(name) or {"totalCount": 0, "edges": [], "pageInfo": {"hasNextPage": False}}
        nodes = [e["node"] for e in found["edges"]]
        for g in nodes:
            g["overdue"] = not g["reviewed"] and dt.datetime.fromisoformat(g["grantedAt"]) < overdue_before
            g["entryLink"] = _entry_link(g)
        more = {**{k: v for k, v in after.items() if v}, name: found["pageInfo"].get("endCursor")}
        values[name] = {"total": found["totalCount"], "grants": nodes, "paged": bool(after[name]),
                        "next": "grants?" + urllib.parse.urlencode(more) if found["pageInfo"]["hasNextPage"]
                        else None}
    return console.render("grants.html", request=request, session=session, review_hours=grants.review_hours,
                          **values)


def _errors(status: int, body: dict[str, Any]) -> str | None:
    if not body.get("errors"):
        return None
    return f"{status}: " + "; ".join(str(e.get("message", "")) for e in body["errors"])


PAGES: list[Page] = [
    Page("/matrix", "Access matrix", matrix_page),
    Page("/sources", "Sources", sources_page),
    Page("/audit", "Audit", audit_page, ("GET", "POST")),
    Page("/requests", "Requests", requests_page),
    Page("/grants", "Emergency grants", grants_page, ("GET", "POST")),
    Page("/policy/{department}", "", policy_page),
]
