"""Peer provinces' hubs: a visitor's health code, asked of the province that issued it.

A resident ID number (GB 11643) starts with its province's code (41 Henan, 42
Hubei, 44 Guangdong, 11 Beijing, 31 Shanghai, ...); the peer whose prefix is
the longest match answers for it. Every peer runs the same persisted document,
sent by its SHA-256 (the APQ convention, see ``hub/http/persisted.py``)::

    connector = PeerConnector([Peer("42", "https://hub.hubei.example/graphql", token)])
    await connector.start()
    codes = await connector.health_codes(["420102199001011234"])
    # {"420102199001011234": {"color": "GREEN", "updatedAt": "...", "issuer": "42"}}

A lookup has ``Peer.timeout`` seconds in all from when it is sent, retries and
the APQ resend included: the checkpoint waiting on it cannot wait longer
whatever the peer does. Connect errors, timeouts, 5xx and 429 are retried with
a short backoff (``Retry-After`` is honoured when it fits in what is left); any
other 4xx is final. Answers, ``null``
included, are cached for ``cache_seconds``: a visitor scanned again at the next
gate costs no request. Failures raise ``SourceError("peer", "42: <cause>")``;
the bearer token a peer issued us never appears in an error or a log line.

Every look-up carries ``X-Hub-Hops``: how many more hubs the peer may ask in
turn (``wire.MAX_HOPS`` in all from the hub first asked). A hub with none
left refuses to forward with ``HOP_LIMIT`` (``hub.errors.HopLimit``), and a
peer's HOP_LIMIT is passed on as such, so hubs whose ``[[peers]]`` point round
in a ring answer a clear error instead of asking each other for ever.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.registry import Source

from .connector import HEALTH_CODE, PeerConnector
from .wire import HEALTH_CODE_HASH, HEALTH_CODE_QUERY, Peer

__all__ = ["HEALTH_CODE_HASH", "HEALTH_CODE_QUERY", "SOURCE", "Peer", "PeerConnector",
           "PeerSettings"]


@dataclass(frozen=True)
class PeerSettings:
    """The ``[[peers]]`` tables of the configuration."""

    peers: tuple[Peer, ...]


SOURCE = Source(
    name="peer",
    description="other provinces' hubs: visitors' health codes (mutual recognition)",
    create=lambda settings: PeerConnector(settings.peers),
    views={"HealthCode": HEALTH_CODE},
    settings=PeerSettings,
    required=False,
    generated=False,
    order=90,
)
