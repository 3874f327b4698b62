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

import time
from dataclasses import dataclass, field
from typing import Any

import jwt

from hub.errors import BadInput, Unauthenticated

from .vocabulary import DEFAULT_PURPOSES, DEPARTMENTS, PURPOSES, Vocabulary, default_vocabulary

__all__ = ["ALGORITHM", "DEFAULT_PURPOSES", "DEPARTMENTS", "ISSUER", "PURPOSES", "Identity",
           "bearer_token", "issue_token", "parse_scope", "verify_token"]

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
) -> str:
    """A signed token; the department and purposes must be ones the policies know."""
    vocab = vocabulary or default_vocabulary()
    dept = vocab.departments.get(department)
    if dept is None:
        raise BadInput(
            f"department {department!r} is unknown; use one of {', '.join(vocab.departments)}"
        )
    if ttl <= 0:
        raise BadInput("ttl must be a positive number of seconds")
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


def verify_token(token: str, secret: str, vocabulary: Vocabulary | None = None) -> Identity:
    """The identity a token proves, or Unauthenticated saying what is wrong."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
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
            f"the bearer token is malformed ({exc}); send 'Authorization: Bearer <JWT>'",
            reason="malformed",
        ) from None
    department = claims.get("dept")
    if not isinstance(department, str) or department not in (vocabulary or default_vocabulary()).departments:
        raise Unauthenticated(
            f"the token names no known department ({department!r})", reason="malformed"
        )
    raw_scope = claims.get("scope") or {}
    purposes = claims.get("purposes") or []
    if not isinstance(raw_scope, dict) or not isinstance(purposes, list):
        raise Unauthenticated("the token's scope or purposes claim is malformed", reason="malformed")
    scopes = {str(k): tuple(str(x) for x in v) for k, v in raw_scope.items() if isinstance(v, list)}
    return Identity(
        department=department,
        subject=str(claims["sub"]),
        scopes=scopes,
        purposes=tuple(str(p) for p in purposes),
        expires_at=int(claims["exp"]),
    )


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
