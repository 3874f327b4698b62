"""Who is asking: bearer tokens (JWT, HS256) signed by the hub's key.

A token carries the department (``dept``), the user (``sub``), row scopes
(``scope``: ``{"school": ["S410105001"]}``), the purposes it may state
(``purposes``) and an expiry. ``hub token`` issues them.

>>> token = issue_token("s3cret-key-of-at-least-32-bytes!!", "school",
...                     scopes={"school": ["S410105001"]}, ttl=60)
>>> verify_token(token, "s3cret-key-of-at-least-32-bytes!!").department
'school'
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from hub.errors import BadInput, Unauthenticated
from hub.ids import id_number_problem

from .vocabulary import DEFAULT_PURPOSES, DEPARTMENTS, PURPOSES, Vocabulary, default_vocabulary

__all__ = ["ALGORITHM", "DEFAULT_PURPOSES", "DEPARTMENTS", "ISSUER", "PURPOSES", "Identity",
           "VerifiedTokens", "bearer_token", "issue_token", "parse_scope", "verify_token"]

ALGORITHM = "HS256"
ISSUER = "city-brain-hub"


@dataclass(frozen=True)
class Identity:
    department: str
    subject: str
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    purposes: tuple[str, ...] = ()
    expires_at: int | None = None


def parse_scope(text: str, vocabulary: Vocabulary | None = None) -> tuple[str, str]:
    """'school=S410105001' -> ('school', 'S410105001'), or BadInput saying why."""
    kinds = (vocabulary or default_vocabulary()).scopes
    kind, sep, value = text.partition("=")
    if not sep or not value:
        raise BadInput(f"scope {text!r} must look like KIND=ID, e.g. school=S410105001")
    if kind not in kinds:
        raise BadInput(f"scope kind {kind!r} is unknown; use one of {', '.join(kinds)}")
    if kinds[kind].subject:
        raise BadInput(f"scope kind {kind!r} is the token's own subject, not a --scope; issue "
                       "the token with --citizen ID")
    return kind, value


def issue_token(
    secret: str,
    department: str,
    *,
    scopes: dict[str, list[str]] | None = None,
    purposes: list[str] | None = None,
    ttl: int = 3600,
    subject: str | None = None,
    now: float | None = None,
    vocabulary: Vocabulary | None = None,
    max_ttl: int | None = None,
) -> str:
    """A signed token; the department and purposes must be ones the policies know.

    ``max_ttl``: the longest lifetime the hub accepts (``Limits.token_max_seconds``).
    """
    vocab = vocabulary or default_vocabulary()
    dept = vocab.departments.get(department)
    if dept is None:
        raise BadInput(
            f"department {department!r} is unknown; use one of {', '.join(vocab.departments)}"
        )
    if ttl <= 0:
        raise BadInput("ttl must be a positive number of seconds")
    if max_ttl is not None and ttl > max_ttl:
        raise BadInput(f"ttl {ttl} s is longer than the hub accepts: at most {max_ttl} s "
                       f"({_duration(max_ttl)}, [limits] token_max_seconds); issue a shorter one")
    kind = vocab.scopes.get(dept.scope) if dept.scope is not None else None
    if kind is not None and kind.subject:
        problem = id_number_problem(subject or "")
        if problem is not None:
            raise BadInput(f"department {department} reads only its token's own subject's rows: "
                           f"the subject must be an ID number ({problem}); use --citizen ID")
    chosen = list(purposes) if purposes else list(dept.purposes)
    unknown = [p for p in chosen if p not in vocab.purposes]
    if unknown:
        raise BadInput(f"purpose {unknown[0]!r} is unknown; use one of {', '.join(vocab.purposes)}")
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": subject or f"{department}-app",
        "dept": department,
        "scope": {k: list(v) for k, v in (scopes or {}).items()},
        "purposes": chosen,
        "iat": issued,
        "exp": issued + ttl,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, secret: str, vocabulary: Vocabulary | None = None, *,
                 max_seconds: int | None = None) -> Identity:
    """The identity a token proves, or Unauthenticated saying what is wrong.

    ``max_seconds``: the longest lifetime (``exp - iat``) a token may have
    (``Limits.token_max_seconds``); a token valid for longer is refused.
    """
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "iss"]},  # exp and iat: _lifetime, saying the limit
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated(
            "the bearer token has expired; ask for a new one (hub token)", reason="expired"
        ) from None
    except jwt.InvalidSignatureError:
        raise Unauthenticated(
            "the bearer token's signature does not match this hub's key", reason="bad_signature"
        ) from None
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated(
            f"the bearer token is malformed ({str(exc)[:200]}); send 'Authorization: Bearer <JWT>'",
            reason="malformed",
        ) from None
    expires = _lifetime(claims, max_seconds)
    department = claims.get("dept")
    if not isinstance(department, str) or department not in (vocabulary or default_vocabulary()).departments:
        shown = repr(department)[:64] if isinstance(department, str) else type(department).__name__
        raise Unauthenticated(f"the token names no known department ({shown})", reason="malformed")
    raw_scope = claims.get("scope") or {}
    purposes = claims.get("purposes") or []
    subject = claims["sub"]
    if not (isinstance(raw_scope, dict) and all(_strings(v) for v in raw_scope.values())
            and _strings(purposes) and isinstance(subject, str)):
        raise Unauthenticated("the token's scope, purposes or sub claim is malformed (scope: kind "
                              "-> list of ids, purposes: a list of names, sub: a name)",
                              reason="malformed")
    return Identity(
        department=department,
        subject=subject,
        scopes={str(k): tuple(v) for k, v in raw_scope.items()},
        purposes=tuple(purposes),
        expires_at=int(expires),
    )


class VerifiedTokens:
    """Tokens already verified, so a client sending the same token on every
    request is not decoded and its signature not checked again each time.

    Keyed by the token's exact text and what its verification depended on
    (the key, the vocabulary, the longest lifetime): a token is taken from
    here only while it has not expired (its ``exp`` is checked on every
    hit; the rest of its checks are about the token alone, or were about
    times already past). A failed token is never kept. Bounded: full, it is
    emptied and fills again.
    """

    def __init__(self, size: int = 4_096, clock: Callable[[], float] = time.time) -> None:
        self.size = size
        self._clock = clock
        self._items: dict[tuple[str, str, int | None], tuple[Identity, Vocabulary | None]] = {}

    def verify(self, token: str, secret: str, vocabulary: Vocabulary | None = None, *,
               max_seconds: int | None = None) -> Identity:
        key = (token, secret, max_seconds)
        known = self._items.get(key)
        if known is not None:
            identity, of = known
            if of is vocabulary and identity.expires_at is not None and self._clock() < identity.expires_at:
                return identity
            del self._items[key]
        identity = verify_token(token, secret, vocabulary, max_seconds=max_seconds)
        if len(self._items) >= self.size:
            self._items.clear()
        self._items[key] = (identity, vocabulary)
        return identity


def _lifetime(claims: dict[str, Any], max_seconds: int | None) -> float:
    """The token's expiry, once its issue time and expiry say a lifetime within the limit."""
    limit = (f"this hub accepts tokens valid for at most {_duration(max_seconds)} "
             "([limits] token_max_seconds)" if max_seconds is not None else
             "this hub accepts only tokens with an issue time and an expiry")
    instants = []
    for name in ("iat", "exp"):
        value = claims.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise Unauthenticated(f"the bearer token's {name} claim is missing or not a number of "
                                  f"seconds: {limit}; ask for a new one (hub token)",
                                  reason="lifetime")
        instants.append(float(value))
    issued, expires = instants
    if max_seconds is not None and expires - issued > max_seconds:
        raise Unauthenticated(
            f"the bearer token is valid for {_duration(expires - issued)}, beyond the lifetime "
            f"limit: {limit}; ask for a token with a shorter lifetime (hub token --ttl)",
            reason="lifetime")
    return expires


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:,.0f} days"
    return f"{seconds:,.0f} s"


def bearer_token(header: str | None) -> str:
    """The token in an Authorization header, or Unauthenticated saying what is wrong."""
    if not header:
        raise Unauthenticated(
            "this endpoint needs 'Authorization: Bearer <token>'; get a token from "
            "'hub token --department NAME' (the demo prints ready ones)",
            reason="missing",
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "the Authorization header must be 'Bearer <token>'", reason="malformed"
        )
    return token.strip()
