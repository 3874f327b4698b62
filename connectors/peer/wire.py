"""What peer hubs say to each other: the configuration of one peer, the
persisted health-code document, and how an answer is read."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from connectors.interface import SourceError
from hub.errors import BadInput, ConfigError

#: The document every peer hub has persisted (``schema/persisted/health-code-color.graphql``).
HEALTH_CODE_QUERY = (
    "query HealthCodeColor($idNumber: String!) "
    "{ healthCode(idNumber: $idNumber) { color updatedAt } }"
)
HEALTH_CODE_HASH = hashlib.sha256(HEALTH_CODE_QUERY.encode("utf-8")).hexdigest()
COLORS = frozenset({"GREEN", "YELLOW", "RED"})
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
_PREFIX = re.compile(r"^[0-9]{2,6}$")

Fail = Callable[["Peer", str], SourceError]

#: The header a hub sends a peer with a look-up: how many more hubs the peer may
#: ask in turn (0: answer from its own codes or refuse with HOP_LIMIT). Peers
#: honour it and decrement it, so hubs whose ``[[peers]]`` form a ring never loop.
HOP_HEADER = "X-Hub-Hops"
#: Forwards a look-up asked of this hub directly (no header) may make in all.
MAX_HOPS = 2
#: The running request's remaining forwards (set where its context is built).
HOPS: ContextVar[int] = ContextVar("hub_hops", default=MAX_HOPS)
HOP_LIMIT = "HOP_LIMIT"


def hops_from(header: str | None) -> int:
    """The forwards a request may still make, from its ``X-Hub-Hops`` header (none: ``MAX_HOPS``).

    A peer cannot raise this hub's limit: a value above ``MAX_HOPS`` counts as ``MAX_HOPS``."""
    if header is None:
        return MAX_HOPS
    text = header.strip()
    if not text.isdigit() or len(text) > 3:
        raise BadInput(f"{HOP_HEADER} must be a whole number of hubs from 0 to {MAX_HOPS} "
                       f"(got {header[:12]!r}); a hub sends it to its peers, a client leaves it out")
    return min(int(text), MAX_HOPS)


@dataclass(frozen=True)
class Peer:
    """One peer hub: the ID-number prefix it answers for and how to reach it."""

    prefix: str
    url: str
    #: The bearer token the peer issued us (kept out of ``repr``, hence logs).
    token: str = field(repr=False)
    purpose: str = "mutual-recognition"
    #: Seconds one lookup may take in all, retries included.
    timeout: float = 2.0
    retries: int = 2

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise ConfigError(
                f"peer {self.prefix!r}: the prefix must be 2 to 6 digits of an ID number "
                "(a province code such as '42', or a city's such as '4201')"
            )
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(
                f"peer {self.prefix}: url must be the peer hub's http(s) /graphql URL"
            )
        if not self.token:
            raise ConfigError(f"peer {self.prefix}: token is empty; ask the peer for one")
        if not self.timeout > 0 or self.retries < 0:
            raise ConfigError(f"peer {self.prefix}: timeout must be > 0 and retries >= 0")


def check_status(peer: Peer, status: int, body: Any, fail: Fail) -> None:
    if status == 401:
        raise fail(peer, f"HTTP 401{answer_codes(body)}: the peer refused our token; "
                         "ask it for a new one")
    if status == 403:
        raise fail(peer, f"HTTP 403{answer_codes(body)}: the peer's policy refuses "
                         f"purpose {peer.purpose!r}")
    if status != 200:
        raise fail(peer, f"HTTP {status}{answer_codes(body)}")


def parse_answer(peer: Peer, status: int, body: Any, fail: Fail) -> dict[str, Any] | None:
    """The code in a peer's answer ({color, updatedAt, issuer}), None for null, or SourceError."""
    check_status(peer, status, body, fail)
    if not isinstance(body, dict):
        raise fail(peer, "the answer is not a JSON object")
    if body.get("errors"):
        # A null that comes with errors means "could not answer", not "no code".
        raise fail(peer, f"the peer answered with errors{answer_codes(body)}")
    data = body.get("data")
    if not isinstance(data, dict) or "healthCode" not in data:
        raise fail(peer, "the answer has no data.healthCode")
    code = data["healthCode"]
    if code is None:
        return None
    color = code.get("color") if isinstance(code, dict) else None
    if color not in COLORS:
        raise fail(peer, f"unknown code colour {str(color)[:20]!r}; "
                         f"expected one of {', '.join(sorted(COLORS))}")
    updated = code.get("updatedAt")
    if updated is not None and not isinstance(updated, str):
        raise fail(peer, "updatedAt is not a string")
    return {"color": color, "updatedAt": updated, "issuer": peer.prefix, "origin": peer.prefix[:2]}


def error_codes(body: Any) -> list[str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    codes = []
    for err in errors:
        ext = err.get("extensions") if isinstance(err, dict) else None
        code = ext.get("code") if isinstance(ext, dict) else None
        if isinstance(code, str):
            codes.append(code[:40])
    return codes


def answer_codes(body: Any) -> str:
    codes = error_codes(body)
    return f" ({', '.join(dict.fromkeys(codes))})" if codes else ""
