"""What every resolver receives as ``info.context``: who asks, why, and the
request's loaders."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .identity import Identity
from .loaders import Loaders


@dataclass
class RequestContext:
    identity: Identity
    purpose: str | None
    loaders: Loaders
    #: One "now" per request, so every "last N days" in it agrees.
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
