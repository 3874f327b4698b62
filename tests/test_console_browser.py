"""The console in a real browser: headless Chromium (Debian's, driven by
playwright) against a real ``hub serve`` process, every request to another host
refused. The bureau logs in with its token; the access matrix, for every
purpose, agrees with ``hub policy show`` for every department; a school's read
of its pupils shows in a pupil's history on the Audit page; a source whose
file is truncated turns red on the Sources page; a school's emergency grant is
reviewed on the Emergency grants page; a school's token is refused.
Screenshots of each page go to the test's tmp_path.

Fails, never skips, without Chromium or playwright (see test_graphiql_browser)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import sql
from tests.processes import hub_command, serving
from tests.test_graphiql_browser import TIMEOUT_MS, Watch
from tests.test_graphiql_browser import chromium as chromium  # the module's browser


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("console")
    city = tmp / "city"
    hub_command("generate", "--persons", "300", "--seed", "5", "--out", str(city), "--quiet")
    cfg = tmp / "hub.toml"
    cfg.write_text(f'[hub]\ndata_dir = "{city}"\npolicy_poll_seconds = 0\n', encoding="utf-8")
    samples = __import__("json").loads((city / "city.json").read_text(encoding="utf-8"))["samples"]
    school = samples["school_id"]

    def token(*args: str) -> str:
        return hub_command("token", "--config", str(cfg), *args).stdout.split()[-1]

    with serving(cfg) as base:
        yield {"base": base, "city": city, "school": school, "bureau": token("--department", "bigdata"),
               "school_token": token("--department", "school", "--scope", f"school={school}")}


def log_in(browser: Any, hub: dict[str, Any], token: str) -> tuple[Any, Any, Watch]:
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watch = Watch(page, hub["base"])
    page.goto(f"{hub['base']}/console")
    page.fill("#login input[name=token]", token)
    page.click("#login button[type=submit]")
    page.wait_for_load_state("networkidle")
    return context, page, watch


def policy_show(department: str) -> dict[str, list[tuple[str, str]]]:
    """``hub policy show DEPT``: Type.field -> [(decision, purposes)]."""
    out: dict[str, list[tuple[str, str]]] = {}
    lines = hub_command("policy", "show", department).stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("field "))
    for line in lines[start + 1:]:
        key, decision, purposes = line.split()
        out.setdefault(key, []).append((decision, purposes))
    return out


def expected(rules: list[tuple[str, str]], purpose: str) -> str:
    """What ``hub policy show`` grants for ``purpose``: allow beats mask, else deny."""
    found = [d for d, p in rules if d != "deny" and (p == "any" or purpose in p.split(","))]
    return "allow" if "allow" in found else found[0] if found else "deny"


def test_the_bureau_sees_the_matrix_of_hub_policy_show(hub: dict[str, Any], chromium: Any, tmp_path: Path) -> None:
    context, page, watch = log_in(chromium, hub, hub["bureau"])
    assert page.url.endswith("/console/matrix"), page.url
    departments = page.eval_on_selector_all("#matrix thead th[data-department]", "els => els.map(e => e.dataset.department)")
    shown = {d: policy_show(d) for d in departments}
    files = Path(__file__).resolve().parent.parent / "policies"
    assert sorted(departments) == sorted(p.stem for p in files.glob("*.toml") if not p.stem.startswith("_"))
    purposes = page.eval_on_selector_all("a.purpose", "els => els.map(e => e.textContent)")
    compared = 0
    for purpose in purposes:
        page.goto(f"{hub['base']}/console/matrix?purpose={purpose}")
        assert page.get_attribute("#matrix", "data-purpose") == purpose
        if purpose == "school-reopening":
            page.screenshot(path=str(tmp_path / "01-matrix.png"))
        cells = page.eval_on_selector_all(
            "#matrix td[data-decision]",
            "els => els.map(e => [e.closest('tr').dataset.field, e.dataset.department, e.dataset.decision])")
        for field, department, decision in cells:
            want = expected(shown[department].get(field, []), purpose)
            # The matrix is the grant actually enforced: a granted field whose type the purpose
            # leaves unreachable is cut (denied); it never shows more than the file grants.
            assert decision == want or decision == "deny", (purpose, department, field, decision, want)
            compared += 1
    assert compared > 1000
    # Hover text and link of a masked cell.
    page.goto(f"{hub['base']}/console/matrix?purpose=school-reopening")
    cell = page.locator('tr[data-field="Person.idNumber"] td[data-department="school"]')
    assert cell.get_attribute("data-decision") == "mask:id_number"
    assert "Why:" in (cell.get_attribute("title") or "")
    assert re.search(r"/console/policy/school#L\d+$", cell.locator("a").get_attribute("href") or "")
    assert "410105********1234" in cell.inner_text()
    for name in ("sources", "requests"):
        page.click(f"header nav a[href='/console/{name}']")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(tmp_path / f"02-{name}.png"))
    assert watch.errors == [] and watch.refused == [], (watch.errors, watch.refused)
    context.close()


def test_a_schools_read_is_in_the_pupils_history(hub: dict[str, Any], chromium: Any, tmp_path: Path) -> None:
    pupil = sql(hub["city"], "school", "SELECT id_number FROM student WHERE school_id = ? LIMIT 1", hub["school"])[0][0]
    r = httpx.post(f"{hub['base']}/graphql", timeout=30, json={
        "query": "query($s: ID!) { school(id: $s) { students(first: 500) { edges { node { name } } } } }",
        "variables": {"s": hub["school"]}},
        headers={"Authorization": f"Bearer {hub['school_token']}", "X-Purpose": "school-reopening"})
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    seq = r.headers["x-audit-entry"]
    context, page, watch = log_in(chromium, hub, hub["bureau"])
    page.click("header nav a[href='/console/audit']")
    page.fill("#search input[name=idNumber]", pupil)
    page.click("#search button[type=submit]")
    row = page.locator(f'#entries tr[data-seq="{seq}"]')
    row.wait_for()
    assert row.get_attribute("data-department") == "school"
    row.locator("summary").click()
    assert "school-reopening" in row.inner_text()
    page.screenshot(path=str(tmp_path / "03-audit.png"))
    page.click("#verify button[type=submit]")
    assert page.locator("#verified").inner_text().startswith("Intact:")
    assert watch.errors == [] and watch.refused == [], (watch.errors, watch.refused)
    context.close()


def test_a_stopped_source_turns_red(hub: dict[str, Any], chromium: Any, tmp_path: Path) -> None:
    context, page, _watch = log_in(chromium, hub, hub["bureau"])
    page.goto(f"{hub['base']}/console/sources")
    row = page.locator('#sources tr[data-source="clinic"]')
    assert row.get_attribute("class") == "ready"
    path = Path(hub["city"]) / "clinic.sqlite"
    good = path.read_bytes()
    try:
        with path.open("r+b") as fh:  # the source's file emptied in place: its system is gone
            fh.truncate(0)
        page.reload()
        assert row.get_attribute("class") == "failing"
        assert "failing: " in row.locator(".state").inner_text()
        red = page.eval_on_selector('#sources tr[data-source="clinic"]', "e => getComputedStyle(e).backgroundColor")
        assert red == "rgb(248, 215, 218)", red
        page.screenshot(path=str(tmp_path / "04-source-down.png"))
    finally:
        path.write_bytes(good)
    page.reload()
    assert row.get_attribute("class") == "ready"
    context.close()


def test_a_schools_emergency_grant_is_reviewed_on_its_page(hub: dict[str, Any], chromium: Any,
                                                           tmp_path: Path) -> None:
    pupil = sql(hub["city"], "school", "SELECT id_number FROM student WHERE school_id = ? LIMIT 1", hub["school"])[0][0]
    r = httpx.post(f"{hub['base']}/graphql", timeout=30, json={
        "query": "mutation($i: EmergencyAccessInput!) { requestEmergencyAccess(input: $i) { id } }",
        "variables": {"i": {"fields": ["Person.phone"], "persons": [pupil], "minutes": 20,
                            "reason": "pupil taken ill in class; the family must be called"}}},
        headers={"Authorization": f"Bearer {hub['school_token']}", "X-Purpose": "school-reopening"})
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    grant, seq = r.json()["data"]["requestEmergencyAccess"]["id"], r.headers["x-audit-entry"]
    context, page, watch = log_in(chromium, hub, hub["bureau"])
    page.click("header nav a[href='/console/grants']")
    row = page.locator(f'#waiting tr[data-grant="{grant}"]')
    assert "taken ill" in row.inner_text() and pupil not in row.inner_text()
    page.screenshot(path=str(tmp_path / "05-grants.png"))
    row.locator(f'a[data-entry="{seq}"]').click()  # its audit entry, opened on the Audit page
    assert page.locator(f'#entry-{seq} details').get_attribute("open") is not None
    page.go_back()
    row.locator("input[value=APPROVED]").check()
    row.locator("input[name=note]").fill("called the head teacher: justified")
    row.locator("button[type=submit]").click()
    assert page.locator("#review-done").inner_text().endswith("reviewed: APPROVED.")
    done = page.locator(f'#reviewed tr[data-grant="{grant}"]')
    assert done.locator("[data-verdict]").inner_text() == "APPROVED" and "justified" in done.inner_text()
    page.screenshot(path=str(tmp_path / "06-grant-reviewed.png"))
    assert watch.errors == [] and watch.refused == [], (watch.errors, watch.refused)
    context.close()


def test_a_school_token_is_refused(hub: dict[str, Any], chromium: Any, tmp_path: Path) -> None:
    context, page, _watch = log_in(chromium, hub, hub["school_token"])
    assert page.locator("#refused").inner_text().startswith("Refused.")
    assert page.locator("nav").count() == 0 and page.locator("#matrix").count() == 0
    page.screenshot(path=str(tmp_path / "07-refused.png"))
    page.goto(f"{hub['base']}/console/matrix")
    assert page.url.endswith("/console/login")  # no session was made
    context.close()
