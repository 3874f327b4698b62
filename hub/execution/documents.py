"""GraphQL documents: parsed and validated once per grant, then cached.

A document is validated against the whole schema with graphql-core's
specified rules and the grant's own rule (``Grant.validation``), which refuses
with ``FORBIDDEN`` whatever the department may not read. The result, with the
``Type.field`` set the document reads (for the audit trail), is kept in a
bounded least-recently-used cache keyed by the grant and the text.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    parse,
    specified_rules,
    validate,
    visit,
)

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


class Documents:
    """Parse and validation results by (grant, query text): bounded, least recently used."""

    def __init__(self, size: int = CACHE_SIZE, max_tokens: int = MAX_TOKENS) -> None:
        self.size = size
        self.max_tokens = max_tokens
        self._items: OrderedDict[tuple[Any, str], Document] = OrderedDict()

    def get(self, grant: Grant, query: str) -> Document:
        key = (grant.key, query)
        doc = self._items.get(key)
        if doc is not None:
            self._items.move_to_end(key)
            return doc
        try:
            node = parse(query, max_tokens=self.max_tokens)
        except GraphQLError as err:
            if "Document contains more than" in err.message:
                err = GraphQLError(f"the document has more than {self.max_tokens} tokens, the "
                                   "limit; send a smaller document",
                                   extensions={"code": "TOKEN_LIMIT", "limit": self.max_tokens})
            doc = Document(None, (err,))
        else:
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
