"""The push of changed health-code records to the national platform (``hub push national``).

One run sends every record changed since the last complete push, batch by
batch, and returns a :class:`PushReport`:

1. the fields: ``[push.national] fields``, each allowed to department
   ``national`` for ``national-reporting`` (``records.granted_fields``);
2. the window (``cursor.py``): resumed if a run was cut short, else
   ``(since, a second ago]``;
3. per batch: the next ``batch_size`` records of the window from the source
   (only those columns, through the connector interface), sent and
   acknowledged (``sender.py``), recorded in the audit trail as an access by
   ``national`` (the ID numbers sent as its persons, the ``Type.field`` sent as
   its fields), then the cursor moved past them: the cursor only ever moves
   past records the receiver acknowledged, and their entry is committed first;
4. the window done, the cursor's ``since`` moves to its end.

A batch the receiver never acknowledges is recorded with outcome ``error``
and stops the run (``OutboundUnavailable``, exit 5) with the cursor where it
was. A run killed while a batch is in flight sends that batch again when it
restarts (the receiver stores a record once by its id) and records it then:
every batch the receiver acknowledged has at least one entry once the push
has run to its end.

``on_progress(done, total)`` is called after each batch: records of the
window acknowledged so far and how many it holds (None: not known).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from connectors.interface import Connector
from connectors.views import Condition, View
from hub.access.policy import Policy
from hub.audit.trail import AuditLog, Entry
from hub.config.push import NationalPush
from hub.errors import AuditUnavailable, HubError, OutboundUnavailable

from . import cursor
from .records import DEPARTMENT, PURPOSE, batch_id, granted_fields, wire_record
from .sender import Sender

log = logging.getLogger("hub.push")

FEED = "national"
SOURCE, VIEW = "healthcode", "HealthCode"
#: A window ends this long before the run starts, so a code changed during the
#: second the run starts in is in the next window, never skipped.
SETTLE = dt.timedelta(seconds=1)

Progress = Callable[[int, int | None], None]
#: Told of each batch: (feed, outcome "ok" / "error", records).
BatchObserver = Callable[[str, str, int], None]


@dataclass
class PushReport:
    feed: str
    records: int
    batches: int
    since: dt.datetime | None
    until: dt.datetime | None
    pushed: int  # records acknowledged by the feed, ever
    seconds: float
    attempts: int

    def summary(self) -> str:
        window = f"changed after {_when(self.since)} up to {_when(self.until)}"
        return (f"pushed {self.records:,} records in {self.batches} batches to the {self.feed} "
                f"platform ({window}) in {self.seconds:.1f}s, {self.attempts} requests; "
                f"{self.pushed:,} pushed by this feed in all")


def _when(value: dt.datetime | None) -> str:
    return "the start" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


class NationalFeed:
    """The national feed over one health-code connector, the audit trail and a policy."""

    def __init__(self, settings: NationalPush, connector: Connector, audit: AuditLog,
                 policy: Callable[[], Policy | None], *, subject: str = "hub-push",
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.settings = settings
        self.connector = connector
        self.audit = audit
        self.policy = policy
        self.subject = subject
        self.clock = clock
        self.observers: list[BatchObserver] = []
        #: Every record updated at or before this has been pushed (None: not known yet).
        self.watermark: dt.datetime | None = None

    @property
    def view(self) -> View:
        return self.connector.views[VIEW]

    def lag_seconds(self) -> float:
        """Seconds since the newest time up to which every changed record was pushed
        (NaN until known): the age of the oldest change that may not be pushed yet."""
        if self.watermark is None:
            return math.nan
        return max(0.0, (self.clock() - self.watermark).total_seconds())

    async def run(self, on_progress: Progress | None = None, *,
                  batch_size: int | None = None, sender: Sender | None = None) -> PushReport:
        """Push every record changed since the last complete push (see the module)."""
        settings = self.settings
        names = granted_fields(self.policy(), self.view, settings.fields)
        size = batch_size or settings.batch_size
        engine = self.audit.engine
        started = time.monotonic()
        position = await cursor.load(engine, FEED)
        self.watermark = position.since if position.since is not None else self.watermark
        if position.until is None:
            position = position.started(self.clock().replace(microsecond=0) - SETTLE)
            await cursor.save(engine, FEED, position)
        since, until = position.since, position.until
        assert until is not None
        where = (*((Condition("updatedAt", ">", since),) if since is not None else ()),
                 Condition("updatedAt", "<=", until))
        own = sender is None
        sender = sender or Sender(FEED, settings.url, settings.token, timeout=settings.timeout,
                                  retries=settings.retries, backoff_seconds=settings.backoff_seconds,
                                  requests_per_second=settings.requests_per_second)
        records = batches = 0
        total: int | None = None
        try:
            while True:
                pages = await self.connector.pages(VIEW, None, [None], fields=list(names), first=size,
                                                   after=position.after, where=where,
                                                   with_total=total is None)
                page = pages[None]
                if total is None:
                    total = page.total
                if not page.records:
                    break
                await self._batch(sender, names, page.records)
                position = position.advanced(page.cursors[-1], len(page.records))
                await cursor.save(engine, FEED, position)
                records, batches = records + len(page.records), batches + 1
                if on_progress is not None:
                    on_progress(position.done, total)
                if not page.has_next:
                    break
            position = position.finished()
            await cursor.save(engine, FEED, position)
            self.watermark = position.since
        finally:
            if own:
                await sender.close()
        return PushReport(FEED, records, batches, since, until, position.pushed,
                          time.monotonic() - started, sender.attempts)

    async def _batch(self, sender: Sender, names: dict[str, str], found: list[dict[str, object]]) -> None:
        """Send one batch; its audit entry is committed before the cursor may move."""
        wire = [wire_record(r, names) for r in found]
        batch = batch_id(r["id"] for r in wire)
        started = time.monotonic()
        entry = Entry(DEPARTMENT, self.subject, PURPOSE, f"push {FEED}", batch,
                      fields=sorted(set(names.values())),
                      persons=sorted({str(r["idNumber"]) for r in found}),
                      source_rows={SOURCE: len(found)})
        try:
            status = await sender.send(batch, wire)
        except OutboundUnavailable as exc:
            entry.outcome, entry.status, entry.code = "error", exc.http_status, exc.code
            entry.latency_ms = int((time.monotonic() - started) * 1000)
            self._observe("error", 0)
            try:
                await self.audit.record(entry)
            except AuditUnavailable:
                log.error("push %s: the failed batch %s could not be recorded either", FEED, batch[:16])
            raise
        entry.status, entry.latency_ms = status, int((time.monotonic() - started) * 1000)
        await self.audit.record(entry)  # AuditUnavailable: the cursor stays, the batch is sent again
        self._observe("ok", len(found))

    def _observe(self, outcome: str, records: int) -> None:
        for observe in self.observers:
            observe(FEED, outcome, records)

    async def every(self, interval: float) -> None:
        """Push every ``interval`` seconds until cancelled (inside ``hub serve``);
        a failed run is logged and the next one tries again."""
        while True:
            try:
                report = await self.run()
                if report.records:
                    log.info("push %s: %s", FEED, report.summary())
            except HubError as exc:
                log.error("push %s failed: %s", FEED, exc.message)
            except Exception:  # a bug must not end the hub's pushes for good
                log.exception("push %s failed", FEED)
            await asyncio.sleep(interval)
