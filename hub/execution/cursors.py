"""Cursors the hub signs, so a client can only pass back one it was given.

A cursor is ``VALUE.MAC``: ``VALUE`` is where the page ended as the list's
keeper wrote it (a source's driver: its order value; the hub's own lists: a
position), and ``MAC`` an HMAC-SHA256 of it, the department and the list's
identity (its kind, its parent, its filters), keyed by a sub-key of the hub's
secret (``HMAC(secret, "cursor")``). A forged, tampered or malformed cursor, and
one of another department or another list, is refused before anything runs
with the keeper: a source is only ever handed back a value it wrote itself.

>>> cursors = Cursors(cursor_key("s3cret-key-of-at-least-32-bytes!!"), "school")
>>> students = cursors.list("School.students", "S410105001")
>>> token = students.seal("WyJTdHVkZW50IiwiNDEwMTA1Il0")
>>> students.open(token)
'WyJTdHVkZW50IiwiNDEwMTA1Il0'
>>> cursors.list("School.staff", "S410105001").open(token)
Traceback (most recent call last):
...
hub.errors.BadCursor: after: this is not a cursor of this list; pass an endCursor from the same query
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from hub.errors import BadCursor

__all__ = ["MAX_CURSOR", "CursorList", "Cursors", "cursor_key"]

#: Bytes of the MAC a cursor carries (128 bits).
MAC_BYTES = 16
#: Characters a cursor may have; longer is not one the hub issued.
MAX_CURSOR = 1_024
NOT_A_CURSOR = "after: this is not a cursor of this list; pass an endCursor from the same query"


def cursor_key(secret: str) -> bytes:
    """The cursors' own key, derived from the hub's secret (never the secret itself)."""
    return hmac.new(secret.encode(), b"cursor", hashlib.sha256).digest()


class Cursors:
    """One request's cursors: signed with the hub's key, bound to its department."""

    def __init__(self, key: bytes, department: str) -> None:
        self._key = key
        self.department = department

    def list(self, kind: str, *identity: Any) -> CursorList:
        """The cursors of one list: ``kind`` (e.g. ``School.students``) and what
        names that list among others of its kind (its parent, its filters), as JSON."""
        text = json.dumps([self.department, kind, *identity], ensure_ascii=False,
                          separators=(",", ":"), default=str)
        return CursorList(self._key, text.encode())


class CursorList:
    def __init__(self, key: bytes, identity: bytes) -> None:
        self._key = key
        self._identity = identity

    def _mac(self, value: str) -> str:
        digest = hmac.new(self._key, self._identity + b"\x00" + value.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()[:MAC_BYTES]).decode().rstrip("=")

    def seal(self, value: str) -> str:
        """The cursor a client gets for ``value`` (URL-safe when ``value`` is)."""
        return f"{value}.{self._mac(value)}"

    def open(self, cursor: str) -> str:
        """The value sealed in ``cursor``, or BadCursor unless this list sealed it."""
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR or not cursor.isascii():
            raise BadCursor(NOT_A_CURSOR, argument="after")
        value, dot, mac = cursor.rpartition(".")
        if not dot or not hmac.compare_digest(mac.encode(), self._mac(value).encode()):
            raise BadCursor(NOT_A_CURSOR, argument="after")
        return value
