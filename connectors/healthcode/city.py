"""The health-code platform's part of the synthetic city: one current code
per resident (visitors from elsewhere have none here), in the platform's own
conventions: the colour in Chinese, the time as 14 digits (UTC)."""

from __future__ import annotations

import time

from hub.city.part import CityPart
from hub.city.person import Person

from .tables import metadata

__all__ = ["PART", "HealthCodeCity", "compact_text"]

_COLOURS = {"GREEN": "绿", "YELLOW": "黄", "RED": "红"}
_strftime = time.strftime
_gmtime = time.gmtime


def compact_text(ts: int) -> str:
    """Epoch seconds -> the platform's 'YYYYMMDDHHMMSS' (UTC)."""
    return _strftime("%Y%m%d%H%M%S", _gmtime(ts))


class HealthCodeCity(CityPart):
    tables = metadata
    layouts = {"jkm_xx": ("sfzh", "xm", "sjh", "mys", "fmyy", "gxsj", "fmjg")}
    # The primary key takes ID numbers in random order: its index needs the most cache.
    cache_mb = 96

    def start(self) -> None:
        self._codes = self.rows["jkm_xx"]

    def health_code(self, person: Person, colour: str, reason: str, updated_at: int, issuer: str) -> None:
        self._codes.add((person.id_number, person.name, person.mobile, _COLOURS[colour], reason,
                         compact_text(updated_at), issuer))


PART = HealthCodeCity
