"""GraphiQL, served entirely by the hub: government intranets reach no CDN.

The JavaScript and CSS come from the ``graphene-django-graphiql-static``
package (installed from the registry with the hub, not copied into this
repository); the page and its small start-up script are ours. The header
editor is open, with ``Authorization`` and ``X-Purpose`` ready to fill in.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

ASSET_PACKAGE = "graphene_django_graphiql_static"
STATIC_PREFIX = "/graphiql/static"
_ASSETS = ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js")

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>City-brain hub: GraphiQL</title>
<link rel="stylesheet" href="{static}/graphiql.min.css">
<style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL...</div>
{scripts}
<script src="/graphiql/start.js"></script>
</body>
</html>
"""

DEFAULT_HEADERS = {
    "Authorization": "Bearer <paste a token printed by `hub demo` or `hub token`>",
    "X-Purpose": "<a purpose your token allows, e.g. school-reopening>",
}

DEFAULT_QUERY = """# Set your token and purpose in the Headers tab below, then run.
query FindSchools {
  schools(first: 5) {
    totalCount
    edges { node { id name level districtName } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

_START = """(function () {
  var fetcher = GraphiQL.createFetcher({ url: %(url)s });
  var root = document.getElementById('graphiql');
  var props = {
    fetcher: fetcher,
    defaultHeaders: %(headers)s,
    defaultQuery: %(query)s,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    defaultEditorToolsVisibility: 'headers'
  };
  if (ReactDOM.createRoot) {
    ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
  } else {
    ReactDOM.render(React.createElement(GraphiQL, props), root);
  }
})();
"""


def asset_directory() -> Path:
    base = importlib.resources.files(ASSET_PACKAGE) / "static" / ASSET_PACKAGE
    return Path(str(base))


def page() -> str:
    scripts = "\n".join(f'<script src="{STATIC_PREFIX}/{name}"></script>' for name in _ASSETS)
    return _PAGE.format(static=STATIC_PREFIX, scripts=scripts)


async def start_script(_request: Request) -> Response:
    body = _START % {
        "url": json.dumps("/graphql"),
        "headers": json.dumps(json.dumps(DEFAULT_HEADERS, indent=2)),
        "query": json.dumps(DEFAULT_QUERY),
    }
    return PlainTextResponse(body, media_type="application/javascript")


def graphiql_response() -> HTMLResponse:
    return HTMLResponse(
        page(),
        headers={
            # Everything from this hub: no CDN, no inline script.
            "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:",
        },
    )


def routes() -> list[Route | Mount]:
    return [
        Route("/graphiql/start.js", start_script),
        Mount(STATIC_PREFIX, app=StaticFiles(directory=asset_directory()), name="graphiql-static"),
    ]
