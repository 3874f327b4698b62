"""What the endpoint hands a validated document to: a context holding loaders
bound to the request's admission, and the level-by-level executor."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any

from graphql import DocumentNode, ExecutionResult

from connectors.peer.wire import HOPS, hops_from
from hub.access.admission import Admission

from .context import RequestContext
from .cursors import Cursors, cursor_key
from .documents import Prepared
from .executor import execute
from .loaders import Loaders
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
                  prepared: Prepared | None = None) -> ExecutionResult:
        """``prepared``: the operation planned and its variables coerced
        (documents.Documents.prepare), else the executor builds them."""
        assert context.admission is not None
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
