"""GraphiQL in a real browser: headless Chromium (Debian's, driven by
playwright) against a real ``hub serve`` process, with every request to another
host refused. Before a token: no console error and no request to /graphql.
After a demo token and a purpose: a query runs and shows the hub's data. And
the browser keeps nothing: localStorage, sessionStorage, cookies and IndexedDB
stay empty. Screenshots go to the test's tmp_path.

This test fails, never skips, without Chromium or playwright: .ci/run installs
Debian's chromium, the [test] extra installs playwright."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import hub_command, serving

CHROMIUM = Path("/usr/bin/chromium")
# Flags this machine needs (its closed network refuses Chromium's background
# connections), and a sandbox-less start as root.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--metrics-recording-only"]
TIMEOUT_MS = 60_000
QUERY = "query Schools { schools(first: 3) { totalCount edges { node { name } } } }"  # one line: Monaco indents


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("graphiql")
    city = tmp / "city"
    hub_command("generate", "--persons", "300", "--seed", "5", "--out", str(city))
    cfg = tmp / "hub.toml"
    cfg.write_text(f'[hub]\ndata_dir = "{city}"\npolicy_poll_seconds = 0\n', encoding="utf-8")
    token = hub_command("token", "--department", "education", "--config", str(cfg)).stdout.split()[-1]
    with serving(cfg) as base:
        yield {"base": base, "token": token}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -e '.[test]'")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Watch:
    """What the page did: console errors, page errors, requests (off-host ones refused)."""

    def __init__(self, page: Any, base: str) -> None:
        self.base = base
        self.errors: list[str] = []
        self.requests: list[Any] = []
        self.refused: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("request", lambda r: self.requests.append(r))
        page.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.base + "/"):
            route.continue_()
        else:
            self.refused.append(url)
            route.abort()

    def posts(self) -> list[Any]:
        return [r for r in self.requests if r.method == "POST"]


def stored(page: Any) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate("""async () => ({
        localStorage: Object.keys(localStorage),
        sessionStorage: Object.keys(sessionStorage),
        cookie: document.cookie,
        indexedDB: (await indexedDB.databases()).map((d) => d.name),
    })""")
    return found


EMPTY = {"localStorage": [], "sessionStorage": [], "cookie": "", "indexedDB": []}


def test_graphiql_asks_for_a_token_then_runs_a_query_and_stores_nothing(
        hub: dict[str, str], chromium: Any, tmp_path: Path) -> None:
    base, token = hub["base"], hub["token"]
    expected = httpx.post(f"{base}/graphql", json={"query": QUERY}, timeout=30,
                          headers={"Authorization": f"Bearer {token}", "X-Purpose": "school-reopening"})
    assert expected.status_code == 200, expected.text
    schools = expected.json()["data"]["schools"]
    assert schools["totalCount"] > 0

    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watch = Watch(page, base)

    # 1. The page and all of GraphiQL load; nothing is asked of /graphql yet.
    page.goto(f"{base}/graphql", wait_until="networkidle")
    page.wait_for_selector("#login button[type=submit]:not([disabled])")
    page.screenshot(path=str(tmp_path / "01-before-token.png"))
    loaded = {r.url.removeprefix(base) for r in watch.requests}
    assert "/graphiql/graphiql/graphiql.js" in loaded, loaded
    assert watch.errors == [], watch.errors
    assert watch.posts() == []
    assert stored(page) == EMPTY

    # 2. A demo token and a purpose; the form reads the token's purposes.
    page.fill("#token", token)
    assert "education" in page.text_content("#about")
    assert page.input_value("#purpose") == "school-reopening"
    page.fill("#purpose", "school-reopening")
    page.click("#login button[type=submit]")
    page.wait_for_selector(".graphiql-container")
    page.wait_for_selector(".graphiql-query-editor .monaco-editor")
    page.wait_for_function("() => document.querySelector('.graphiql-query-editor')"
                           ".innerText.includes('__typename')")
    page.wait_for_function("n => n <= performance.getEntriesByType('resource')"
                           ".filter(e => e.name.endsWith('/graphql')).length", arg=1)  # introspection
    assert token not in page.content()  # not in the form, the header editor or anywhere in the DOM

    # 3. A query of the user's own runs and shows the hub's data.
    page.click(".graphiql-query-editor .monaco-editor")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(QUERY)
    # GraphiQL's prettify button (prettier, in the bundle) lays it out on lines.
    page.get_by_role("button", name="Prettify query").click()
    page.wait_for_function("() => document.querySelector('.graphiql-query-editor .view-lines')"
                           ".childElementCount >= 5")
    page.click(".graphiql-execute-button")
    first = schools["edges"][0]["node"]["name"]
    try:
        page.wait_for_function("name => document.querySelector('.result-window').innerText.includes(name)",
                               arg=first)
    finally:
        page.screenshot(path=str(tmp_path / "02-query-ran.png"))
    shown = page.inner_text(".result-window").replace("\xa0", " ")  # Monaco's spaces
    assert json.loads(shown) == expected.json(), shown

    posts = watch.posts()
    assert len(posts) >= 2  # the introspection, then the query
    for request in posts:
        assert request.url == f"{base}/graphql"
        assert request.headers["authorization"] == f"Bearer {token}"
        assert request.headers["x-purpose"] == "school-reopening"
        assert "referer" not in request.headers
    ran = [json.loads(r.post_data or "{}") for r in posts]
    assert any(body.get("query", "").startswith("query Schools") for body in ran), ran

    # 4. Nothing kept in the browser, nothing asked of another host, no error at any point.
    assert stored(page) == EMPTY
    assert watch.refused == [], watch.refused
    assert watch.errors == [], watch.errors
    assert not [r.url for r in watch.requests if token in r.url]

    # 5. Forgetting the token reloads the page: the form again, and still nothing stored.
    page.click("#forget")
    page.wait_for_selector("#login button[type=submit]:not([disabled])")
    assert page.input_value("#token") == ""
    assert stored(page) == EMPTY
    page.screenshot(path=str(tmp_path / "03-forgotten.png"))
    context.close()
