"""The health-code platform (connectors/healthcode/platform.py) as its own
process for the tests: started with a test key and the admin controls, which
the tests use to inject faults and to count what the service was asked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from connectors.healthcode import HealthCodeSettings
from connectors.healthcode.platform import spawn

KEY = "healthcode-platform-test-key-7d1e"
ADMIN = "healthcode-platform-admin-key-2c9b"
NO_FAULTS = {"delay": 0.0, "failureRate": 0.0, "failNext": 0, "retryAfter": 1.0, "stall": False}


@dataclass
class Running:
    url: str

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        r = httpx.request(method, self.url + path, json=body, timeout=5,
                          headers={"Authorization": f"Bearer {ADMIN}"})
        r.raise_for_status()
        return r.json()

    def faults(self, **change: Any) -> dict[str, Any]:
        return dict(self.admin("PUT", "/admin/faults", change))

    def stats(self) -> dict[str, Any]:
        return dict(self.admin("GET", "/admin/stats"))

    def reset(self) -> None:
        self.faults(**NO_FAULTS)
        self.admin("POST", "/admin/reset")

    def ask(self, body: Any, key: str | None = KEY) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.post(self.url + "/v1/codes:batchGet", json=body, headers=headers, timeout=5)

    def settings(self, **kw: Any) -> HealthCodeSettings:
        return HealthCodeSettings(self.url, token=KEY, **kw)


@contextmanager
def running(db: Path) -> Iterator[Running]:
    with spawn(db, key=KEY, admin_key=ADMIN) as (url, _key):
        yield Running(url)
