"""``[push.national]``: the push of changed health-code records to the national platform.

The settings only; the push itself is ``hub/push/``. Absent: no push (``hub push
national`` is then a configuration error, and ``hub serve`` runs none)::

    [push.national]
    url = "http://127.0.0.1:9200/v1/records"   # the national platform's endpoint (POST)
    token = "${NATIONAL_PLATFORM_TOKEN}"        # its bearer key
    fields = ["idNumber", "color", "issuer", "updatedAt"]   # within policies/national.toml
    batch_size = 500
    requests_per_second = 5.0
    timeout = 10.0            # seconds per request
    retries = 5               # attempts after the first, with exponential backoff
    backoff_seconds = 0.5     # the first wait; doubled each time, at most 30 s
    interval_seconds = 300    # push from inside `hub serve` this often (absent: never)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors import registry
from hub.errors import ConfigError

#: The interface's own field set (the HealthCode view's names): ID number, colour,
#: issuer, updated at.
DEFAULT_FIELDS = ("idNumber", "color", "issuer", "updatedAt")
#: Fields every record carries: its stable id is made of them, and the feed's cursor.
REQUIRED_FIELDS = ("idNumber", "updatedAt")
MAX_BATCH = 10_000


@dataclass(frozen=True)
class NationalPush:
    """``[push.national]``, checked."""

    url: str
    #: The national platform's bearer key (kept out of ``repr``, hence logs).
    token: str = field(repr=False)
    fields: tuple[str, ...] = DEFAULT_FIELDS
    batch_size: int = 500
    requests_per_second: float = 5.0
    timeout: float = 10.0
    retries: int = 5
    backoff_seconds: float = 0.5
    interval_seconds: float | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError("url must be the national platform's http(s) endpoint")
        if not self.token:
            raise ConfigError('token must be the national platform\'s key, e.g. "${NATIONAL_PLATFORM_TOKEN}"')
        object.__setattr__(self, "fields", tuple(self.fields))
        view = registry.sources()["healthcode"].views["HealthCode"]
        for name in self.fields:
            if name not in view.served:
                raise ConfigError(f"fields: {name!r} is not a field of the health-code records; "
                                  f"they are {', '.join(sorted(view.served))}")
        if len(set(self.fields)) != len(self.fields):
            raise ConfigError("fields: a field is named twice")
        for name in REQUIRED_FIELDS:
            if name not in self.fields:
                raise ConfigError(f"fields must include {name!r}: each record's stable id and the "
                                  "feed's cursor are made of idNumber and updatedAt")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ConfigError(f"batch_size must be 1 to {MAX_BATCH} records")
        if not self.requests_per_second > 0 or not self.timeout > 0 or not self.backoff_seconds > 0:
            raise ConfigError("requests_per_second, timeout and backoff_seconds must be more than 0")
        if self.retries < 0:
            raise ConfigError("retries must be at least 0")
        if self.interval_seconds is not None and not self.interval_seconds > 0:
            raise ConfigError("interval_seconds must be more than 0 (leave it out for no interval)")
