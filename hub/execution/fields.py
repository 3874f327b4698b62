"""The plan of one execution: per field, what to call; per level, what to work on.

- :class:`_Field`: one response key of a selection set over one object type,
  planned once per run: its definition, its argument values (or the error
  they raise, a field error for every item), how its raw values are read
  (``mode``) and how they complete (``fast``); what the definition alone says
  of these (:class:`_Kind`) is worked out once per definition, not per run.
- :class:`_Batch`: the objects of one type that share one selection set at
  one level, with the result dict and the answer node of each.
- :class:`_Work`: one field over one batch: its raw values and its info.
- :class:`_Operation`: what one run knows of its operation (what
  graphql-core's ``Executor.build`` gave), the field plans cached per
  selection set, and the ``GraphQLResolveInfo`` made for a field and a batch
  (one per field and level, with the path of the batch's first item).

How a field's raw values are read (``_Field.mode``): ``__typename``; a
strawberry field read without its wrapper (``_ATTR``, ``_CALL_DEFAULT``,
``_STRAWBERRY``, recognised by strawberry_paths.py); no ``resolve`` at all
(``_DEFAULT``: graphql-core's default resolver, inlined); any other
``resolve``, called as graphql-core calls it (``_RESOLVE``).

How they complete (``_Field.fast``, read by complete.py): 1 an object type
without ``is_type_of`` (a child dict per item), 2 ``String``/``ID`` (a str
passes through), 3 ``Boolean``, 4 ``Int`` (a bool or an int in range passes
through), 5 any other leaf, 6 an enum (names remembered per value), 7 a
list (an empty list passes through), 0 anything else.
"""

from __future__ import annotations

import asyncio
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    is_leaf_type,
)
from graphql.execution import Executor
from graphql.execution.collect_fields import collect_subfields
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, gather_with_cancel, is_awaitable
from graphql.type import GraphQLResolveInfoHelpers
from graphql.type.scalars import serialize_boolean, serialize_id, serialize_int, serialize_string

from hub.execution.strawberry_paths import _STRAWBERRY, _strawberry_attribute, _StrawberryCall

# How a field's raw values are read: graphql-core's modes (strawberry_paths.py
# numbers the others, 1, 2 and 5).
_TYPENAME_FIELD, _DEFAULT, _RESOLVE = 0, 3, 4

# A node is one object or list position of the answer being built, as a list
# (cheaper than an instance): the enclosing node, its key in the container, the
# container (dict or list) holding it, whether the position is nullable, the
# object's type name (None for lists), whether it was nulled by an error.
_PARENT, _KEY, _CONTAINER, _NULLABLE, _TYPENAME, _DEAD = range(6)


class _Field:
    """One response key of a selection set over one object type: what to call."""

    __slots__ = (
        "args",
        "args_error",
        "attr",
        "fast",
        "fdl",
        "field_def",
        "key",
        "mode",
        "name",
        "nodes",
        "nonnull",
        "parent_type",
        "resolve",
        "rtype",
        "strawberry",
        "unwrapped",
    )
    #: The field's type, and without its non-null wrapper (None: __typename, unknown).
    rtype: Any
    unwrapped: Any
    field_def: Any

    def __init__(self, key: str, fdl: Any, parent_type: GraphQLObjectType,
                 run: _Operation) -> None:
        self.key = key
        self.fdl = fdl
        self.parent_type = parent_type
        first = fdl[0]
        self.name = name = first.node.name.value
        self.nodes = [d.node for d in fdl]
        self.args: dict[str, Any] = {}
        self.args_error: Exception | None = None
        self.resolve: Any = None
        self.attr: Any = None
        self.strawberry: _StrawberryCall | None = None
        self.fast = 0
        if name == "__typename":
            self.mode = _TYPENAME_FIELD
            self.field_def = None
            self.rtype = self.unwrapped = None
            self.nonnull = True
            return
        field_def = run.schema.get_field(parent_type, name)
        self.field_def = field_def
        if field_def is None:  # unknown field: left out, as graphql-core does
            self.mode = -1
            self.rtype = self.unwrapped = None
            self.nonnull = False
            return
        kind = _kind(field_def)
        self.rtype, self.nonnull, self.unwrapped, self.fast = kind.rtype, kind.nonnull, kind.unwrapped, kind.fast
        try:
            if field_def.args or first.node.arguments:
                self.args = get_argument_values(field_def, first.node, run.variable_values,
                                                first.fragment_variable_values,
                                                run.hide_suggestions)
        except Exception as err:  # noqa: BLE001 - a field error for every item
            self.args_error = err
        if kind.attribute is not None and not self.args:
            self.mode, self.resolve, self.attr = kind.attribute
        else:
            self.mode, self.resolve, self.strawberry = kind.mode, kind.resolve, kind.strawberry


