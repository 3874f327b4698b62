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

ALGORITHM = "HS256"
ISSUER = "city-brain-hub"

#: The demo's departments (DESIGN.md, "Who uses it").
DEPARTMENTS: dict[str, str] = {
    "health": "health commission: epidemiological investigation",
    "education": "education bureau: school reopening across the city",
    "school": "one school: its own pupils and staff",
    "industry": "industry and IT bureau: enterprises' return to work",
    "enterprise": "one enterprise: its own employees",
    "community": "one residential community: its residents and gate",
    "transport": "transport / public security: checkpoints and arrivals",
    "province": "another province's health-code platform: one code colour",
    "bigdata": "big-data bureau: operators, policies and audit",
}
SCOPE_KINDS = ("school", "community", "enterprise")
#: Purposes a request may state (X-Purpose), as the policies name them.
PURPOSES: dict[str, str] = {
    "epidemiological-investigation": "tracing a case and its contacts",
    "school-reopening": "deciding who may return to school",
    "return-to-work": "deciding whether an enterprise may reopen",
    "community-management": "a community's own residents and gate",
    "mutual-recognition": "another province checking a code colour",
    "traffic-control": "checkpoints, inflow and arrivals",
    "statistics": "aggregate figures without personal data",
    "operations": "running the hub: connectors, policies, audit",
}
#: The purposes each demo department's tokens allow by default.
DEFAULT_PURPOSES: dict[str, tuple[str, ...]] = {
    "health": ("epidemiological-investigation", "statistics"),
    "education": ("school-reopening", "statistics"),
    "school": ("school-reopening",),
    "industry": ("return-to-work", "statistics"),
    "enterprise": ("return-to-work",),
    "community": ("community-management",),
    "transport": ("traffic-control", "statistics"),
    "province": ("mutual-recognition",),
    "bigdata": ("operations", "statistics"),
}


@dataclass(frozen=True)
class Identity:
    department: str
    subject: str
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    purposes: tuple[str, ...] = ()
    expires_at: int | None = None


def parse_scope(text: str) -> tuple[str, str]:
    """'school=S410105001' -> ('school', 'S410105001'), or BadInput saying why."""
    kind, sep, value = text.partition("=")
    if not sep or not value:
        raise BadInput(f"scope {text!r} must look like KIND=ID, e.g. school=S410105001")
    if kind not in SCOPE_KINDS:
        raise BadInput(f"scope kind {kind!r} is unknown; use one of {', '.join(SCOPE_KINDS)}")
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
) -> str:
    if department not in DEPARTMENTS:
        raise BadInput(
            f"department {department!r} is unknown; use one of {', '.join(DEPARTMENTS)}"
        )
    if ttl <= 0:
        raise BadInput("ttl must be a positive number of seconds")
    chosen = list(purposes) if purposes else list(DEFAULT_PURPOSES[department])
    unknown = [p for p in chosen if p not in PURPOSES]
    if unknown:
        raise BadInput(f"purpose {unknown[0]!r} is unknown; use one of {', '.join(PURPOSES)}")
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


def verify_token(token: str, secret: str) -> Identity:
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
    if department not in DEPARTMENTS:
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
