"""The one place where a request's access is decided, before anything runs.

:class:`Access` holds the policy files and the sources' views. For a request
it answers, from the same grant:

- ``authenticate(header)``: who asks (a signed token of a known department);
- ``admit(identity, purpose)``: an :class:`Admission`, holding
    - the department's own schema for that purpose (execution and
      introspection use it) and the validation rule refusing anything else
      (``Grant.validation``);
    - ``reads``: the columns each source view may select (the granted fields
      plus the keys it joins on) and the rows it may read (the token's scope);
    - ``workflow``: what the hub's own rules may read for this request
      (``policies/_workflows.toml``), under the same row scope.

Connectors apply both in SQL: nothing denied leaves a source.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from graphql import GraphQLSchema, ValidationRule

from connectors.views import Condition, View, Where
from hub.errors import ConfigError, Forbidden, Unauthenticated
from hub.ids import id_number_problem

from .cut import restrict
from .policy import Policy, PolicySet, Rule
from .rule import granted_only
from .tokens import Identity, VerifiedTokens, bearer_token
from .vocabulary import ScopeKind, Vocabulary

log = logging.getLogger("hub.access")

#: connector -> view name -> View: what the registered sources serve.
Views = Mapping[str, Mapping[str, View]]
ViewKey = tuple[str, str]


@dataclass(frozen=True)
class Reads:
    """Which columns and rows of each (connector, view) one set of loaders may fetch."""

    columns: Mapping[ViewKey, frozenset[str]]
    rows: Mapping[ViewKey, Where]

    def columns_for(self, connector: str, view: str) -> frozenset[str]:
        return self.columns[(connector, view)]

    def rows_for(self, connector: str, view: str) -> Where:
        return self.rows.get((connector, view), ())


@dataclass(frozen=True)
class Widening:
    """An emergency grant in force (break-glass, hub/audit/grants.py): fields
    added to the department's policy for its token's requests, for the listed
    persons only when ``persons`` is set (else over the token's own row scope)."""

    id: str
    fields: frozenset[str]
    persons: frozenset[str] | None = None


@dataclass(frozen=True)
class Grant:
    """What one (department, purpose) may read: built once, shared by requests."""

    policy: Policy
    purpose: str
    #: "Type.field" -> the rule that serves it for this purpose.
    rules: Mapping[str, Rule]
    #: The department's schema: the whole schema cut down to ``rules``.
    schema: GraphQLSchema
    full: GraphQLSchema
    #: graphql-core validation rule refusing what ``schema`` lacks (FORBIDDEN).
    validation: type[ValidationRule]
    #: (connector, view) -> the fields that view may select.
    columns: Mapping[ViewKey, frozenset[str]]
    #: Policies loaded since start-up when this grant was built (caches key on it).
    generation: int
    #: The emergency grant that widened it ("": the policy alone).
    emergency: str = ""

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.policy.department, self.purpose, self.generation, self.emergency)


@dataclass(frozen=True)
class Admission:
    identity: Identity
    purpose: str
    grant: Grant
    reads: Reads
    workflow: Reads
    #: Views that decide whether a person is within the token's scope.
    person_views: tuple[str, ...]

    @property
    def schema(self) -> GraphQLSchema:
        return self.grant.schema

    def rows_for(self, connector: str, view: str) -> Where:
        return self.reads.rows_for(connector, view)


