"""What one pushed record holds: the fields a policy grants, as JSON, under a stable id.

The fields are the health-code view's (``connectors/healthcode/views.py``)
named in ``[push.national] fields``; each must be *allowed* (not masked) to the
``national`` department for ``national-reporting`` by its policy file, or the
push does not start (``ConfigError`` naming the field). The source is asked
for those columns only.

A record's id is the first 32 hex digits of SHA-256 over its ID number and
its ``updatedAt``: the same version of a record always has the same id, so a
batch sent twice is stored once; a code changed later (a new ``updatedAt``) is
a new version with a new id, pushed as a record of its own.

>>> import datetime as dt
>>> record_id("410105199003071234", dt.datetime(2020, 4, 12, 23, 59, 59, tzinfo=dt.UTC))
'66f55f1e64b280fa2ad511959d76c49f'
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connectors.views import Record, View
from hub.access.policy import Policy
from hub.errors import ConfigError

#: The department a push is recorded as, and the purpose it states.
DEPARTMENT = "national"
PURPOSE = "national-reporting"


def granted_fields(policy: Policy | None, view: View, names: Sequence[str]) -> dict[str, str]:
    """``names`` (view fields) -> the ``Type.field`` each answers, each allowed by ``policy``."""
    if policy is None:
        raise ConfigError(f"no policy file for department {DEPARTMENT!r} (policies/{DEPARTMENT}.toml): "
                          "the push sends only what it grants, so it sends nothing")
    out: dict[str, str] = {}
    for name in names:
        graph = view.graph_field(name)
        if graph is None:
            raise ConfigError(f"push.national.fields: {name!r} is not a field the hub serves")
        rule = policy.decide(graph, PURPOSE)
        if rule is None:
            raise ConfigError(f"push.national.fields: {name} ({graph}) is not granted to department "
                              f"{DEPARTMENT} for purpose {PURPOSE} in {policy.path}; grant it there "
                              "(with its Why:) or leave it out of fields")
        if rule.mask is not None:
            raise ConfigError(f"push.national.fields: {name} ({graph}) is granted masked ({rule.where}); "
                              "the push sends whole values only: allow it or leave it out of fields")
        out[name] = graph
    return out


def record_id(id_number: str, updated_at: dt.datetime) -> str:
    """The stable id of one version of one record."""
    text = f"{id_number}|{wire_time(updated_at)}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def batch_id(ids: Iterable[str]) -> str:
    """A batch's id: SHA-256 over its records' ids, so a batch resent is recognisably the same."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def wire_time(value: dt.datetime) -> str:
    """UTC, to the second, with a Z: ``2020-04-12T23:59:59Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wire_record(record: Record, names: Mapping[str, str]) -> dict[str, Any]:
    """The record as sent: its ``id`` and the granted fields, in JSON values."""
    out: dict[str, Any] = {"id": record_id(record["idNumber"], record["updatedAt"])}
    for name in names:
        value = record.get(name)
        out[name] = wire_time(value) if isinstance(value, dt.datetime) else value
    return out
