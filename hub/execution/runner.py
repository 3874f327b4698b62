"""What the endpoint hands a validated document to: a context holding loaders
bound to the request's admission, and the level-by-level executor."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any

from graphql import DocumentNode, ExecutionResult, GraphQLObjectType, GraphQLSchema

from connectors.peer.wire import HOPS, hops_from
from hub.access.admission import Admission

from .context import RequestContext
from .cursors import Cursors, cursor_key
from .documents import Prepared
from .executor import execute
from .loaders import Loaders, Selection
from .sources import SourceSet


class Runner:
    def __init__(self, sources: SourceSet, *, rules: Any = None, province: str = "41",
                 audit: Any = None, secret: Callable[[], str] | None = None,
                 statistics_k: int = 10) -> None:
        self.sources = sources
        #: The hub's secret, from which the cursors' key is derived (None: a key of this runner's own).
        self._secret = secret
        self._cursor_key: tuple[str, bytes] | None = None
        #: GraphQL type -> the source whose views serve it (per-source row budgets).
        self.sources_of: dict[str, str] = {}
        for name, connector in sources.items():
            for view in connector.views.values():
                self.sources_of.setdefault(view.graph_type or view.name, name)
        self.rules = rules
        self.province = province
        self.statistics_k = statistics_k
        self.audit = audit
        #: Return-to-work commitments: the hub's own database, set once it is open.
        self.commitments: Any = None
        #: Emergency grants (hub/audit/grants.py), set once the hub's database is open.
        self.grants: Any = None

    def context(self, admission: Admission, hops: str | None = None) -> RequestContext:
        """A request's context: its loaders, and the workflows' own, sharing one row count.

        ``hops``: the request's ``X-Hub-Hops`` header (a peer hub's look-up), or None."""
        rows: Counter[str] = Counter()
        failed: dict[str, Any] = {}  # a source fails a request once (Loaders.failed)
        loaders = Loaders(self.sources, admission.reads, rows, failed)
        internal = Loaders(self.sources, admission.workflow, rows, failed)
        return RequestContext(identity=admission.identity, purpose=admission.purpose,
                              loaders=loaders, admission=admission, audit=self.audit,
                              internal=internal, rules=self.rules, province=self.province,
                              commitments=self.commitments, hops=hops_from(hops),
                              statistics_k=self.statistics_k,
                              cursors=Cursors(self._key(), admission.identity.department),
                              grants=self.grants, grant_id=admission.grant.emergency or None)

    def _key(self) -> bytes:
        secret = self._secret() if self._secret is not None else None
        if self._cursor_key is None or (secret is not None and self._cursor_key[0] != secret):
            secret = secret if secret is not None else secrets.token_urlsafe(32)
            self._cursor_key = (secret, cursor_key(secret))
        return self._cursor_key[1]

    async def run(self, context: RequestContext, document: DocumentNode,
                  variables: dict[str, Any] | None, operation_name: str | None,
                  prepared: Prepared | None = None,
                  fields: frozenset[str] | None = None) -> ExecutionResult:
        """``prepared``: the operation planned and its variables coerced
        (documents.Documents.prepare), else the executor builds them. With ``fields``
        (the "Type.field" the document selects: ``Document.fields``), the loaders fetch
        only the columns these need."""
        assert context.admission is not None
        if fields is not None:
            context.loaders.select(selection(context.admission.grant.full, fields))
        # Level by level (hub/execution/executor.py): graphql-core's answer,
        # without a coroutine per field of every list item.
        # The audit entry's persons: those whose records the answer holds.
        # The peer connector reads the request's remaining hops (and sends one fewer).
        hops = HOPS.set(context.hops)
        try:
            return await execute(context.admission.schema, document, context_value=context,
                                 variable_values=variables, operation_name=operation_name,
                                 watch=context.watch(), prepared=prepared)
        finally:
            HOPS.reset(hops)


#: id(schema) -> (the schema, every "Type.field" of it, what each field's resolver
#: reads of the records: strawberry metadata ``reads``, or, for a resolver that
#: does not say, every field of its own type), and the selections worked out for it
#: (by the document's fields).
_FACTS: dict[int, tuple[GraphQLSchema, frozenset[str], dict[str, tuple[str, ...]],
                        dict[frozenset[str], Selection | None]]] = {}


def selection(schema: GraphQLSchema, fields: frozenset[str]) -> Selection | None:
    """What a document selecting ``fields`` of ``schema`` needs fetched; None (every
    granted column) when one of them reads records as it finds them (``reads = "*"``:
    a search over events, a trail).

    A field with a resolver may read anything of its object (``School.districtName``
    reads its ``district``), so selecting it keeps every column of its type, unless
    its metadata says what it reads (``reads``: "Type.field" names; ``()``: nothing
    but its object's keys)."""
    facts = _FACTS.get(id(schema))
    if facts is None or facts[0] is not schema:
        if len(_FACTS) > 64:
            _FACTS.clear()
        facts = _FACTS[id(schema)] = (schema, *_facts(schema), {})
    _, every_field, reads, chosen = facts
    if fields in chosen:  # a document asked again: worked out once
        return chosen[fields]
    implied = [r for f in fields if f in reads for r in reads[f]]
    out = None if "*" in implied else Selection(fields | frozenset(implied), every_field)
    if len(chosen) >= 1024:
        chosen.clear()
    chosen[fields] = out
    return out


def _facts(schema: GraphQLSchema) -> tuple[frozenset[str], dict[str, tuple[str, ...]]]:
    every: set[str] = set()
    reads: dict[str, tuple[str, ...]] = {}
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        own = tuple(f"{type_.name}.{n}" for n in type_.fields)
        every.update(own)
        for name, field in type_.fields.items():
            definition = (field.extensions or {}).get("strawberry-definition")
            said = (getattr(definition, "metadata", None) or {}).get("reads")
            if said is not None:
                reads[f"{type_.name}.{name}"] = (said,) if isinstance(said, str) else tuple(said)
            elif getattr(definition, "base_resolver", None) is not None:
                reads[f"{type_.name}.{name}"] = own
    return frozenset(every), reads
