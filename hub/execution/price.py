"""The price of an operation, known before any source runs.

From the validated document and its variables: the largest answer the
operation can have, with every list at its ``first`` (a connection's default
where absent) or at its declared size (``list_size`` in a field's strawberry
metadata, else ``Limits.list_size``), multiplied through nesting, with every
alias and fragment counted as executed (``@skip``/``@include`` counted as if
included). Its cost is graphql-armor's: 2 per object, 1 per leaf. A field that
does work of its own (a reopening plan reads every pupil's facts) declares it
as ``cost`` in its metadata, counted as that many objects; work that grows
with an integer argument declares ``cost_per`` (argument -> objects per unit
above the argument's default: a second hop of a contact search costs more).

Each fragment's and selection set's price is computed once (a chain of
fragments, each spreading the next twice, costs its length, not 2^length), so
pricing is linear in the document.

>>> import schema
>>> from graphql import parse
>>> p = price(schema.SCHEMA._schema, parse('{ school(id: "S1") { name students(first: 10) '
...           '{ edges { node { idNumber } } } } }'), None, {}, list_size=10)
>>> p.objects, p.leaves, p.depth, p.dominant
(11, 11, 3, 'school.students.idNumber')
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    Visitor,
    get_named_type,
    visit,
)

from hub.access.policy import structural

#: A connection's page when ``first`` is not given (schema.paging.DEFAULT_PAGE).
DEFAULT_PAGE = 50
MAX_PAGE = 500
#: Introspection (GraphiQL's schema query) is priced as this many leaves.
INTROSPECTION = 500
#: Connection plumbing: no depth of its own.
PLUMBING = frozenset({"edges", "node", "pageInfo"})


@dataclass(frozen=True)
class Price:
    objects: int
    leaves: int
    depth: int
    #: Objects by the source that serves their type (where one is known).
    rows: Mapping[str, int] = field(default_factory=dict)
    #: The path of response keys that holds most of the cost.
    dominant: str = ""
    aliases: int = 0
    directives: int = 0

    @property
    def cost(self) -> int:
        return 2 * self.objects + self.leaves


@dataclass
class _Part:
    objects: int = 0
    leaves: int = 0
    depth: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    dominant: str = ""
    top: int = -1  # the dominant child's cost

    def add(self, other: _Part, times: int, key: str | None) -> None:
        self.objects += other.objects * times
        self.leaves += other.leaves * times
        for name, n in other.rows.items():
            self.rows[name] += n * times
        cost = (2 * other.objects + other.leaves) * times
        if key is not None and cost > self.top:
            self.top = cost
            self.dominant = f"{key}.{other.dominant}" if other.dominant else key


#: Prices kept per document and operation, by the values of the variables they read.
PRICES_PER_DOCUMENT = 64


def price(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
          variables: Mapping[str, Any] | None, *, list_size: int,
          sources_of: Mapping[str, str] | None = None,
          plans: MutableMapping[Any, Any] | None = None) -> Price:
    """The price of the operation ``operation_name`` of a valid ``document``.

    With ``plans`` (the cached document's, documents.Document.plans), a price is
    worked out once for each value of the variables it reads (a `first: $n`,
    a `hops: $h`) and looked up after: which variables the pricer reads
    depends on the document alone, never on their values."""
    values, sources = variables or {}, sources_of or {}
    if plans is None:
        return _price(schema, document, operation_name, values, list_size, sources)
    key = ("price", id(schema), operation_name, list_size, id(sources_of))
    known: tuple[tuple[str, ...], dict[Any, Price]] | None = plans.get(key)
    if known is not None:
        names, prices = known
        read = tuple(values.get(n) for n in names)
        try:
            hit = prices.get(read)
        except TypeError:  # a value that cannot be a key (a list): work it out
            return _price(schema, document, operation_name, values, list_size, sources)
        if hit is not None:
            return hit
    recorded = _Recorded(values)
    got = _price(schema, document, operation_name, recorded, list_size, sources)
    names = tuple(recorded.read)
    if known is None or known[0] != names:
        known = plans[key] = (names, {})
    read = tuple(values.get(n) for n in names)
    try:
        if len(known[1]) >= PRICES_PER_DOCUMENT:
            known[1].clear()
        known[1][read] = got
    except TypeError:
        pass
    return got


class _Recorded(Mapping[str, Any]):
    """The variables, noting which the pricer read."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._of = values
        self.read: dict[str, None] = {}

    def __getitem__(self, name: str) -> Any:
        self.read[name] = None
        return self._of[name]

    def get(self, name: str, default: Any = None) -> Any:
        self.read[name] = None
        return self._of.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._of)

    def __len__(self) -> int:
        return len(self._of)


