"""The peer provinces' hubs as one HTTP connector serving ``HealthCode``.

It claims the ID numbers whose prefix a configured peer answers for (the
longest match: "4201" Wuhan before "42" Hubei) and asks that peer the
persisted health-code document by its SHA-256 (the APQ convention, see
``hub/http/persisted.py``); a peer that does not know the document gets it
with every later request. Everything else (budget, retries, cache, in-flight
de-duplication) is the HTTP driver's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from connectors.drivers.http import HttpConnector, raise_failures
from connectors.interface import SourceError
from connectors.views import HIDDEN, Field, Record, View
from hub.errors import ConfigError, HopLimit

from .wire import (
    HEALTH_CODE_HASH,
    HEALTH_CODE_QUERY,
    HOP_HEADER,
    HOP_LIMIT,
    HOPS,
    MAX_HOPS,
    NOT_FOUND,
    Peer,
    answer_codes,
    check_status,
    error_codes,
    parse_answer,
)

log = logging.getLogger("connectors.peer")
GRAPHQL_RESPONSE = "application/graphql-response+json"

HEALTH_CODE = View(
    name="HealthCode",
    order="idNumber",
    fields={
        "idNumber": Field("idNumber", graph=HIDDEN),
        "color": Field("color"),
        "updatedAt": Field("updatedAt"),
        "issuer": Field("issuer"),
        # The province whose hub answered (HealthCode.issuedBy; this hub's own codes have none).
        "origin": Field("origin", graph=HIDDEN),
    },
    always=frozenset({"idNumber", "origin"}),
)


class PeerConnector(HttpConnector):
    """Health codes of visitors, from the hubs of the provinces that issued them."""

    name = "peer"
    views = {"HealthCode": HEALTH_CODE}
    partial = True
    forwards = True

    def __init__(self, peers: Sequence[Peer], cache_seconds: float = 60.0, cache_size: int = 10_000,
                 transport: httpx.AsyncBaseTransport | None = None, *, concurrency: int = 16,
                 clock: Callable[[], float] = time.monotonic) -> None:
        prefixes = [p.prefix for p in peers]
        dupes = sorted({p for p in prefixes if prefixes.count(p) > 1})
        if dupes:
            raise ConfigError(f"peers: prefix {dupes[0]} is configured twice; keep one")
        # Longest first: "4201" (Wuhan) wins over "42" (Hubei).
        self.peers = sorted(peers, key=lambda p: len(p.prefix), reverse=True)
        super().__init__(timeout=max((p.timeout for p in peers), default=2.0),
                         cache_seconds=cache_seconds, cache_size=cache_size,
                         concurrency=concurrency, transport=transport, clock=clock)
        #: Peers that answered PERSISTED_QUERY_NOT_FOUND: the document goes with every
        #: request to them (it is ~100 bytes; a peer that does not register it would
        #: otherwise cost two round trips a lookup).
        self._send_document: set[str] = set()

    def peer_for(self, id_number: str) -> Peer | None:
        """The peer answering for an ID number: the longest matching prefix."""
        return next((p for p in self.peers if id_number.startswith(p.prefix)), None)

    def claims(self, view: str, key: str, value: Any) -> bool:
        return isinstance(value, str) and self.peer_for(value) is not None

    def budget(self, key: Any) -> float:
        peer = self.peer_for(key)
        return peer.timeout if peer is not None else self.timeout

    async def ping(self) -> None:
        """Raise SourceError naming each peer that does not answer ``{ __typename }``."""
        await self.start()

        async def one(peer: Peer) -> None:
            deadline = asyncio.get_running_loop().time() + peer.timeout
            status, body = await self._post(peer, {"query": "{ __typename }"}, deadline)
            check_status(peer, status, body, self._error)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict) or "__typename" not in data:
                raise self._error(peer, f"not a GraphQL answer{answer_codes(body)}")

        outcomes = await asyncio.gather(*(one(p) for p in self.peers), return_exceptions=True)
        raise_failures(self.name, outcomes)

    async def health_codes(self, id_numbers: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Each ID number's code as the peer sent it (``updatedAt`` a string), or None."""
        found = await self.lookup([i for i in id_numbers if self.peer_for(i) is not None])
        out: dict[str, dict[str, Any] | None] = {}
        for idn in dict.fromkeys(id_numbers):
            rec = found.get(idn)
            out[idn] = {"color": rec["color"], "updatedAt": rec["updatedAt"], "issuer": rec["issuer"]} \
                if rec is not None else None
        return out

    async def load(self, view: str, key: str, keys: Sequence[Any], *, fields: Any,
                   where: Any = ()) -> dict[Any, list[Record]]:
        claimed = sorted({k for k in keys if isinstance(k, str) and self.peer_for(k) is not None})
        if claimed and HOPS.get() <= 0:
            peer = self.peer_for(claimed[0])
            raise HopLimit(f"the code of an ID number beginning {peer.prefix if peer else '?'} would be asked "
                           f"of another hub, but this look-up has already passed {MAX_HOPS} hubs "
                           f"({HOP_HEADER}): the hubs' [[peers]] ask each other round in a loop; "
                           "each province's prefix should name the hub that issues its codes")
        found = await super().load(view, key, keys, fields=fields, where=where)
        for records in found.values():
            for rec in records:  # the unified type of updatedAt is a datetime
                if isinstance(rec.get("updatedAt"), str):
                    try:
                        rec["updatedAt"] = dt.datetime.fromisoformat(rec["updatedAt"])
                    except ValueError:
                        rec["updatedAt"] = None
        return found

    async def fetch(self, key: Any, deadline: float) -> Record | None:
        peer = self.peer_for(key)
        if peer is None:
            return None
        payload = self._payload(peer, key)
        status, body = await self._post(peer, payload, deadline)
        if NOT_FOUND in error_codes(body) and "query" not in payload:
            if peer.prefix not in self._send_document:
                log.info("peer %s does not know the health-code document; sending it "
                         "from now on", peer.prefix)
                self._send_document.add(peer.prefix)
            payload["query"] = HEALTH_CODE_QUERY
            status, body = await self._post(peer, payload, deadline)
        if HOP_LIMIT in error_codes(body):
            raise HopLimit(f"the hub for {peer.prefix} could not answer without asking further than "
                           f"{MAX_HOPS} hubs ({HOP_HEADER}): the hubs' [[peers]] ask each other round in a "
                           "loop; each province's prefix should name the hub that issues its codes")
        code = parse_answer(peer, status, body, self._error)
        return {"idNumber": key, **code} if code is not None else None

    def _payload(self, peer: Peer, id_number: str) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": HEALTH_CODE_HASH}},
            "variables": {"idNumber": id_number},
            "operationName": "HealthCodeColor",
        }
        if peer.prefix in self._send_document:
            payload["query"] = HEALTH_CODE_QUERY
        return payload

    async def _post(self, peer: Peer, payload: dict[str, Any], deadline: float) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {peer.token}", "X-Purpose": peer.purpose,
                   "Accept": GRAPHQL_RESPONSE, HOP_HEADER: str(max(0, HOPS.get() - 1))}
        return await self.post(peer.url, payload, headers, deadline, retries=peer.retries,
                               budget=peer.timeout, label=f" {peer.prefix}",
                               error=lambda cause: self._error(peer, cause))

    def _error(self, peer: Peer, cause: str) -> SourceError:
        # Belt and braces: nothing above formats the token, and nothing may.
        return SourceError(self.name, f"{peer.prefix}: {cause}".replace(peer.token, "***"))
