"""Where a request's access is decided, before anything runs.

``Access.admit(identity, purpose)`` checks the stated purpose against the token
and the department's policy, and returns an ``Admission``: the department's
own schema for that purpose (so validation refuses a denied field), the field
set each connector may fetch, and the row filter each view must obey (the
token's scope). Connectors apply both in SQL: nothing denied leaves a source.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from graphql import GraphQLSchema

from connectors.interface import Connector
from connectors.views import Condition, Where

from hub.errors import ConfigError, Forbidden
from hub.http.endpoint import DocumentCache
from hub.access.tokens import Identity
from hub.access.policy import Policy, PolicySet
from hub.access.cut import restrict

log = logging.getLogger("hub.access.admission")


@dataclass(frozen=True)
class Grant:
    """What one (department, purpose) may read: cached, shared by requests."""

    policy: Policy
    purpose: str
    documents: DocumentCache
    fields: Mapping[tuple[str, str], frozenset[str]]


@dataclass(frozen=True)
class Admission:
    grant: Grant
    rows: Mapping[tuple[str, str], Where]
    #: (connector, view) that decide whether a person is within the scope.
    person_views: tuple[tuple[str, str], ...]

    @property
    def schema(self) -> GraphQLSchema:
        return self.grant.documents.schema

    def fields_for(self, connector: str, view: str) -> frozenset[str]:
        return self.grant.fields[(connector, view)]

    def rows_for(self, connector: str, view: str) -> Where:
        return self.rows.get((connector, view), ())


class Access:
    def __init__(self, full: GraphQLSchema, sources: Mapping[str, Connector],
                 policies: PolicySet) -> None:
        self.full = full
        self.sources = sources
        self._policies = policies
        self._grants: dict[tuple[str, str], Grant | None] = {}
        self._lock = threading.Lock()

    @property
    def policies(self) -> PolicySet:
        return self._policies

    def reload(self, directory: Path | None = None) -> bool:
        """Load the policy files again; on any error keep the ones in force."""
        directory = directory or self._policies.directory
        try:
            fresh = PolicySet.load(directory, self.full)
        except ConfigError as exc:
            log.error("policy reload refused, the previous policies stay in force: %s", exc.message)
            return False
        with self._lock:
            self._policies, self._grants = fresh, {}
        log.info("policies reloaded from %s", directory)
        return True

    def admit(self, identity: Identity, purpose: str | None) -> Admission:
        policy = self._policies.policies.get(identity.department)
        if policy is None:
            raise Forbidden(f"department {identity.department!r} has no policy: nothing is granted")
        allowed = [p for p in identity.purposes if p in policy.purposes]
        if not purpose:
            raise Forbidden("state the purpose of this request in the X-Purpose header; this "
                            f"token allows: {', '.join(allowed) or 'none'}",
                            allowedPurposes=allowed)
        if purpose not in allowed:
            raise Forbidden(f"purpose {purpose!r} is not allowed for this token; it allows: "
                            f"{', '.join(allowed) or 'none'}", allowedPurposes=allowed)
        grant = self._grant(policy, purpose)
        if grant is None:
            raise Forbidden(f"department {policy.department} is granted nothing for purpose {purpose!r}")
        rows: dict[tuple[str, str], Where] = {}
        person_views: list[tuple[str, str]] = []
        if policy.scope is not None:
            ids = identity.scopes.get(policy.scope, ())
            if not ids:
                raise Forbidden(f"department {policy.department} reads only its own rows, but this "
                                f"token names no {policy.scope}; issue one with --scope "
                                f"{policy.scope}=ID")
            for cname, connector in self.sources.items():
                for vname, view in connector.views.items():
                    key = view.scopes.get(policy.scope)
                    if key is not None:
                        rows[(cname, vname)] = (Condition(key, "in", tuple(ids)),)
                        if "idNumber" in view.fields:
                            person_views.append((cname, vname))
        return Admission(grant, rows, tuple(person_views))

    def _grant(self, policy: Policy, purpose: str) -> Grant | None:
        key = (policy.department, purpose)
        with self._lock:
            if key in self._grants:
                return self._grants[key]
        schema = restrict(self.full, policy, purpose)
        grant = None
        if schema is not None:
            granted = policy.grants(purpose)
            fields = {
                (cname, vname): frozenset(
                    n for n in view.served if view.graph_field(n) in granted) | view.always
                for cname, connector in self.sources.items()
                for vname, view in connector.views.items()
            }
            grant = Grant(policy, purpose, DocumentCache(schema, full=self.full), fields)
        with self._lock:
            self._grants[key] = grant
        return grant