def _price(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
           variables: Mapping[str, Any], list_size: int, sources_of: Mapping[str, str]) -> Price:
    pricer = _Pricer(schema, document, variables, list_size, sources_of)
    op = _operation(document, operation_name)
    root = schema.get_root_type(op.operation) if op is not None else None
    part = pricer.selection(op.selection_set, root) if op is not None and root is not None else _Part()
    aliases, directives = _count_aliases_and_directives(document)
    return Price(part.objects, part.leaves, part.depth, dict(part.rows), part.dominant,
                 aliases, directives)


class _Pricer:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any],
                 list_size: int, sources_of: Mapping[str, str]) -> None:
        self.schema = schema
        self.variables = variables
        self.list_size = list_size
        self.sources_of = sources_of
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.memo: dict[tuple[int, str, int], _Part] = {}
        self.active: set[tuple[int, str, int]] = set()

    def selection(self, node: SelectionSetNode | None, parent: Any, edges: int = 1) -> _Part:
        """The price of one instance of ``parent`` answering ``node`` (``edges``: its page size)."""
        if node is None or not isinstance(parent, GraphQLObjectType):
            return _Part()
        key = (id(node), parent.name, edges)
        known = self.memo.get(key)
        if known is not None:
            return known
        if key in self.active:  # a fragment cycle: validation refuses it; price nothing
            return _Part()
        self.active.add(key)
        out = _Part()
        for sel in node.selections:
            if isinstance(sel, FieldNode):
                self._field(sel, parent, edges, out)
            elif isinstance(sel, InlineFragmentNode):
                target = (self.schema.get_type(sel.type_condition.name.value)
                          if sel.type_condition is not None else parent)
                self._merge(out, self.selection(sel.selection_set, target, edges))
            elif isinstance(sel, FragmentSpreadNode):
                frag = self.fragments.get(sel.name.value)
                if frag is not None:
                    target = self.schema.get_type(frag.type_condition.name.value)
                    self._merge(out, self.selection(frag.selection_set, target, edges))
        self.active.discard(key)
        self.memo[key] = out
        return out

    @staticmethod
    def _merge(out: _Part, other: _Part) -> None:
        depth = max(out.depth, other.depth)
        top, dominant = out.top, out.dominant
        out.add(other, 1, None)
        cost = 2 * other.objects + other.leaves
        if cost > top:
            out.top, out.dominant = cost, other.dominant
        else:
            out.top, out.dominant = top, dominant
        out.depth = depth

    def _field(self, node: FieldNode, parent: GraphQLObjectType, edges: int, out: _Part) -> None:
        name = node.name.value
        response_key = node.alias.value if node.alias else name
        if name == "__typename":
            out.leaves += 1
            return
        if name in ("__schema", "__type"):
            out.leaves += INTROSPECTION
            out.depth = max(out.depth, 1)
            return
        definition = parent.fields.get(name)
        if definition is None:
            return
        meta = field_metadata(definition)
        wrapped = definition.type
        if isinstance(wrapped, GraphQLNonNull):
            wrapped = wrapped.of_type
        target = get_named_type(wrapped)
        times = 1
        if isinstance(wrapped, GraphQLList):
            times = edges if name == "edges" else int(meta.get("list_size", self.list_size))
        page = self._first(node) if target.name.endswith("Connection") else 1
        here = _Part(objects=int(meta.get("cost", 0)) + self._cost_per(node, definition, meta))
        if isinstance(target, GraphQLObjectType):
            sub = self.selection(node.selection_set, target, page)
            if not structural(target.name):
                here.objects += 1
                source = self.sources_of.get(target.name)
                if source is not None:
                    here.rows[source] += 1
            here.add(sub, 1, None)
            here.dominant, here.top = sub.dominant, 0
            here.depth = sub.depth + (0 if name in PLUMBING else 1)
        else:
            here.leaves += 1
            here.depth = 0 if name in PLUMBING else 1
        depth = max(out.depth, here.depth)
        out.add(here, times, None if name in PLUMBING else response_key)
        if name in PLUMBING:  # the plumbing is not a step of the path
            cost = (2 * here.objects + here.leaves) * times
            if cost > out.top:
                out.top, out.dominant = cost, here.dominant
        out.depth = depth

    def _cost_per(self, node: FieldNode, definition: Any, meta: Mapping[str, Any]) -> int:
        """The ``cost_per`` objects of a field's integer arguments above their defaults."""
        extra = 0
        for name, per in (meta.get("cost_per") or {}).items():
            arg = definition.args.get(name)
            default = getattr(arg, "default_value", None)
            value = self._int_arg(node, name)
            base = default if isinstance(default, int) else 0
            bounds = (meta.get("int_ranges") or {}).get(name)
            if value is not None and bounds is not None:  # beyond them the field refuses itself
                value = min(value, bounds[1])
            if value is not None:
                extra += int(per) * max(0, value - base)
        return extra

    def _int_arg(self, node: FieldNode, name: str) -> int | None:
        for arg in node.arguments or ():
            if arg.name.value != name:
                continue
            value: Any = None
            if isinstance(arg.value, IntValueNode):
                value = int(arg.value.value)
            elif isinstance(arg.value, VariableNode):
                value = self.variables.get(arg.value.name.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    def _first(self, node: FieldNode) -> int:
        for arg in node.arguments or ():
            if arg.name.value != "first":
                continue
            value: Any = None
            if isinstance(arg.value, IntValueNode):
                value = int(arg.value.value)
            elif isinstance(arg.value, VariableNode):
                value = self.variables.get(arg.value.name.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, min(value, MAX_PAGE))  # beyond MAX_PAGE the field refuses itself
        return DEFAULT_PAGE


def field_metadata(definition: Any) -> Mapping[str, Any]:
    """A GraphQL field's strawberry ``metadata`` (``list_size``, ``cost``, ``int_ids``, ...)."""
    sdef = (definition.extensions or {}).get("strawberry-definition")
    meta = getattr(sdef, "metadata", None)
    return meta if isinstance(meta, Mapping) else {}


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return ops[0] if len(ops) == 1 else None
    return next((o for o in ops if o.name is not None and o.name.value == name), None)


def _count_aliases_and_directives(document: DocumentNode) -> tuple[int, int]:
    counts = {"aliases": 0, "directives": 0}

    class Count(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.alias is not None:
                counts["aliases"] += 1

        def enter_directive(self, _node: DirectiveNode, *_: Any) -> None:
            counts["directives"] += 1

    visit(document, Count())
    return counts["aliases"], counts["directives"]


def enforce(p: Price, limits: Any, list_size: int) -> None:
    """Refuse ``p`` when it is above ``limits`` (hub.limits.Limits, the department's own)."""
    from hub.errors import AliasLimit, CostLimit, DepthLimit, DirectiveLimit

    if p.aliases > limits.aliases:
        raise AliasLimit(f"the document has {p.aliases} aliases, more than the limit of "
                         f"{limits.aliases}; ask for fewer copies of a field",
                         aliases=p.aliases, limit=limits.aliases)
    if p.directives > limits.directives:
        raise DirectiveLimit(f"the document has {p.directives} directives, more than the limit "
                             f"of {limits.directives}", directives=p.directives,
                             limit=limits.directives)
    if p.depth > limits.depth:
        raise DepthLimit(f"fields are nested {p.depth} deep, deeper than the limit of "
                         f"{limits.depth} (edges, node and pageInfo are not counted); "
                         f"the deepest path is through {p.dominant or 'the root'}",
                         depth=p.depth, limit=limits.depth)
    if p.cost > limits.cost:
        raise CostLimit(f"this operation may cost {p.cost:,} (2 per object and 1 per leaf of its "
                        f"largest answer, lists at their `first` or {list_size}), above the limit "
                        f"of {limits.cost:,}; most of it is at {p.dominant}: ask for fewer items "
                        "(a smaller `first`) or fewer fields", cost=p.cost, limit=limits.cost,
                        path=p.dominant)
    for source, rows in sorted(p.rows.items()):
        budget = limits.sources.get(source)
        if budget is not None and rows > budget.rows:
            raise CostLimit(f"this operation may read {rows:,} rows of the {source} source, above "
                            f"its limit of {budget.rows:,}; ask for fewer items",
                            cost=p.cost, limit=limits.cost, source=source, rows=rows,
                            sourceLimit=budget.rows)