class Access:
    def __init__(self, full: GraphQLSchema, views: Views, directory: Path,
                 secret: Callable[[], str], *, token_max_seconds: int | None = None) -> None:
        self.full = full
        #: The longest lifetime a token may have (``Limits.token_max_seconds``).
        self.token_max_seconds = token_max_seconds
        self.views = views
        self._secret = secret
        self._verified = VerifiedTokens()
        self._generation = itertools.count(1)
        self._lock = threading.Lock()
        self._state = self._load(Path(directory))

    # -- policies ----------------------------------------------------------
    @property
    def policies(self) -> PolicySet:
        return self._state.policies

    @property
    def vocabulary(self) -> Vocabulary:
        vocabulary = self._state.policies.vocabulary
        assert vocabulary is not None
        return vocabulary

    def reload(self, directory: Path | None = None) -> bool:
        """Load the policy files again; on any error keep the ones in force."""
        directory = directory or self._state.policies.directory
        try:
            fresh = self._load(directory)
        except ConfigError as exc:
            log.error("policy reload refused, the previous policies stay in force: %s", exc.message)
            return False
        with self._lock:
            self._state = fresh
        log.info("policies reloaded from %s", directory)
        return True

    def _load(self, directory: Path) -> _State:
        policies = PolicySet.load(directory, self.full)
        assert policies.vocabulary is not None
        kinds = policies.vocabulary.scopes
        carried = {kind for served in self.views.values() for v in served.values()
                   for kind in kinds if carrier(v, kinds[kind]) is not None}
        for connector, served in self.views.items():
            for view in served.values():
                for kind in view.scopes:
                    if kind not in policies.vocabulary.scopes:
                        raise ConfigError(f"source {connector}: view {view.name} carries scope "
                                          f"{kind!r}, which {directory}/_vocabulary.toml does "
                                          "not declare")
        for policy in policies.policies.values():
            if policy.scope is not None and policy.scope not in carried:
                raise ConfigError(f"{policy.path}: scope {policy.scope!r} is carried by no "
                                  "source's view, so this department could read nothing")
        workflow = {key: self._columns(lambda name: name in policies.workflow_reads, key)
                    for key in self._view_keys()}
        return _State(policies, next(self._generation), workflow, {})

    def _view_keys(self) -> list[ViewKey]:
        return [(c, v) for c, served in self.views.items() for v in served]

    def _columns(self, granted: Callable[[str], bool], key: ViewKey) -> frozenset[str]:
        view = self.views[key[0]][key[1]]
        return frozenset(n for n in view.served if granted(view.graph_field(n) or "")) | view.always

    # -- requests ----------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Identity:
        """The identity a request's Authorization header proves (Unauthenticated if none)."""
        identity = self._verified.verify(bearer_token(authorization), self._secret(), self.vocabulary,
                                         max_seconds=self.token_max_seconds)
        if identity.department not in self._state.policies.policies:
            raise Unauthenticated(f"the token names no known department ({identity.department!r})",
                                  reason="malformed")
        return identity

    def admit(self, identity: Identity, purpose: str | None,
              widening: Widening | None = None) -> Admission:
        state = self._state
        policy = state.policies.policies.get(identity.department)
        if policy is None:
            raise Forbidden(f"department {identity.department!r} has no policy: nothing is granted")
        allowed = [p for p in identity.purposes if p in policy.purposes]
        if not purpose:
            raise Forbidden("state the purpose of this request in the X-Purpose header; this "
                            f"token allows: {', '.join(allowed) or 'none'}",
                            allowedPurposes=allowed)
        if purpose not in allowed:
            raise Forbidden(f"purpose {purpose[:64]!r} is not allowed for this token; it allows: "
                            f"{', '.join(allowed) or 'none'}", allowedPurposes=allowed)
        grant = self.grant(policy, purpose, state, widening)
        if grant is None:
            raise Forbidden(f"department {policy.department} is granted nothing for purpose {purpose!r}")
        rows: dict[ViewKey, Where] = {}
        person_views: list[str] = []
        if policy.scope is not None:
            assert state.policies.vocabulary is not None
            kind = state.policies.vocabulary.scopes[policy.scope]
            ids = _scope_ids(identity, policy.department, kind)
            for cname, served in self.views.items():
                for vname, view in served.items():
                    key = carrier(view, kind)
                    if key is not None:
                        rows[(cname, vname)] = (Condition(key, "in", tuple(ids)),)
                        if "idNumber" in view.fields and vname not in person_views:
                            person_views.append(vname)
        return Admission(identity, purpose, grant, Reads(grant.columns, rows),
                         Reads(state.workflow, rows), tuple(person_views))

    def grant(self, policy: Policy, purpose: str, state: _State | None = None,
              widening: Widening | None = None) -> Grant | None:
        """The grant of ``policy`` for ``purpose`` (None: nothing granted), built once
        (and once per emergency grant widening it)."""
        state = state or self._state
        key = (policy.department, purpose, widening.id if widening else "")
        with self._lock:
            if key in state.grants:
                return state.grants[key]
        rules = policy.grants(purpose)
        if widening is not None:
            rules = widened(rules, widening)
        schema = restrict(self.full, rules)
        grant = None
        if schema is not None:
            columns = {k: self._columns(lambda name: name in rules, k) for k in self._view_keys()}
            grant = Grant(policy, purpose, rules, schema, self.full,
                          granted_only(self.full, schema), columns, state.generation,
                          widening.id if widening else "")
        with self._lock:
            if widening is not None:  # grants come and go: keep the last few built
                for old in [k for k in state.grants if k[2]][:-MAX_WIDENED]:
                    del state.grants[old]
            state.grants[key] = grant
        return grant


#: Widened grants kept built at once (each is a schema): the most recent ones.
MAX_WIDENED = 32


def widened(rules: Mapping[str, Rule], widening: Widening) -> dict[str, Rule]:
    """``rules`` with an emergency grant's fields allowed (for its persons only, when
    it lists them: anyone else keeps the policy's own rule, or is refused)."""
    out = dict(rules)
    for name in sorted(widening.fields):
        base = rules.get(name)
        if base is not None and base.mask is None:
            continue  # granted in clear already
        out[name] = Rule(mask=None, purposes=None, where=f"emergency grant {widening.id}",
                         persons=widening.persons, otherwise=base)
    return out


def carrier(view: View, kind: ScopeKind) -> str | None:
    """The field of ``view`` holding scope ``kind``'s id (None: the view does not carry it)."""
    declared = view.scopes.get(kind.name)
    if declared is not None:
        return declared
    return kind.field if kind.field is not None and kind.field in view.fields else None


def _scope_ids(identity: Identity, department: str, kind: ScopeKind) -> tuple[str, ...]:
    """The ids a scoped token reads the rows of (Forbidden when it names none)."""
    if kind.subject:
        problem = id_number_problem(identity.subject)
        if problem is not None:
            raise Forbidden(f"department {department} reads only the rows of its token's own "
                            f"subject, an ID number, but this token's is not one ({problem}); "
                            "issue one with hub token --citizen ID")
        return (identity.subject,)
    ids = identity.scopes.get(kind.name, ())
    if not ids:
        raise Forbidden(f"department {department} reads only its own rows, but this "
                        f"token names no {kind.name}; issue one with --scope {kind.name}=ID")
    return ids


@dataclass
class _State:
    """Policies in force and what was built from them; replaced whole on reload."""

    policies: PolicySet
    generation: int
    workflow: Mapping[ViewKey, frozenset[str]]
    grants: dict[tuple[str, str, str], Grant | None]
