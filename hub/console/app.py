"""The console at ``/console``: server-rendered pages for the big-data bureau.

- **Who**: the bureau's token is posted once on the login form and checked
  with ``Access.authenticate``, the same as a /graphql request's; any other
  department is refused (403, a page with no console content). The token
  posted is not kept: the session holds a token of its own, issued at login
  for the same department, subject, scopes and purposes and living
  ``SESSION_SECONDS`` (or less, if the token posted expires sooner), in a
  cookie signed with the hub's key (itsdangerous), HttpOnly, SameSite=Strict,
  Secure over https, path /console; so a session cookie, were it stolen,
  proves nothing beyond the session's own minutes. Each page checks the
  signature, the age and that token again (its expiry ends the session).
- **Forms**: every form is a POST carrying the session's CSRF token (the login
  form one of its own cookie's), compared in constant time; a POST without
  it is refused (403).
- **Headers**: a strict Content-Security-Policy (everything from the hub, no
  inline script, no framing), ``nosniff``, no referrer, no caching.
- **Pages**: ``PAGES`` (hub.console.pages), each a path, a title for the menu
  and a handler; one more page is one more entry in that list.
- **Audit**: pages that read the audit trail ask /graphql's endpoint itself
  (``Console.graphql``): the read is admitted, priced and recorded like any
  request of the bureau's (purpose ``operations``), with the persons it
  touched.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hub.access.admission import Access
from hub.access.tokens import Identity, issue_token
from hub.errors import HubError
from hub.http.endpoint import GraphQLEndpoint
from hub.http.metrics import Metrics
from hub.http.observe import current_id

from .history import History

HERE = Path(__file__).resolve().parent
PREFIX = "/console"
#: How long a console session lives (seconds) before the token is asked again.
SESSION_SECONDS = 15 * 60
BUREAU = "bigdata"
PURPOSE = "operations"
SESSION_COOKIE = "hub_console"
LOGIN_COOKIE = "hub_console_login"
MAX_FORM_BYTES = 16_384

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
    "connect-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    "object-src 'none'",
])
HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY"}


@dataclass
class Session:
    token: str
    csrf: str
    identity: Identity


Handler = Callable[["Console", Request, Session], Awaitable[Response]]


@dataclass(frozen=True)
class Page:
    path: str  # under /console, e.g. "/matrix"
    title: str  # in the menu ("" : not in the menu)
    handler: Handler
    methods: tuple[str, ...] = ("GET",)


class Console:
    def __init__(self, access: Access, endpoint: GraphQLEndpoint, metrics: Metrics, hub: Any,
                 secret: Callable[[], str], pages: list[Page]) -> None:
        self.access = access
        self.endpoint = endpoint
        self.metrics = metrics
        #: The running hub (hub.app.Hub): its sources, readiness and circuits.
        self.hub = hub
        self._secret = secret
        self.pages = pages
        self.history = History(metrics.registry)
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(default=True, default_for_string=True))

    async def start(self) -> None:
        await self.history.start()

    async def close(self) -> None:
        await self.history.close()

    # -- rendering -------------------------------------------------------------
    def render(self, template: str, status: int = 200, *, session: Session | None = None,
               request: Request | None = None, **values: Any) -> Response:
        menu = [(PREFIX + p.path, p.title) for p in self.pages if p.title]
        here = request.url.path if request is not None else ""
        body = self.templates.get_template(template).render(
            menu=menu, here=here, session=session, csrf=session.csrf if session else "", prefix=PREFIX,
            minutes=SESSION_SECONDS // 60, **values)
        return HTMLResponse(body, status, headers=HEADERS)

    def refused(self, why: str, status: int = 403) -> Response:
        """A refusal: what was refused, and nothing of the console."""
        return self.render("refused.html", status, why=why)

    # -- the session -------------------------------------------------------------
    def _signer(self, salt: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret(), salt=salt)

    def session(self, request: Request) -> Session | None:
        """The request's session, or None (no cookie, a bad signature, too old, a token no longer valid)."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self._signer("hub-console-session").loads(raw, max_age=SESSION_SECONDS)
            identity = self.access.authenticate(f"Bearer {data['token']}")
        except (BadSignature, HubError, KeyError, TypeError):
            return None
        return Session(str(data["token"]), str(data["csrf"]), identity)

    def _cookie(self, response: Response, request: Request, name: str, value: str) -> None:
        response.set_cookie(name, value, max_age=SESSION_SECONDS, path=PREFIX, httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")

    async def form(self, request: Request) -> dict[str, str]:
        """The posted form (application/x-www-form-urlencoded, bounded); the first value of each name."""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return {}
        try:
            parsed = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            return {}
        return {k: v[0] for k, v in parsed.items()}

    # -- routes ----------------------------------------------------------------
    def routes(self) -> list[Any]:
        out: list[Any] = [
            Route(PREFIX, self.index, methods=["GET"]),
            Route(PREFIX + "/", self.index, methods=["GET"]),
            Route(PREFIX + "/login", self.login, methods=["GET", "POST"]),
            Route(PREFIX + "/logout", self.logout, methods=["POST"]),
            Mount(PREFIX + "/static", app=_Headers(StaticFiles(directory=HERE / "static")), name="console-static"),
        ]
        out += [Route(PREFIX + p.path, self._guarded(p), methods=list(p.methods)) for p in self.pages]
        return out

    def _guarded(self, page: Page) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            session = self.session(request)
            if session is None:
                return RedirectResponse(PREFIX + "/login", 303, headers=HEADERS)
            if session.identity.department != BUREAU:
                return self.refused("The console is for the big-data bureau only.")
            if request.method == "POST":
                request.state.form = await self.form(request)
                if not hmac.compare_digest(request.state.form.get("csrf", ""), session.csrf):
                    return self.refused("The form was sent without its CSRF token; reload the page and try again.")
            return await page.handler(self, request, session)

        return handle

    async def index(self, request: Request) -> Response:
        target = self.pages[0].path if self.session(request) is not None else "/login"
        return RedirectResponse(PREFIX + target, 303, headers=HEADERS)

    async def login(self, request: Request) -> Response:
        signer = self._signer("hub-console-login")
        if request.method == "GET":
            csrf = secrets.token_urlsafe(24)
            response = self.render("login.html", request=request, login_csrf=csrf)
            self._cookie(response, request, LOGIN_COOKIE, signer.dumps(csrf))
            return response
        form = await self.form(request)
        try:
            expected = str(signer.loads(request.cookies.get(LOGIN_COOKIE, ""), max_age=SESSION_SECONDS))
        except BadSignature:
            expected = ""
        if not expected or not hmac.compare_digest(form.get("csrf", ""), expected):
            return self.refused("The form was sent without its CSRF token; reload the page and try again.")
        token = form.get("token", "").strip()
        try:
            identity = self.access.authenticate(f"Bearer {token}")
        except HubError:
            response = self.render("login.html", 401, request=request, login_csrf=expected,
                                   error="That token is not valid (unknown, expired or not signed by this hub).")
            return response
        if identity.department != BUREAU:
            return self.refused("The console is for the big-data bureau only.")
        response = RedirectResponse(PREFIX + self.pages[0].path, 303, headers=HEADERS)
        value = self._signer("hub-console-session").dumps({"token": self._session_token(identity),
                                                           "csrf": secrets.token_urlsafe(24)})
        self._cookie(response, request, SESSION_COOKIE, value)
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
        return response

    def _session_token(self, identity: Identity) -> str:
        """A token for the session only: the identity posted, for at most ``SESSION_SECONDS``."""
        now = time.time()
        left = int((identity.expires_at or now) - now)
        return issue_token(self._secret(), identity.department, subject=identity.subject,
                           scopes={k: list(v) for k, v in identity.scopes.items()},
                           purposes=list(identity.purposes), ttl=max(1, min(SESSION_SECONDS, left)),
                           now=now, vocabulary=self.access.vocabulary)

    async def logout(self, request: Request) -> Response:
        session = self.session(request)
        form = await self.form(request)
        if session is None or not hmac.compare_digest(form.get("csrf", ""), session.csrf):
            return self.refused("The form was sent without its CSRF token; reload the page and try again.")
        response = RedirectResponse(PREFIX + "/login", 303, headers=HEADERS)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    # -- reading through /graphql ------------------------------------------------
    async def graphql(self, request: Request, session: Session, query: str,
                      variables: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """``query`` as the bureau's own /graphql request (purpose ``operations``): admitted,
        priced, executed and audited by the endpoint, under this console request's id."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        state: dict[str, Any] = {"request_id": current_id(request)}
        scope = {
            "type": "http", "http_version": "1.1", "method": "POST", "scheme": request.url.scheme,
            "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "",
            "server": request.scope.get("server"), "client": request.scope.get("client"),
            "headers": [(b"authorization", f"Bearer {session.token}".encode()), (b"x-purpose", PURPOSE.encode()),
                        (b"content-type", b"application/json"), (b"accept", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
            "state": state,
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        response = await self.endpoint(Request(scope, receive))
        # What the endpoint learnt (department, outcome, audit entry) goes in this request's log line.
        request.scope.setdefault("state", {}).setdefault("log", {}).update(state.get("log", {}))
        return response.status_code, json.loads(bytes(response.body))


class _Headers:
    """The console's headers on its static files too."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in HEADERS.items() if k != "Cache-Control"]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
