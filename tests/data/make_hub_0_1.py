"""How tests/data/hub-0.1.sqlite was made: with the hub as released in 0.1
(commit 895b6d1, before the Alembic migrations), in a checkout of that commit:

    .venv/bin/python tests/data/make_hub_0_1.py tests/data/hub-0.1.sqlite

Three audit entries through AuditLog.record and one return-to-work commitment
through Commitments.submit; the file is left in rollback-journal mode so it is
one self-contained file. Run against later code it makes a file of that code's
schema instead, so the committed file is the one to keep.
"""
import asyncio
import os
import sqlite3
import sys

from hub.audit.trail import AuditLog, Entry, document_hash
from hub.workflows.commitments import Commitments

PATH = sys.argv[1]
SECRET = "0.1-fixture-secret-0123456789abcdef"

async def main() -> None:
    if os.path.exists(PATH):
        os.remove(PATH)
    audit = AuditLog(f"sqlite+aiosqlite:///{PATH}", SECRET)
    await audit.start()
    await audit.record(Entry("education", "planner-1", "school-reopening", "Reopen",
                             document_hash("query Reopen { school(id: 1) { name } }"),
                             fields=["Query.school", "School.name"], persons=[],
                             source_rows={"school": 1}, at="2026-03-01T08:00:00.000000+00:00"))
    await audit.record(Entry("health", "investigator-7", "epidemiological-investigation", "Trace",
                             document_hash("query Trace { person { name } }"),
                             fields=["Query.person", "Person.name"], persons=["410105199001011234"],
                             source_rows={"healthcode": 1}, at="2026-03-01T08:05:00.000000+00:00"))
    await audit.record(Entry("province", "hubei", "mutual-recognition", "", document_hash("{ schools { totalCount } }"),
                             outcome="refused", status=403, at="2026-03-01T08:10:00.000000+00:00"))
    commitments = Commitments(audit.engine)

    async def decide():
        return "APPROVED", [], [], 40

    data = {"creditCode": "91410102MA17600087", "contactName": "王经理", "contactPhone": "13812345678",
            "plannedDate": "2026-12-01", "headcount": 40, "measures": ["masks"], "accepted": True}
    await commitments.submit(data, decide, "enterprise:91410102MA17600087")
    assert await audit.verify() is None
    await audit.close()
    with sqlite3.connect(PATH) as conn:  # one self-contained file, no -wal beside it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()

asyncio.run(main())
