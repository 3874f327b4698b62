"""What the health-code platform's JSON API and the hub's connector for it agree on.

The API is documented in ``connectors/healthcode/platform.py`` (the service);
this module holds only the contract both sides read: the paths, the field
names (the platform's own column names, see ``tables.py``), the colours it
answers in, and the most ID numbers one request may carry.
"""

from __future__ import annotations

from .tables import jkm_xx

#: Batch lookup by resident ID number (POST).
BATCH_GET = "/v1/codes:batchGet"
#: Every code of one colour (POST): the commission's list of red and yellow codes.
BY_COLOR = "/v1/codes:byColor"
#: Most records one byColor answer holds (more: ``truncated``).
MAX_BY_COLOR = 50_000
#: The database answers and our key is accepted (GET).
STATUS = "/v1/status"
#: The process is up (GET, no key): for whoever starts it.
HEALTHZ = "/healthz"

#: The record's key field (身份证号, the resident ID number): in every record.
KEY = "sfzh"
#: Every field of a record, in the platform's own names (its table's columns).
FIELDS: tuple[str, ...] = tuple(c.name for c in jkm_xx.columns)
#: The values of ``mys`` (码颜色): green, yellow, red.
COLORS = frozenset({"绿", "黄", "红"})
#: Most ID numbers in one batchGet.
MAX_IDS = 1000

#: Environment variables of the service: its bearer key (required) and the
#: key of its test and demo controls (``/admin/...``; unset: no controls).
KEY_VAR = "HEALTHCODE_PLATFORM_TOKEN"
ADMIN_KEY_VAR = "HEALTHCODE_PLATFORM_ADMIN_TOKEN"


def is_http(url: str) -> bool:
    """Whether a ``[connectors.healthcode] url`` names the platform's API rather than a database."""
    return url.startswith(("http://", "https://"))
