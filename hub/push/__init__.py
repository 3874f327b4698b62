"""Outbound feeds: the push of changed health-code records to the national platform.

``hub push national`` (and ``[push.national] interval_seconds`` inside ``hub
serve``) runs :class:`~hub.push.feed.NationalFeed`: the records changed since
the last complete push, read through the connector interface with only the
fields ``policies/national.toml`` grants (``records.py``), sent in batches,
rate-limited and retried with backoff (``sender.py``), each batch recorded in
the audit trail as an access by department ``national``, resumable from its
cursor in the hub's state (``cursor.py``). ``receiver.py`` is a national
platform to push to, run as its own process (``hub national-receiver``).
"""

from __future__ import annotations

from .feed import FEED, NationalFeed, PushReport
from .records import DEPARTMENT, PURPOSE, record_id

__all__ = ["DEPARTMENT", "FEED", "PURPOSE", "NationalFeed", "PushReport", "record_id"]
