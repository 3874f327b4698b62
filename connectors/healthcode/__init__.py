"""Provincial health-code platform (省健康码平台).

Its tables follow the provincial government's convention: pinyin initials for
column names, Chinese values for the colour and timestamps as 14-digit strings.

The hub reads it either from its database (``url`` a SQLAlchemy URL: the SQL
connector, ``views.py``) or over the platform's JSON API (``url`` an http(s)
URL: ``api.py``; the service itself is ``platform.py``)::

    [connectors.healthcode]
    url = "http://127.0.0.1:9100"
    token = "${HEALTHCODE_PLATFORM_TOKEN}"   # the platform's bearer key
    timeout = 2.0          # seconds per batch, retries included
    retries = 2            # on connect errors, 5xx and 429 (Retry-After honoured)
    cache_seconds = 5.0    # answers kept this long; 0: no cache
    batch_size = 1000      # ids per request (the platform takes at most 1000)

Either way it serves the same ``HealthCode`` view with the same unified fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.interface import Connector
from connectors.registry import Source, SqlSettings
from hub.errors import ConfigError

from .tables import metadata
from .views import HealthCodeConnector
from .wire import MAX_IDS, is_http


@dataclass(frozen=True)
class HealthCodeSettings(SqlSettings):
    """``[connectors.healthcode]``: a database URL, or the platform's http(s) URL and key."""

    #: The platform's bearer key (an http(s) url only; kept out of ``repr``, hence logs).
    token: str | None = field(default=None, repr=False)
    #: Attempts after the first, within the timeout (an http(s) url only).
    retries: int = 2
    #: Seconds an answer is reused (an http(s) url only); 0: never.
    cache_seconds: float = 5.0
    #: Ids per request (an http(s) url only).
    batch_size: int = MAX_IDS

    def __post_init__(self) -> None:
        if not is_http(self.url):
            if self.token is not None:
                raise ConfigError("token is the platform API's key, for an http(s) url only; "
                                  "a database url carries its own credentials")
            return
        if not self.token:
            raise ConfigError('an http(s) url needs token = "${HEALTHCODE_PLATFORM_TOKEN}" '
                              "(the platform's bearer key)")
        if self.retries < 0 or self.cache_seconds < 0:
            raise ConfigError("retries and cache_seconds must be at least 0")
        if not 1 <= self.batch_size <= MAX_IDS:
            raise ConfigError(f"batch_size must be 1 to {MAX_IDS}")


def create(settings: SqlSettings) -> Connector:
    """The SQL connector for a database url, the API connector for an http(s) one."""
    if not is_http(settings.url):
        # SqlConnector declares name and views as ClassVars, which the protocol's mypy check refuses.
        return HealthCodeConnector(settings.url, timeout=settings.timeout,
                                   pool_size=settings.pool_size)
    from .api import HealthCodeApiConnector

    token: Any = getattr(settings, "token", None)
    return HealthCodeApiConnector(
        settings.url, token or "", timeout=settings.timeout,
        retries=getattr(settings, "retries", 2),
        cache_seconds=getattr(settings, "cache_seconds", 5.0),
        batch_size=getattr(settings, "batch_size", MAX_IDS),
    )


SOURCE = Source(
    name=HealthCodeConnector.name,
    description="the provincial health-code platform: one current code per applicant",
    create=create,
    views=HealthCodeConnector.views,
    settings=HealthCodeSettings,
    order=10,
    city="connectors.healthcode.city:PART",
    tables=metadata,
)

__all__ = ["SOURCE", "HealthCodeSettings", "create"]
