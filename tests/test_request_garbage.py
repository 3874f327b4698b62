"""What a request leaves for the garbage collector, and what is worked out once
instead of per request (issue 10, the look-up's speed).

A request's objects (its context, loaders, executor) must go when it does, by
their reference counts: cycles among them would wait for the cyclic garbage
collector, which the hub runs rarely while serving (``hub.app.YOUNG_OBJECTS``).
"""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from hub import app as app_module
from hub.app import create_app
from hub.audit import grants as grants_module
from hub.audit.chain import Entry
from hub.audit.trail import AuditLog
from hub.config import HubConfig
from hub.limits import Limits
from tests.conftest import poster

#: The request's own objects, none of which may be left in a cycle.
REQUEST_TYPES = {"RequestContext", "Loaders", "Batcher", "_Run", "Executor", "Exchange",
                 "Admission", "Cursors", "_Watch"}
LOOKUP = "query($id: String!){ healthCode(idNumber: $id) { color updatedAt } }"
PERSON = "query($id: String!){ person(idNumber: $id) { name healthCode { color } } }"


@pytest.fixture(scope="module")
def served(config: HubConfig) -> Iterator[TestClient]:
    with TestClient(create_app(config)) as c:
        yield c


def _left_in_cycles(run: Any) -> Counter[str]:
    """The request objects ``run()`` leaves that only the cycle collector frees."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
        return Counter(type(o).__name__ for o in gc.garbage if type(o).__name__ in REQUEST_TYPES)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def test_a_request_leaves_no_cycles_behind(served: TestClient, token: Any,
                                           samples: dict[str, Any]) -> None:
    post = poster(served, token)
    ids = [samples["id_number"], samples["red_id_number"], "410102199003070000"]

    def run() -> None:
        for i in ids:
            r = post(LOOKUP, {"id": i}, department="province")
            assert r.status_code == 200 and "errors" not in r.json(), r.text
            r = post(PERSON, {"id": i}, department="health")
            assert r.status_code == 200, r.text

    run()  # warm: documents parsed, connections opened
    assert _left_in_cycles(run) == Counter()


def test_the_young_generation_is_collected_rarely_while_serving(config: HubConfig) -> None:
    before = gc.get_threshold()
    with TestClient(create_app(config)):
        during = gc.get_threshold()
    assert during[0] == max(before[0], app_module.YOUNG_OBJECTS) and during[1:] == before[1:]
    assert gc.get_threshold() == before  # given back when the hub stops


def test_a_released_loader_is_made_again_and_answers_alike(served: TestClient,
                                                          samples: dict[str, Any]) -> None:
    from hub.access.tokens import issue_token

    hub = served.app.state.hub  # type: ignore[attr-defined]
    id_number = samples["id_number"]

    async def run() -> None:
        identity = hub.access.authenticate(f"Bearer {issue_token(hub.config.secret, 'province')}")
        context = hub.runner.context(hub.access.admit(identity, "mutual-recognition"))
        first = context.loaders.records("HealthCode", "idNumber")
        some = await first.load(id_number)
        context.release()
        again = context.loaders.records("HealthCode", "idNumber")
        assert again is not first
        assert await again.load(id_number) == some and some

    assert served.portal is not None
    served.portal.call(run)


def test_an_entrys_bounds_follow_the_limits_in_force(tmp_path: Path) -> None:
    audit = AuditLog(f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite", "k" * 40,
                     Limits(purpose_chars=8))
    entry = Entry("d" * 40, "subject", "p" * 20, "o" * 200, "h")
    cut = audit._bounded(entry)
    assert (cut.purpose, cut.department, cut.operation) == ("p" * 7 + "…", "d" * 31 + "…", "o" * 127 + "…")
    assert cut is not entry and entry.purpose == "p" * 20  # the caller's entry is left alone
    audit.limits = replace(audit.limits, purpose_chars=16)
    assert audit._bounded(entry).purpose == "p" * 15 + "…"
    audit.limits = replace(audit.limits, purpose_chars=64)
    assert audit._bounded(entry).purpose == "p" * 20


def test_a_holders_requests_share_one_look_up_of_their_grant(tmp_path: Path) -> None:
    async def run() -> None:
        audit = AuditLog(f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite", "k" * 40)
        await audit.start()
        statements: list[str] = []

        def seen(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
            if "emergency_grant" in sql:
                statements.append(sql)

        event.listen(audit.engine.sync_engine, "before_cursor_execute", seen)
        try:
            grants = grants_module.EmergencyGrants(lambda: audit.engine)
            holder = ("school", "staff-1", "school-reopening")
            found = await asyncio.gather(*(grants.active(*holder) for _ in range(8)))
            assert found == [None] * 8
            assert len(statements) == 1, statements
            # A grant made while a look-up is in flight is not hidden by it.
            asking = asyncio.ensure_future(grants.active(*holder))
            await asyncio.sleep(0)
            made = await grants.create(department="school", subject="staff-1",
                                       purpose="school-reopening", fields=["Person.phone"],
                                       persons=None, scope={}, reason="a flood closed the road; "
                                       "the principal must reach the families", minutes=5)
            await asyncio.wait_for(asking, 5)
            now = await grants.active(*holder)
            assert now is not None and now.id == made.id
        finally:
            await audit.close()

    asyncio.run(run())