class _Kind:
    """What a field's definition alone says of how it is read and completed:
    worked out once per definition (``_kind``), not once per request."""

    __slots__ = ("attribute", "fast", "mode", "nonnull", "resolve", "rtype", "strawberry", "unwrapped")

    def __init__(self, field_def: Any) -> None:
        rtype: Any = field_def.type
        self.rtype = rtype
        self.nonnull = isinstance(rtype, GraphQLNonNull)
        self.unwrapped = unwrapped = rtype.of_type if self.nonnull else rtype
        self.fast = 0
        if isinstance(unwrapped, GraphQLObjectType) and unwrapped.is_type_of is None:
            self.fast = 1  # objects: a child dict per item
        elif is_leaf_type(unwrapped):
            coerce = getattr(unwrapped, "coerce_output_value", None)
            if coerce is serialize_string or coerce is serialize_id:
                self.fast = 2  # str passes through
            elif coerce is serialize_boolean:
                self.fast = 3
            elif coerce is serialize_int:
                self.fast = 4
            elif isinstance(unwrapped, GraphQLEnumType):
                self.fast = 6  # names remembered per value
            else:
                self.fast = 5
        elif isinstance(unwrapped, GraphQLList):
            self.fast = 7  # empty lists pass through
        #: Read without strawberry's wrapper, when the field has no arguments.
        self.attribute = _strawberry_attribute(field_def)
        self.strawberry: _StrawberryCall | None = None
        self.resolve: Any = None
        if field_def.resolve is None:
            self.mode = _DEFAULT
        elif (call := _StrawberryCall.detect(field_def)) is not None:
            self.mode = _STRAWBERRY
            self.strawberry = call
        else:
            self.mode = _RESOLVE
            self.resolve = field_def.resolve


#: id(field definition) -> (the definition, its kind). The definition is kept
#: with its kind so that its id is not reused; emptied past ``KINDS_MAX`` (the
#: schemas of reloaded policies are not kept for ever).
_KINDS: dict[int, tuple[Any, _Kind]] = {}
KINDS_MAX = 20_000


def _kind(field_def: Any) -> _Kind:
    known = _KINDS.get(id(field_def))
    if known is not None and known[0] is field_def:
        return known[1]
    if len(_KINDS) >= KINDS_MAX:
        _KINDS.clear()
    kind = _Kind(field_def)
    _KINDS[id(field_def)] = (field_def, kind)
    return kind


class _Work:
    """One field over one batch of a level: its raw values and its info."""

    __slots__ = ("batch", "field", "info", "late", "raws")

    def __init__(self, field: _Field, batch: _Batch, raws: list[Any], info: Any) -> None:
        self.field, self.batch, self.raws, self.info = field, batch, raws, info
        #: Whether some of its values were awaited (their errors come after the
        #: synchronous ones in graphql-core).
        self.late = False


class _Batch:
    """Objects of one type sharing one selection set, at one level."""

    __slots__ = ("fields", "nodes", "results", "sources", "type")

    def __init__(self, type_: GraphQLObjectType, fields: list[_Field]) -> None:
        self.type = type_
        self.fields = fields
        self.sources: list[Any] = []
        self.results: list[dict[str, Any]] = []
        self.nodes: list[list[Any]] = []


class _Operation:
    """One operation being executed: its parts, its field plans, the infos made for them."""

    def __init__(self, executor: Executor[Any]) -> None:
        self.schema = executor.schema
        self.fragments = executor.fragments
        self.fragment_definitions = executor.fragment_definitions
        self.operation = executor.operation
        self.variable_values = executor.variable_values
        self.context = executor.context_value
        self.root_value = executor.root_value
        self.hide_suggestions = executor.hide_suggestions
        self.propagate = executor.error_propagation
        self.helpers = GraphQLResolveInfoHelpers(gather=self._gather_work, track=self._track)
        self._background: set[asyncio.Future[Any]] = set()
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[Any, list[_Field]]] = {}

    def _fields(self, type_: GraphQLObjectType, grouped: Any) -> list[_Field]:
        return [_Field(key, fdl, type_, self) for key, fdl in grouped.items()]

    def _subfields(self, type_: GraphQLObjectType, fdl: Any) -> list[_Field]:
        key = (type_, id(fdl))
        plan = self._plans.get(key)
        if plan is None:
            grouped = collect_subfields(self.schema, self.fragments, self.variable_values,
                                        self.operation, type_, fdl,
                                        self.hide_suggestions).grouped_field_set
            # Keep fdl alive with its plan, so that its id is not reused.
            plan = self._plans[key] = (fdl, self._fields(type_, grouped))
        return plan[1]

    def _info(self, field: _Field, batch: _Batch) -> GraphQLResolveInfo[Any]:
        return GraphQLResolveInfo(
            field.name, field.nodes, field.rtype, batch.type,
            Path(_path_of(batch.nodes[0]), field.key, batch.type.name), self.schema,
            self.fragment_definitions, self.root_value, self.operation, self.variable_values,
            self.context, is_awaitable, None, self.helpers,
        )

    def _work_info(self, w: _Work) -> GraphQLResolveInfo[Any]:
        if w.info is None:
            w.info = self._info(w.field, w.batch)
        info: GraphQLResolveInfo[Any] = w.info
        return info

    def _gather_work(self, values: Any) -> Any:
        return gather_with_cancel(*values)

    def _track(self, values: Any) -> None:
        awaitables = [v for v in values if is_awaitable(v)]
        if awaitables:
            future = asyncio.gather(*awaitables, return_exceptions=True)
            self._background.add(future)
            future.add_done_callback(self._background.discard)


def _path_of(node: list[Any]) -> Path | None:
    """graphql-core's Path of a node (typename: the type owning each field key)."""
    chain: list[list[Any]] = []
    while node[_PARENT] is not None:
        chain.append(node)
        node = node[_PARENT]
    path: Path | None = None
    for n in reversed(chain):
        key = n[_KEY]
        path = Path(path, key, None if isinstance(key, int) else n[_PARENT][_TYPENAME])
    return path
