"""GraphiQL, served entirely by the hub: government intranets reach no CDN.

The browser build of the official ``graphiql`` npm package (with React,
graphql-js and Monaco's workers) is vendored in ``static/graphiql/`` by
``scripts/vendor_graphiql.py``, which pins every version and checks each
tarball's sha512; ``VENDORED.json`` there lists what went in and
``LICENSES.txt`` their licences. The page, its script (``static/start.js``)
and stylesheet are the hub's own.

What the page does, and does not:

- it asks for a token and a purpose first and mounts GraphiQL only then, so
  nothing is sent to ``/graphql`` (no introspection with a placeholder token)
  before the user has given one;
- the token stays in the page's memory: never in the header editor, the URL or
  the browser's storage; GraphiQL gets a storage in memory, so nothing at all
  is written to localStorage; headers are not persisted;
- the default query (``__typename``) works for every department;
- the page and every asset carry a strict Content-Security-Policy (everything
  from the hub, no inline script, no framing, no form submission) with
  ``nosniff`` and ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIRECTORY = Path(__file__).resolve().parent / "static"
#: Where the page's assets are served: ``static/`` as it is.
STATIC_PREFIX = "/graphiql"

#: Everything from the hub itself. Monaco (GraphiQL's editor) writes its
#: colours into <style> elements it creates at run time and cannot give them a
#: nonce, hence 'unsafe-inline' for styles only; scripts are 'self' alone.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "worker-src 'self'",
    "connect-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self'",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

#: The page's own files (static/) and GraphiQL's (static/graphiql/), in the order it loads them.
STYLESHEETS = ("graphiql/graphiql.css", "start.css")
SCRIPT = "start.js"
ICON = "icon.svg"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>City-brain hub: GraphiQL</title>
<link rel="icon" href="{prefix}/{icon}" type="image/svg+xml">
{stylesheets}
<script type="module" src="{prefix}/{script}"></script>
</head>
<body>
<form id="login" autocomplete="off">
<h1>City-brain hub: GraphiQL</h1>
<p class="note">Paste a token printed by <code>hub demo</code> or <code>hub token</code> and choose one of its
purposes. The token stays in this page's memory: nothing is stored in the browser, and reloading the page
forgets it.</p>
<label for="token">Token</label>
<input id="token" name="token" type="text" required autocomplete="off" autocapitalize="off" spellcheck="false"
       placeholder="eyJ...">
<p id="about" aria-live="polite"></p>
<label for="purpose">Purpose (<code>X-Purpose</code>)</label>
<input id="purpose" name="purpose" type="text" required list="purposes" autocomplete="off" spellcheck="false"
       placeholder="school-reopening">
<datalist id="purposes"></datalist>
<button type="submit" disabled>Open GraphiQL</button>
<p id="problem" role="alert"></p>
<noscript><p>GraphiQL needs JavaScript.</p></noscript>
</form>
<div id="session" hidden><span id="signed-in"></span><button id="forget" type="button">Forget the token</button></div>
<div id="graphiql" hidden></div>
</body>
</html>
"""


def page() -> str:
    stylesheets = "\n".join(f'<link rel="stylesheet" href="{STATIC_PREFIX}/{name}">' for name in STYLESHEETS)
    return _PAGE.format(prefix=STATIC_PREFIX, icon=ICON, script=SCRIPT, stylesheets=stylesheets)


def graphiql_response() -> HTMLResponse:
    """The page (``GET /graphql`` from a browser)."""
    return HTMLResponse(page(), headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


class SecuredStatic:
    """StaticFiles with the page's security headers on every answer; assets are
    revalidated (their names carry no version) by ETag and Last-Modified."""

    def __init__(self, directory: Path) -> None:
        self.files: ASGIApp = StaticFiles(directory=directory)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in {b"cache-control"}]
                headers += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                            for k, v in SECURITY_HEADERS.items()]
                headers.append((b"cache-control", b"no-cache"))
                message = {**message, "headers": headers}
            await send(message)

        await self.files(scope, receive, with_headers)


def routes() -> list[Route | Mount]:
    return [Mount(STATIC_PREFIX, app=SecuredStatic(STATIC_DIRECTORY), name="graphiql-static")]
