"""GraphQL documents: parsed and validated once per grant, then cached.

A document is validated against the whole schema with graphql-core's
specified rules and the grant's own rule (``Grant.validation``), which refuses
with ``FORBIDDEN`` whatever the department may not read. The result, with the
``Type.field`` set the document reads (for the audit trail), is kept in a
bounded least-recently-used cache keyed by the grant and the text.

A cached document's operation is planned once too (:meth:`Documents.prepare`):
what graphql-core's ``Executor.build`` works out from the document alone (the
operation to run, its fragments) is kept in the document's ``plans``, so a
document asked again (a persisted query: the province's ``healthCode``
look-up) is neither parsed, validated nor planned again: each request only
coerces its variables, once, for the argument checks and the executor alike.
``Documents.counts`` counts the parses, validations and plans made.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    parse,
    specified_rules,
    validate,
    visit,
)
from graphql.execution import Executor
from graphql.execution.values import VariableValues, get_variable_values

from hub.access.admission import Grant
from hub.access.policy import structural

#: graphql-armor's default; ``limits.tokens`` in the configuration.
MAX_TOKENS = 1_000
CACHE_SIZE = 1_024


@dataclass(frozen=True)
class Document:
    node: DocumentNode | None
    errors: tuple[GraphQLError, ...]
    #: Every "Type.field" the document reads (for the audit trail).
    fields: frozenset[str] = frozenset()
    #: What later steps work out from the document alone, kept with it so a
    #: document asked again is not analysed again: its price by the variables
    #: the price reads (price.price), the fields whose arguments are checked
    #: (arguments.check_document). Keys are each step's own.
    plans: dict[Any, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Planned:
    """One operation of a valid document as graphql-core's ``Executor.build``
    found it: the operation and the document's fragments (the same for every
    request asking for that operation name)."""

    operation: OperationDefinitionNode
    fragment_definitions: dict[str, FragmentDefinitionNode]
    fragments: dict[str, Any]


@dataclass(frozen=True)
class Prepared:
    """A request's operation, ready to run (executor.execute's ``prepared``):
    the plan, and the request's variables coerced (once) against it."""

    planned: Planned
    variables: VariableValues

    @property
    def operation(self) -> OperationDefinitionNode:
        return self.planned.operation


#: ``Executor.build``'s own default (the executor calls it with no other).
MAX_COERCION_ERRORS = 50


class Documents:
    """Parse and validation results by (grant, query text): bounded, least recently used."""

    def __init__(self, size: int = CACHE_SIZE, max_tokens: int = MAX_TOKENS) -> None:
        self.size = size
        self.max_tokens = max_tokens
        self._items: OrderedDict[tuple[Any, str], Document] = OrderedDict()
        #: Work done, by kind: "parse", "validate", "plan" (what a cached document is spared).
        self.counts: Counter[str] = Counter()

    def prepare(self, doc: Document, schema: GraphQLSchema, operation_name: str | None,
                variables: dict[str, Any] | None) -> Prepared | None:
        """``doc``'s operation ``operation_name`` with ``variables`` coerced, planned
        once per schema and name; None when graphql-core would refuse to run it
        (no such operation, or variables that do not coerce): the caller then
        takes the path that reports it, as it would without a plan."""
        assert doc.node is not None
        key = ("operation", id(schema), operation_name)
        planned: Planned | None = doc.plans.get(key)
        if planned is None:
            built = Executor.build(schema, doc.node, None, None, variables, operation_name)
            if isinstance(built, list):
                return None
            self.counts["plan"] += 1
            planned = Planned(built.operation, built.fragment_definitions, built.fragments)
            doc.plans[key] = planned
            return Prepared(planned, built.variable_values)
        coerced = get_variable_values(schema, planned.operation.variable_definitions or (),
                                      variables or {}, max_errors=MAX_COERCION_ERRORS)
        if isinstance(coerced, list):
            return None
        return Prepared(planned, coerced)

    def get(self, grant: Grant, query: str) -> Document:
        key = (grant.key, query)
        doc = self._items.get(key)
        if doc is not None:
            self._items.move_to_end(key)
            return doc
        self.counts["parse"] += 1
        try:
            node = parse(query, max_tokens=self.max_tokens)
        except GraphQLError as err:
            if "Document contains more than" in err.message:
                err = GraphQLError(f"the document has more than {self.max_tokens} tokens, the "
                                   "limit; send a smaller document",
                                   extensions={"code": "TOKEN_LIMIT", "limit": self.max_tokens})
            doc = Document(None, (err,))
        else:
            self.counts["validate"] += 1
            rules = (*specified_rules, grant.validation)
            errors = validate(grant.full, node, rules, hide_suggestions=True)
            if errors:
                doc = Document(None, tuple(errors))
            else:
                doc = Document(node, (), fields_read(grant.full, node))
        self._items[key] = doc
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return doc


def fields_read(schema: GraphQLSchema, node: DocumentNode) -> frozenset[str]:
    """"Type.field" for every data field a (valid) document selects."""
    info = TypeInfo(schema)
    found: set[str] = set()

    class Collect(Visitor):
        def enter_field(self, field: FieldNode, *_: Any) -> None:
            parent = info.get_parent_type()
            name = field.name.value
            if (parent is not None and not name.startswith("__")
                    and not parent.name.startswith("__") and not structural(parent.name)):
                found.add(f"{parent.name}.{name}")

    visit(node, TypeInfoVisitor(info, Collect()))
    return frozenset(found)
