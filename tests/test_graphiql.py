"""GraphiQL without a browser: the page's security headers, every asset it names
(and those its assets name) served by the hub, the vendored build as
scripts/vendor_graphiql.py recorded it, and a default query and introspection
that work for every demo department. tests/test_graphiql_browser.py runs it."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any

from graphql import get_introspection_query

from hub.cli import demo_tokens
from hub.config import HubConfig
from hub.http.graphiql import STATIC_DIRECTORY
from tests.conftest import speaks_graphql

ROOT = Path(__file__).resolve().parent.parent
VENDORED = STATIC_DIRECTORY / "graphiql"
HTML = {"Accept": "text/html,application/xhtml+xml"}


def vendor_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vendor_graphiql", ROOT / "scripts" / "vendor_graphiql.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def csp(header: str) -> dict[str, list[str]]:
    out = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        out[name] = values
    return out


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data


def parse(page: str) -> _Tags:
    tags = _Tags()
    tags.feed(page)
    return tags


def assert_secured(headers: Any) -> None:
    policy = csp(headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval, no other host
    for directive in ("connect-src", "worker-src", "img-src", "font-src"):
        assert policy[directive] == ["'self'"], directive
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]  # Monaco's run-time <style>s
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


def test_the_page_has_strict_security_headers_and_no_inline_script(module_client: Any) -> None:
    r = module_client.get("/graphql", headers=HTML)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    assert_secured(r.headers)
    tags = parse(r.text)
    scripts = [attrs for tag, attrs in tags.tags if tag == "script"]
    assert scripts and all(attrs.get("src") for attrs in scripts)
    assert not tags.script_text.strip()
    assert not [tag for tag, attrs in tags.tags if any(name.startswith("on") for name in attrs)]
    assert not [tag for tag, attrs in tags.tags if "style" in attrs]
    assert not re.search(r"https?:|=\"//", r.text)  # nothing from another host


def _named_by_page(page: str) -> list[str]:
    tags = parse(page)
    return [str(attrs.get("src") or attrs.get("href")) for tag, attrs in tags.tags
            if tag in {"script", "link"} and (attrs.get("src") or attrs.get("href"))]


def _named_by_asset(path: str, body: str) -> list[str]:
    """The URLs an asset names: a script's imports, a stylesheet's url()s, the workers."""
    base = path.rsplit("/", 1)[0]
    names = re.findall(r"""import\(\s*['"](\./[^'"]+)['"]\s*\)""", body) if path.endswith(".js") else []
    if path.endswith(".css"):
        names = re.findall(r"""url\(\s*["']?([^"')]+)["']?\s*\)""", body)
        assert not [n for n in names if n.startswith(("data:", "http:", "https:", "//"))], path
    if path.endswith("/graphiql/graphiql.js"):
        assert re.search(r"new Worker\(new URL\(`\./\$\{\w+\}\.worker\.js`,import\.meta\.url\)", body)
        names += [f"./{w}" for w in vendor_script().WORKERS]
    return [f"{base}/{n[2:]}" if n.startswith("./") else n for n in names]


def test_every_asset_the_page_names_is_served_with_the_same_headers(module_client: Any) -> None:
    page = module_client.get("/graphql", headers=HTML).text
    todo = _named_by_page(page)
    assert "/graphiql/start.js" in todo and "/graphiql/graphiql/graphiql.css" in todo
    seen: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        assert path.startswith("/graphiql/"), path
        r = module_client.get(path)
        assert r.status_code == 200, path
        assert len(r.content) > 100, path
        assert_secured(r.headers)
        assert r.headers["cache-control"] == "no-cache"
        kind = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml", "ttf": "font/ttf",
                "png": "image/png"}[path.rsplit(".", 1)[1]]
        assert r.headers["content-type"].split(";")[0] == kind, path
        if path.endswith((".js", ".css")):
            todo += _named_by_asset(path, r.text)
    for must in ("/graphiql/graphiql/graphiql.js", "/graphiql/graphiql/editor.worker.js",
                 "/graphiql/graphiql/json.worker.js", "/graphiql/graphiql/graphql.worker.js",
                 "/graphiql/graphiql/codicon.ttf"):
        assert must in seen, must
    # The licences are served beside the code; nothing outside static/ is.
    assert module_client.get("/graphiql/graphiql/LICENSES.txt").status_code == 200
    assert module_client.get("/graphiql/../graphiql.py").status_code == 404
    assert module_client.get("/graphiql/").status_code == 404  # no listing


def test_the_vendored_files_are_those_the_script_recorded() -> None:
    manifest = json.loads((VENDORED / "VENDORED.json").read_text(encoding="utf-8"))
    script = vendor_script()
    assert manifest["pins"] == script.PINS
    package = json.loads((ROOT / "scripts" / "graphiql" / "package.json").read_text(encoding="utf-8"))
    assert {**package["dependencies"], **package["devDependencies"]} == script.PINS
    files = {p.name for p in VENDORED.iterdir()}
    assert files == {*manifest["files"], "VENDORED.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == digest, name
    # Every package of the lock is pinned by sha512 (what the script checks each tarball against).
    lock = script.read_lock()
    assert lock["node_modules/graphiql"]["version"] == script.PINS["graphiql"]
    licences = (VENDORED / "LICENSES.txt").read_text(encoding="utf-8")
    for spec in manifest["bundled"]:
        assert f"\n{spec} (" in licences, spec
    assert {"graphiql@5.4.0", "react@19.3.1", "react-dom@19.3.1", "monaco-editor@0.52.2"} <= set(
        manifest["bundled"])
    # A browser build that fetches nothing from elsewhere.
    for name in manifest["files"]:
        if name.endswith((".js", ".css")):
            text = (VENDORED / name).read_text(encoding="utf-8")
            for cdn in ("esm.sh", "unpkg.com", "jsdelivr", "cdnjs", "fonts.googleapis"):
                assert cdn not in text, (name, cdn)


def test_the_script_keeps_the_token_and_settings_out_of_storage() -> None:
    start = (STATIC_DIRECTORY / "start.js").read_text(encoding="utf-8")
    code = "\n".join(line for line in start.splitlines() if not line.strip().startswith("//"))
    assert not re.search(r"\b(localStorage|sessionStorage|indexedDB|document\.cookie)\b", code)
    assert "storage: memoryStorage()" in code
    assert "shouldPersistHeaders: false" in code
    assert "credentials: 'omit'" in code


def test_every_demo_department_can_introspect_and_run_the_default_query(
        module_client: Any, config: HubConfig, samples: dict[str, Any]) -> None:
    start = (STATIC_DIRECTORY / "start.js").read_text(encoding="utf-8")
    assert "'{',\n    '  __typename',\n    '}'," in start
    for department, _scope, tok in demo_tokens(config, samples):
        claims = json.loads(_b64url(tok.split(".")[1]))
        if not speaks_graphql(department, claims["purposes"][0]):
            continue  # national asks nothing over GraphQL (tests/test_policies.py: refused whole)
        headers = {"Authorization": f"Bearer {tok}", "X-Purpose": claims["purposes"][0]}
        hello = module_client.post("/graphql", json={"query": "{\n  __typename\n}\n"},
                                   headers=headers)
        assert hello.status_code == 200, (department, hello.text)
        answer = hello.json()
        assert answer["data"] == {"__typename": "Query"} and "errors" not in answer, department
        schema = module_client.post("/graphql", json={"query": get_introspection_query()}, headers=headers)
        assert schema.status_code == 200, (department, schema.text)
        assert schema.json()["data"]["__schema"]["queryType"]["name"] == "Query", department


def _b64url(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
