"""A citizen's own view (issue 13, item 2): ``myData`` and ``myAccessHistory``
for a token whose subject is the citizen's ID number (``hub token --citizen``),
read through the row scope ``self`` (every view holding an ID number answers
only that person's rows)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy.dialects import sqlite

from hub.access.tokens import ALGORITHM, ISSUER
from hub.cli import main
from hub.config import HubConfig
from hub.errors import BadInput
from tests.conftest import sql

ID_NUMBER = re.compile(r"(?<![0-9A-Za-z*])[0-9]{17}[0-9X](?![0-9A-Za-z])")
HISTORY = ("{ myAccessHistory(first: 50) { totalCount edges { node { at department purpose operation "
           "fields outcome } } } }")


def _citizen(gql: Any, query: str, person: str, **kw: Any) -> Any:
    return gql(query, department="citizen", subject=person, **kw)


def _schoolmates(city: Path, school: str, person: str) -> list[str]:
    rows = sql(city, "school", "SELECT id_number FROM student WHERE school_id = ? AND id_number != ? "
               "LIMIT 5", school, person)
    return [r[0] for r in rows]


def test_citizen_sees_the_schools_read_and_no_other_person(gql: Any, samples: dict[str, Any],
                                                           city: Path) -> None:
    pupil, school = samples["id_number"], samples["school_id"]
    mates = _schoolmates(city, school, pupil)
    assert mates
    q = ('query Register($s: ID!) { school(id: $s) { students(first: 500) { edges { node { '
         'idNumber name healthCode { color } } } } } }')
    read = gql(q, {"s": school}, department="school", scopes={"school": [school]})
    assert "errors" not in read.json()
    seq = int(read.headers["X-Audit-Entry"])

    r = _citizen(gql, HISTORY, pupil)
    body = r.json()
    assert "errors" not in body, body
    nodes = [e["node"] for e in body["data"]["myAccessHistory"]["edges"]]
    school_reads = [n for n in nodes if n["department"] == "school" and n["operation"] == "Register"]
    assert len(school_reads) == 1, nodes
    entry = school_reads[0]
    assert entry["purpose"] == "school-reopening" and entry["outcome"] == "OK"
    assert {"Query.school", "School.students", "Person.name", "Person.healthCode"} <= set(entry["fields"])
    # No other person, no ID number at all (the citizen's own is not repeated either).
    assert not ID_NUMBER.search(r.text)
    for mate in mates:
        assert mate not in r.text
    # The school's entry is in a schoolmate's history too, not in a stranger's.
    other = _citizen(gql, HISTORY, mates[0]).json()["data"]["myAccessHistory"]["edges"]
    assert any(e["node"]["operation"] == "Register" for e in other)
    stranger = samples["employee_id_number"]
    assert stranger not in {pupil, *mates}
    theirs = _citizen(gql, HISTORY, stranger).json()["data"]["myAccessHistory"]["edges"]
    assert not any(e["node"]["operation"] == "Register" for e in theirs)
    assert seq > 0


def test_reading_ones_history_is_audited_and_touches_only_oneself(
        client: Any, gql: Any, token: Any, samples: dict[str, Any]) -> None:
    pupil = samples["id_number"]
    r = _citizen(gql, "query Mine " + HISTORY, pupil)
    assert r.status_code == 200
    seq = int(r.headers["X-Audit-Entry"])
    bureau = gql("query($id: String!) { accessHistory(idNumber: $id, first: 5) { edges { node { seq "
                 "department subject purpose operation persons } } } }", {"id": pupil},
                 department="bigdata", purpose="operations")
    entries = {e["node"]["seq"]: e["node"] for e in bureau.json()["data"]["accessHistory"]["edges"]}
    mine = entries[seq]
    masked = pupil[:6] + "*" * 8 + pupil[-4:]  # the bureau never sees a person in clear
    assert (mine["department"], mine["subject"], mine["purpose"], mine["operation"]) == \
        ("citizen", masked, "own-data", "Mine")
    log = client.app.state.hub.audit
    import asyncio

    rows, _, _ = asyncio.run(_entries(log, seq))
    assert rows[0]["persons"] == [pupil]


async def _entries(log: Any, seq: int) -> Any:
    return await log.entries(after_seq=seq + 1, first=1)


def test_my_data_is_the_citizens_own_unmasked(gql: Any, samples: dict[str, Any], city: Path) -> None:
    person = samples["id_number"]
    q = ("{ myData { idNumber name phone birthDate healthCode { color reason } enrollment { role grade "
         "school { name } } residence { building room community { name } } clinicVisits(days: 90) "
         "{ time diagnosis } venueScans(days: 90) { time venue { name } } trail(days: 90) { kind time } } }")
    r = _citizen(gql, q, person)
    body = r.json()
    assert "errors" not in body, body
    me = body["data"]["myData"]
    name, phone = sql(city, "healthcode", "SELECT xm, sjh FROM jkm_xx WHERE sfzh = ?", person)[0]
    assert (me["idNumber"], me["name"], me["phone"]) == (person, name, phone)
    assert me["enrollment"]["role"] == "STUDENT" and me["enrollment"]["school"]["name"]
    # Only ever their own ID number in the answer.
    assert set(ID_NUMBER.findall(r.text)) == {person}


def test_every_statement_to_a_person_view_is_kept_to_the_subject(
        client: Any, gql: Any, samples: dict[str, Any]) -> None:
    statements: list[str] = []
    for source in client.app.state.hub.sources.values():
        source.observers.append(lambda c, stmt, _rows: statements.append(
            str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
            if hasattr(stmt, "compile") else str(stmt)))
    person = samples["id_number"]
    q = ("{ myData { name residence { community { name } } employments { enterprise { name } } "
         "enrollment { school { name } } checkpointPasses(days: 90) { time checkpoint { name } } "
         "communityEntries(days: 90) { time } clinicVisits(days: 90) { time } arrivals { kind } "
         "declarations(days: 90) { date } venueScans(days: 90) { time } } }")
    r = gql(q, department="citizen", subject=person)
    assert "errors" not in r.json(), r.json()
    people = {"student", "staff", "t_resident", "t_gate_log", "employee", "emp_health_daily",
              "fever_visit", "pass_record", "inbound_traveller", "csm_smjl", "jkm_xx"}
    seen = [s for s in statements if any(f"FROM {t}" in s for t in people)]
    assert len(seen) >= 6, statements
    for s in seen:  # the look-up's key and, again, the row scope
        assert s.count(f"'{person}'") >= 2, s


def test_a_citizen_token_cannot_name_another_person(gql: Any, samples: dict[str, Any]) -> None:
    me, other = samples["id_number"], samples["red_id_number"]
    for q in ('{ person(idNumber: "%s") { name } }' % other,
              '{ accessHistory(idNumber: "%s") { totalCount } }' % other,
              '{ myData(idNumber: "%s") { name } }' % other):
        r = _citizen(gql, q, me)
        assert r.status_code in (400, 403), r.json()
        assert "data" not in r.json()
        assert other not in r.text


def test_a_citizen_token_whose_subject_is_no_id_number_reads_nothing(
        client: Any, config: HubConfig, token: Any, samples: dict[str, Any]) -> None:
    with pytest.raises(BadInput, match="ID number"):
        token("citizen", subject="citizen-app")
    # One signed by the hub's key all the same (a token issued by other means).
    now = int(time.time())
    forged = jwt.encode({"iss": ISSUER, "sub": samples["id_number"][:-1] + "0", "dept": "citizen",
                         "scope": {}, "purposes": ["own-data"], "iat": now, "exp": now + 60},
                        config.secret, algorithm=ALGORITHM)
    r = client.post("/graphql", json={"query": "{ myData { name } }"},
                    headers={"Authorization": f"Bearer {forged}", "X-Purpose": "own-data"})
    assert r.status_code == 403
    assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "--citizen" in r.json()["errors"][0]["message"]


def test_hub_token_citizen(capsys: Any, config: HubConfig, samples: dict[str, Any], city: Path) -> None:
    person = samples["id_number"]
    assert main(["token", "--citizen", person, "--data-dir", str(city)]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip().splitlines()[-1], config.secret,
                        algorithms=[ALGORITHM], issuer=ISSUER)
    assert (claims["dept"], claims["sub"], claims["purposes"]) == ("citizen", person, ["own-data"])
    for argv in (["--citizen", person[:-1] + ("0" if person[-1] != "0" else "1")],
                 ["--citizen", person, "--department", "health"],
                 ["--citizen", person, "--scope", "school=S1"],
                 ["--department", "citizen"],
                 ["--department", "school", "--scope", f"self={person}"],
                 []):
        assert main(["token", *argv, "--data-dir", str(city)]) == 2, argv
        assert capsys.readouterr().err.strip()


def test_a_person_unknown_to_every_source_gets_null(gql: Any) -> None:
    # A valid ID number that no source knows.
    from hub.ids import id_number_check_digit

    body = "41010519990101999"
    nobody = body + id_number_check_digit(body)
    r = _citizen(gql, "{ myData { name } }", nobody)
    assert r.json() == {"data": {"myData": None}, "extensions": r.json()["extensions"]}

