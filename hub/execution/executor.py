"""A breadth-first GraphQL executor: graphql-core's answers, a level at a time.

``graphql.execute`` walks the answer depth first: every field of every list
item goes through ``execute_field``/``complete_value``, and every awaitable a
resolver returns (a loader's future, here) is awaited by a coroutine of its
own. For a page of 500 pupils with five cross-source fields each, that is the
bulk of a request's time.

:func:`execute` gives the same result (data and errors) for queries, but runs
level by level: for a selection set over the N objects of a level, each
field's resolver is called for all N parents; the awaitables of the whole level
(every selection set at that depth) are awaited together, once; then the child
objects of every parent are flattened into one list per (field, type) and
their selection set is executed as the next level. DataLoader batching is kept
(every load of a level is made before anything is awaited) and no coroutine is
made per item.

The spec's parts come from graphql-core itself: ``Executor.build`` (operation,
fragments, variable coercion and their errors), ``collect_fields`` /
``collect_subfields`` (fragments, ``@skip``/``@include``, aliases),
``get_argument_values``, ``located_error``, ``GraphQLResolveInfo`` (one per
field and level, with the path of the level's first item).

Fast paths: a strawberry field without a resolver is read with ``getattr``
(its ``GraphQLField.resolve`` is strawberry's ``_get_basic_result`` wrapper
around ``StrawberryField.get_result``, which reads
``default_resolver(source, python_name)``); a strawberry resolver without
field extensions (permissions are extensions) or exception handlers is called
as strawberry's ``_resolver`` wrapper calls it, with one ``Info`` and one
argument conversion per field and level (``_StrawberryCall``). Both wrappers
are recognised by their closures holding that very field, so any other
resolver (e.g. the access policy's masks, which wrap strawberry's) is called
as it is. Fields without ``resolve`` get graphql-core's default resolver
semantics inline; leaf values of the built-in scalars pass through when
already of the output type; enum names are memoised per run. The awaitables of
a level are loader futures, mostly: they are awaited one after the other (see
``_settle``), which costs a few wake-ups instead of a callback per future.

Introspection (``__schema``/``__type`` at the root), mutations and
subscriptions are delegated to ``graphql.execute``.

Errors are reported as graphql-core reports them (message, path, locations,
original error). A non-null violation nulls the nearest nullable parent; the
errors of a level are applied in graphql-core's order (depth first, those of
awaited values last), so an error after the violation inside the nulled
parent is dropped, as graphql-core's ``CollectedErrors`` drops it. One
difference remains, only inside a nulled subtree: graphql-core (with
synchronous resolvers) also reports errors it met deeper in that subtree before
the violation, which a breadth-first run has not reached. The data is the
same. Errors are listed by their place in the answer (depth first, document
order), the order graphql-core gives when resolvers are synchronous.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from enum import Enum
from types import CoroutineType, GeneratorType
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLEnumType,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationType,
    is_leaf_type,
    is_object_type,
    located_error,
)
from graphql import execute as _graphql_execute
from graphql.execution import Executor
from graphql.execution.collect_fields import collect_fields, collect_subfields
from graphql.execution.values import get_argument_values
from graphql.pyutils import (
    Path,
    Undefined,
    gather_with_cancel,
    inspect,
    is_async_iterable,
    is_awaitable,
    is_iterable,
)
from graphql.type import GraphQLResolveInfoHelpers
from graphql.type.scalars import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    serialize_boolean,
    serialize_id,
    serialize_int,
    serialize_string,
)

__all__ = ["execute"]

STRAWBERRY_DEFINITION = "strawberry-definition"

# A node is one object or list position of the answer being built, as a list
# (cheaper than an instance): the enclosing node, its key in the container, the
# container (dict or list) holding it, whether the position is nullable, the
# object's type name (None for lists), whether it was nulled by an error.
_PARENT, _KEY, _CONTAINER, _NULLABLE, _TYPENAME, _DEAD = range(6)

# How a field's raw values are read.
_TYPENAME_FIELD, _ATTR, _CALL_DEFAULT, _DEFAULT, _RESOLVE, _STRAWBERRY = range(6)

_NOT_AWAITABLE: dict[type, bool] = dict.fromkeys(
    (str, int, float, bool, type(None), list, tuple, dict, set, frozenset, bytes), False)


async def execute(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    context_value: Any,
    variable_values: dict[str, Any] | None = None,
    operation_name: str | None = None,
    root_value: Any = None,
) -> ExecutionResult:
    """Execute a query level by level; the same ExecutionResult as ``graphql.execute``."""
    if schema.get_directive("defer") or schema.get_directive("stream"):
        return await _delegate(schema, document, context_value, variable_values,
                               operation_name, root_value)
    built = Executor.build(schema, document, root_value, context_value, variable_values,
                           operation_name)
    if isinstance(built, list):  # no such operation, or the variables do not coerce
        return ExecutionResult(None, errors=built)
    operation = built.operation
    root_type = schema.get_root_type(operation.operation)
    if operation.operation is not OperationType.QUERY or root_type is None:
        return await _delegate(schema, document, context_value, variable_values,
                               operation_name, root_value)
    try:
        grouped = collect_fields(schema, built.fragments, built.variable_values, root_type,
                                 operation, built.hide_suggestions).grouped_field_set
    except RecursionError:
        grouped = None
    if grouped is None or any(fdl[0].node.name.value in ("__schema", "__type")
                              for fdl in grouped.values()):
        return await _delegate(schema, document, context_value, variable_values,
                               operation_name, root_value)
    run = _Run(built)
    data = await run.run(root_type, grouped)
    errors = run.errors
    if len(errors) > 1:
        errors.sort(key=lambda e: _rank(data, e.path or ()))
    return ExecutionResult(data, errors or None)


async def _delegate(schema: GraphQLSchema, document: DocumentNode, context_value: Any,
                    variable_values: dict[str, Any] | None, operation_name: str | None,
                    root_value: Any) -> ExecutionResult:
    result = _graphql_execute(schema, document, root_value=root_value,
                              context_value=context_value, variable_values=variable_values,
                              operation_name=operation_name)
    if is_awaitable(result):
        result = await result  # type: ignore[misc]
    assert isinstance(result, ExecutionResult)
    return result


def _rank(data: Any, path: Any) -> list[int]:
    """A sort key placing a path where a depth-first walk of the answer meets it."""
    rank: list[int] = []
    node = data
    for key in path:
        if isinstance(key, int):
            rank.append(key)
            node = node[key] if isinstance(node, list) and 0 <= key < len(node) else None
        elif isinstance(node, dict) and key in node:
            rank.append(list(node).index(key))
            node = node[key]
        else:
            rank.append(-1)
            node = None
    return rank


def _strawberry_attribute(field_def: Any) -> tuple[int, Any, str] | None:
    """How to read a strawberry field that has no resolver, without its wrapper.

    Strawberry (``GraphQLCoreConverter.from_resolver``) gives a basic field
    (no resolver, no field extensions, no exception handler) the resolver
    ``_get_basic_result``, which returns ``field.get_result(source, info=None,
    args=[], kwargs={})``, i.e. ``field.default_resolver(source,
    field.python_name)`` (``getattr`` unless the schema config says otherwise).
    """
    resolve = field_def.resolve
    definition = (field_def.extensions or {}).get(STRAWBERRY_DEFINITION)
    if resolve is None or definition is None:
        return None
    if getattr(resolve, "__name__", None) != "_get_basic_result" \
            or not getattr(resolve, "_is_default", False):
        return None
    closure = getattr(resolve, "__closure__", None) or ()
    if not any(_cell(c) is definition for c in closure):
        return None
    if getattr(definition, "base_resolver", True) is not None or getattr(definition, "extensions", True):
        return None
    try:
        from strawberry.types.field import StrawberryField
    except ImportError:  # pragma: no cover - strawberry made the field
        return None
    if type(definition).get_result is not StrawberryField.get_result:
        return None
    name = getattr(definition, "python_name", None)
    reader = getattr(definition, "default_resolver", None)
    if not isinstance(name, str) or reader is None:
        return None
    return (_ATTR if reader is getattr else _CALL_DEFAULT), reader, name


def _cell(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def _cells(fn: Any) -> dict[str, Any]:
    code = getattr(fn, "__code__", None)
    closure = getattr(fn, "__closure__", None) or ()
    if code is None or len(code.co_freevars) != len(closure):
        return {}
    return {name: _cell(c) for name, c in zip(code.co_freevars, closure)}


_RESOLVER_CELLS = frozenset(("_call_with_exception_handling", "_get_result_with_extensions",
                             "_strawberry_info_from_graphql", "field_exception_handlers"))


class _StrawberryCall:
    """A strawberry resolver, called as strawberry's wrapper calls it, minus the wrapper.

    For a field with a resolver, strawberry 0.341 (``from_resolver``) makes
    ``_resolver``/``_async_resolver``: build ``Info(_raw_info=info,
    _field=field)``, convert the arguments (``get_arguments`` ->
    ``convert_arguments``), add ``self``/``parent``/``root``/``info`` as the
    resolver's signature asks, run the field extensions' chain, and call
    ``field.get_result`` -> ``base_resolver(*args, **kwargs)``. With no field
    extension and no exception handler that chain is empty, so the same call
    can be made with one Info and one argument conversion per field and level.
    Recognised only when every piece is the one expected (closure cells,
    classes, methods); anything else is called through ``resolve``.
    """

    __slots__ = ("definition", "config", "scalars", "info_class", "call", "self_param",
                 "extra", "info_name")

    @classmethod
    def detect(cls, field_def: Any) -> _StrawberryCall | None:
        try:
            from strawberry.types.field import StrawberryField
            from strawberry.types.fields.resolver import StrawberryResolver
        except ImportError:  # pragma: no cover - strawberry is a dependency
            return None
        resolve = field_def.resolve
        definition = (field_def.extensions or {}).get(STRAWBERRY_DEFINITION)
        name = getattr(resolve, "__name__", None)
        if definition is None or name not in ("_resolver", "_async_resolver") \
                or not getattr(resolve, "__qualname__", "").endswith(f"from_resolver.<locals>.{name}"):
            return None
        cells = _cells(resolve)
        if set(cells) != _RESOLVER_CELLS or cells["field_exception_handlers"] != ():
            return None
        info_cells = _cells(cells["_strawberry_info_from_graphql"])
        ext_cells = _cells(cells["_get_result_with_extensions"])
        converter = info_cells.get("self")
        if info_cells.get("field") is not definition or ext_cells.get("field") is not definition \
                or ext_cells.get("self") is not converter or ext_cells.get("extension_functions") != []:
            return None
        if type(definition).get_result is not StrawberryField.get_result or definition.extensions:
            return None
        resolver = definition.base_resolver
        if resolver is None or type(resolver).__call__ is not StrawberryResolver.__call__:
            return None
        config = getattr(converter, "config", None)
        scalars = getattr(converter, "scalar_registry", None)
        info_class = getattr(config, "info_class", None)
        if config is None or scalars is None or info_class is None:
            return None
        out = cls()
        out.definition, out.config, out.scalars, out.info_class = definition, config, scalars, info_class
        func = resolver.wrapped_func  # what StrawberryResolver.__call__ calls
        out.call = func if callable(func) else resolver
        out.self_param = resolver.self_parameter is not None
        out.extra = tuple(p.name for p in (resolver.parent_parameter, resolver.root_parameter)
                          if p is not None)
        out.info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None
        return out

    def kwargs(self, raw: dict[str, Any], info: Any) -> dict[str, Any]:
        from strawberry.types.arguments import convert_arguments

        return convert_arguments(raw, self.definition.arguments, scalar_registry=self.scalars,
                                 config=self.config, info=info)


def _immutable(value: Any) -> bool:
    return value is None or type(value) in (str, int, float, bool) or isinstance(value, Enum)


class _Field:
    """One response key of a selection set over one object type: what to call."""

    __slots__ = ("key", "fdl", "name", "nodes", "field_def", "rtype", "mode", "resolve",
                 "attr", "args", "args_error", "parent_type", "unwrapped", "nonnull", "fast",
                 "strawberry")

    def __init__(self, key: str, fdl: Any, parent_type: GraphQLObjectType, run: _Run) -> None:
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
        self.rtype = rtype = field_def.type
        self.nonnull = isinstance(rtype, GraphQLNonNull)
        self.unwrapped = unwrapped = rtype.of_type if self.nonnull else rtype
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
        try:
            if field_def.args or first.node.arguments:
                self.args = get_argument_values(field_def, first.node, run.variable_values,
                                                first.fragment_variable_values,
                                                run.hide_suggestions)
        except Exception as err:  # noqa: BLE001 - a field error for every item
            self.args_error = err
        strawberry = _strawberry_attribute(field_def)
        if strawberry is not None and not self.args:
            self.mode, self.resolve, self.attr = strawberry
        elif field_def.resolve is None:
            self.mode = _DEFAULT
        elif (call := _StrawberryCall.detect(field_def)) is not None:
            self.mode = _STRAWBERRY
            self.strawberry = call
        else:
            self.mode = _RESOLVE
            self.resolve = field_def.resolve


class _Work:
    """One field over one batch of a level: its raw values and its info."""

    __slots__ = ("field", "batch", "raws", "info", "late")

    def __init__(self, field: _Field, batch: _Batch, raws: list[Any], info: Any) -> None:
        self.field, self.batch, self.raws, self.info = field, batch, raws, info
        #: Whether some of its values were awaited (their errors come after the
        #: synchronous ones in graphql-core).
        self.late = False


class _Batch:
    """Objects of one type sharing one selection set, at one level."""

    __slots__ = ("type", "fields", "sources", "results", "nodes")

    def __init__(self, type_: GraphQLObjectType, fields: list[_Field]) -> None:
        self.type = type_
        self.fields = fields
        self.sources: list[Any] = []
        self.results: list[dict[str, Any]] = []
        self.nodes: list[list[Any]] = []


class _Run:
    """The state of one execution."""

    def __init__(self, executor: Executor) -> None:
        self.schema = executor.schema
        self.fragments = executor.fragments
        self.fragment_definitions = executor.fragment_definitions
        self.operation = executor.operation
        self.variable_values = executor.variable_values
        self.context = executor.context_value
        self.root_value = executor.root_value
        self.hide_suggestions = executor.hide_suggestions
        self.propagate = executor.error_propagation
        self.errors: list[GraphQLError] = []
        self.any_dead = False
        self.helpers = GraphQLResolveInfoHelpers(gather=self._gather_work, track=self._track)
        self._background: set[asyncio.Future[Any]] = set()
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[Any, list[_Field]]] = {}
        self._awaitable_types: dict[type, bool] = dict(_NOT_AWAITABLE)
        self._enum_names: dict[Any, dict[Any, Any]] = {}
        self._children: dict[tuple[GraphQLObjectType, int], _Batch] = {}
        self._deferred: list[tuple[Any, Callable[..., None], tuple[Any, ...]]] = []
        self._events: list[tuple[Exception, bool, Any, Any, list[Any], _Work, bool]] = []
        self._in_deferred = False

    # ----------------------------------------------------------------- levels
    async def run(self, root_type: GraphQLObjectType, grouped: Any) -> dict[str, Any] | None:
        data: dict[str, Any] = {}
        holder: dict[Any, Any] = {None: data}
        root = [None, None, holder, True, root_type.name, False]
        batch = _Batch(root_type, self._fields(root_type, grouped))
        batch.sources.append(self.root_value)
        batch.results.append(data)
        batch.nodes.append(root)
        level = [batch]
        while level:
            level = await self._level(level)
        return holder[None]

    async def _level(self, batches: list[_Batch]) -> list[_Batch]:
        if self.any_dead:
            batches = [self._alive(b) for b in batches]
        batches = [b for b in batches if b.sources]
        work: list[_Work] = []
        pending: list[Any] = []
        slots: list[tuple[list[Any], int]] = []
        for batch in batches:
            for field in batch.fields:
                work.append(self._resolve(field, batch, pending, slots))
        if pending:
            for (raws, i), value in zip(slots, await _settle(pending)):
                raws[i] = value
        self._children = {}
        for w in work:
            self._complete_field(w)
        while self._deferred:
            self._in_deferred = True
            deferred, self._deferred = self._deferred, []
            done = await _settle([d[0] for d in deferred])
            for (_aw, then, args), value in zip(deferred, done):
                then(value, *args)
        self._in_deferred = False
        if self._events:
            self._settle_errors()
        return list(self._children.values())

    def _alive(self, batch: _Batch) -> _Batch:
        keep = [i for i, node in enumerate(batch.nodes) if not self._is_dead(node)]
        if len(keep) == len(batch.nodes):
            return batch
        out = _Batch(batch.type, batch.fields)
        out.sources = [batch.sources[i] for i in keep]
        out.results = [batch.results[i] for i in keep]
        out.nodes = [batch.nodes[i] for i in keep]
        return out

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

    # ---------------------------------------------------------------- resolve
    def _info(self, field: _Field, batch: _Batch) -> GraphQLResolveInfo:
        return GraphQLResolveInfo(
            field.name, field.nodes, field.rtype, batch.type,
            Path(_path_of(batch.nodes[0]), field.key, batch.type.name), self.schema,
            self.fragment_definitions, self.root_value, self.operation, self.variable_values,
            self.context, is_awaitable, None, self.helpers,
        )

    def _work_info(self, w: _Work) -> GraphQLResolveInfo:
        if w.info is None:
            w.info = self._info(w.field, w.batch)
        return w.info

    def _resolve(self, field: _Field, batch: _Batch, pending: list[Any],
                 slots: list[tuple[list[Any], int]]) -> _Work:
        mode = field.mode
        sources = batch.sources
        if mode == _TYPENAME_FIELD or mode < 0:
            return _Work(field, batch, [], None)
        if field.args_error is not None:
            return _Work(field, batch, [field.args_error] * len(sources), None)
        info = None
        raws: list[Any]
        if mode == _ATTR:
            name = field.attr
            try:
                raws = [getattr(s, name) for s in sources]
            except Exception:  # noqa: BLE001 - again one by one, to locate it
                raws = []
                for s in sources:
                    try:
                        raws.append(getattr(s, name))
                    except Exception as err:  # noqa: BLE001
                        raws.append(err)
        elif mode == _CALL_DEFAULT:
            reader, name = field.resolve, field.attr
            raws = []
            for s in sources:
                try:
                    raws.append(reader(s, name))
                except Exception as err:  # noqa: BLE001
                    raws.append(err)
        else:
            info = self._info(field, batch)
            args = field.args
            raws = []
            append = raws.append
            if mode == _STRAWBERRY:
                self._strawberry(field, info, sources, append)
            elif mode == _DEFAULT:
                name = field.name
                for s in sources:
                    try:
                        value = s.get(name) if isinstance(s, Mapping) else getattr(s, name, None)
                        if callable(value):
                            value = value(info, **args)
                        append(value)
                    except Exception as err:  # noqa: BLE001
                        append(err)
            else:
                resolve = field.resolve
                if args:
                    for s in sources:
                        try:
                            append(resolve(s, info, **args))
                        except Exception as err:  # noqa: BLE001
                            append(err)
                else:
                    for s in sources:
                        try:
                            append(resolve(s, info))
                        except Exception as err:  # noqa: BLE001
                            append(err)
        known = self._awaitable_types
        count = len(pending)
        for i, value in enumerate(raws):
            aw = known.get(type(value))
            if aw is None:
                aw = self._classify(value)
            if aw:
                pending.append(value)
                slots.append((raws, i))
        work = _Work(field, batch, raws, info)
        work.late = len(pending) > count
        return work

    def _strawberry(self, field: _Field, info: Any, sources: list[Any],
                    append: Callable[[Any], None]) -> None:
        """Call a strawberry resolver for every source (see ``_StrawberryCall``)."""
        sb = field.strawberry
        assert sb is not None
        sinfo = sb.info_class(_raw_info=info, _field=sb.definition)
        call = sb.call
        raw = field.args
        try:
            kwargs = sb.kwargs(raw, sinfo)
        except Exception as err:  # noqa: BLE001 - the same error for every item
            for _ in sources:
                append(err)
            return
        shared = all(_immutable(v) for v in kwargs.values())
        if sb.info_name is not None:
            kwargs[sb.info_name] = sinfo
        if shared and not sb.extra:
            if sb.self_param:
                for s in sources:
                    try:
                        append(call(s, **kwargs))
                    except Exception as err:  # noqa: BLE001
                        append(err)
            else:
                for _s in sources:
                    try:
                        append(call(**kwargs))
                    except Exception as err:  # noqa: BLE001
                        append(err)
            return
        first: dict[str, Any] | None = kwargs
        for s in sources:
            try:
                if shared:
                    kw = dict(kwargs)
                elif first is not None:  # the conversion made above, for the first item
                    kw, first = first, None
                else:
                    kw = sb.kwargs(raw, sinfo)
                if sb.info_name is not None:
                    kw[sb.info_name] = sinfo
                for name in sb.extra:
                    kw[name] = s
                append(call(s, **kw) if sb.self_param else call(**kw))
            except Exception as err:  # noqa: BLE001
                append(err)

    def _classify(self, value: Any) -> bool:
        cls = type(value)
        if cls is GeneratorType or hasattr(cls, "__getattr__") or hasattr(cls, "__getattribute__") \
                and cls.__getattribute__ is not object.__getattribute__:
            return is_awaitable(value)
        verdict = issubclass(cls, CoroutineType) or hasattr(cls, "__await__")
        self._awaitable_types[cls] = verdict
        return verdict

    def _is_awaitable(self, value: Any) -> bool:
        aw = self._awaitable_types.get(type(value))
        return self._classify(value) if aw is None else aw

    # --------------------------------------------------------------- complete
    def _complete_field(self, w: _Work) -> None:
        field = w.field
        batch = w.batch
        results = batch.results
        key = field.key
        mode = field.mode
        if mode == _TYPENAME_FIELD:
            name = batch.type.name
            for r in results:
                r[key] = name
            return
        if mode < 0:
            return
        raws = w.raws
        nodes = batch.nodes
        fast = field.fast
        complete = self._complete
        rtype = field.rtype
        if fast == 1:  # an object type
            try:
                child = self._child_batch(field.unwrapped, field.fdl)
            except Exception:  # noqa: BLE001 - e.g. too deep: a field error for each item
                for i, value in enumerate(raws):
                    complete(value, rtype, results[i], key, nodes[i], w)
                return
            srcs, res, nds = child.sources, child.results, child.nodes
            nullable = not field.nonnull
            tname = field.unwrapped.name
            for i, value in enumerate(raws):
                if value is None or value is Undefined or isinstance(value, Exception):
                    complete(value, rtype, results[i], key, nodes[i], w)
                    continue
                r = results[i]
                d: dict[str, Any] = {}
                r[key] = d
                srcs.append(value)
                res.append(d)
                nds.append([nodes[i], key, r, nullable, tname, False])
        elif fast == 2:
            for i, value in enumerate(raws):
                if type(value) is str:
                    results[i][key] = value
                else:
                    complete(value, rtype, results[i], key, nodes[i], w)
        elif fast == 3:
            for i, value in enumerate(raws):
                if type(value) is bool:
                    results[i][key] = value
                else:
                    complete(value, rtype, results[i], key, nodes[i], w)
        elif fast == 4:
            for i, value in enumerate(raws):
                if type(value) is int and GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT:
                    results[i][key] = value
                else:
                    complete(value, rtype, results[i], key, nodes[i], w)
        elif fast == 6:
            names = self._enum_names.get(field.unwrapped)
            if names is None:
                names = self._enum_names[field.unwrapped] = {}
            for i, value in enumerate(raws):
                try:
                    results[i][key] = names[type(value), value]
                except (KeyError, TypeError):
                    complete(value, rtype, results[i], key, nodes[i], w)
        elif fast == 7:
            for i, value in enumerate(raws):
                if type(value) is list and not value:
                    results[i][key] = []
                else:
                    complete(value, rtype, results[i], key, nodes[i], w)
        else:
            for i, value in enumerate(raws):
                complete(value, rtype, results[i], key, nodes[i], w)

    def _complete(self, value: Any, rtype: Any, container: Any, key: Any, parent: list[Any],
                  w: _Work) -> None:
        """Complete ``value`` of type ``rtype`` into ``container[key]``."""
        nonnull = isinstance(rtype, GraphQLNonNull)
        try:
            if isinstance(value, Exception):
                raise value
            if nonnull:
                if value is None or value is Undefined:
                    field = w.field
                    raise TypeError(  # noqa: TRY301
                        "Cannot return null for non-nullable field"
                        f" {field.parent_type.name}.{field.name}.")
                rtype = rtype.of_type
            elif value is None or value is Undefined:
                container[key] = None
                return
            if isinstance(rtype, GraphQLList):
                self._complete_list(value, rtype.of_type, container, key, parent, w, not nonnull)
            elif is_leaf_type(rtype):
                container[key] = self._leaf(rtype, value)
            elif is_object_type(rtype):
                self._complete_object(value, rtype, container, key, parent, w, not nonnull)
            else:
                self._complete_abstract(value, rtype, container, key, parent, w, not nonnull)
        except Exception as err:  # noqa: BLE001 - a field error at this position
            self._error(err, nonnull, container, key, parent, w)

    def _complete_list(self, value: Any, item_type: Any, container: Any, key: Any,
                       parent: list[Any], w: _Work, nullable: bool) -> None:
        if is_async_iterable(value):
            container[key] = None
            self._deferred.append((_collect(value), self._then_list,
                                   (item_type, container, key, parent, w, nullable)))
            return
        if not is_iterable(value):
            field = w.field
            raise GraphQLError(
                "Expected Iterable, but did not find one for field"
                f" '{field.parent_type.name}.{field.name}'.")
        items = list(value)
        out: list[Any] = [None] * len(items)
        container[key] = out
        node = [parent, key, container, nullable, None, False]
        field = w.field
        nonnull = isinstance(item_type, GraphQLNonNull)
        inner = item_type.of_type if nonnull else item_type
        known = self._awaitable_types
        child = None
        if isinstance(inner, GraphQLObjectType) and inner.is_type_of is None:
            try:
                child = self._child_batch(inner, field.fdl)
            except Exception:  # noqa: BLE001 - completed (and failed) one by one below
                child = None
        if child is not None:
            srcs, res, nds = child.sources, child.results, child.nodes
            tname = inner.name
            for j, item in enumerate(items):
                aw = known.get(type(item))
                if aw is None:
                    aw = self._classify(item)
                if aw:
                    self._deferred.append((item, self._complete, (item_type, out, j, node, w)))
                elif item is None or item is Undefined or isinstance(item, Exception):
                    self._complete(item, item_type, out, j, node, w)
                else:
                    d: dict[str, Any] = {}
                    out[j] = d
                    srcs.append(item)
                    res.append(d)
                    nds.append([node, j, out, not nonnull, tname, False])
            return
        for j, item in enumerate(items):
            aw = known.get(type(item))
            if aw is None:
                aw = self._classify(item)
            if aw:
                self._deferred.append((item, self._complete, (item_type, out, j, node, w)))
            else:
                self._complete(item, item_type, out, j, node, w)

    def _then_list(self, value: Any, item_type: Any, container: Any, key: Any,
                   parent: list[Any], w: _Work, nullable: bool) -> None:
        try:
            if isinstance(value, Exception):
                raise value
            self._complete_list(value, item_type, container, key, parent, w, nullable)
        except Exception as err:  # noqa: BLE001
            self._error(err, not nullable, container, key, parent, w)

    def _leaf(self, type_: Any, value: Any) -> Any:
        names = self._enum_names.get(type_)
        if names is not None:
            try:
                return names[type(value), value]
            except (KeyError, TypeError):
                pass
        coerced = type_.coerce_output_value(value)
        if coerced is Undefined or coerced is None:
            raise TypeError(
                f"Expected `{inspect(type_)}.coerce_output_value({inspect(value)})`"
                f" to return non-nullable value, returned: {inspect(coerced)}")
        if isinstance(type_, GraphQLEnumType):  # remember the name of this value
            if names is None:
                names = self._enum_names[type_] = {}
            try:
                names[type(value), value] = coerced
            except TypeError:
                pass
        return coerced

    def _child_batch(self, type_: GraphQLObjectType, fdl: Any) -> _Batch:
        key = (type_, id(fdl))
        batch = self._children.get(key)
        if batch is None:
            batch = self._children[key] = _Batch(type_, self._subfields(type_, fdl))
        return batch

    def _complete_object(self, value: Any, type_: GraphQLObjectType, container: Any, key: Any,
                         parent: list[Any], w: _Work, nullable: bool) -> None:
        if type_.is_type_of is not None:
            ok = type_.is_type_of(value, self._work_info(w))
            if self._is_awaitable(ok):
                container[key] = None
                self._deferred.append((ok, self._then_is_type_of,
                                       (value, type_, container, key, parent, w, nullable)))
                return
            if not ok:
                raise GraphQLError(
                    f"Expected value of type '{type_}' but got: {inspect(value)}.",
                    w.field.nodes)
        self._add_child(value, type_, container, key, parent, w, nullable)

    def _add_child(self, value: Any, type_: GraphQLObjectType, container: Any, key: Any,
                   parent: list[Any], w: _Work, nullable: bool) -> None:
        child = self._child_batch(type_, w.field.fdl)
        d: dict[str, Any] = {}
        container[key] = d
        child.sources.append(value)
        child.results.append(d)
        child.nodes.append([parent, key, container, nullable, type_.name, False])

    def _then_is_type_of(self, ok: Any, value: Any, type_: GraphQLObjectType, container: Any,
                         key: Any, parent: list[Any], w: _Work, nullable: bool) -> None:
        try:
            if isinstance(ok, Exception):
                raise ok
            if not ok:
                raise GraphQLError(  # noqa: TRY301
                    f"Expected value of type '{type_}' but got: {inspect(value)}.",
                    w.field.nodes)
            self._add_child(value, type_, container, key, parent, w, nullable)
        except Exception as err:  # noqa: BLE001
            self._error(err, not nullable, container, key, parent, w)

    def _complete_abstract(self, value: Any, type_: Any, container: Any, key: Any,
                           parent: list[Any], w: _Work, nullable: bool) -> None:
        from graphql.execution import default_type_resolver

        info = self._work_info(w)
        runtime = (type_.resolve_type or default_type_resolver)(value, info, type_)
        if self._is_awaitable(runtime):
            container[key] = None
            self._deferred.append((runtime, self._then_abstract,
                                   (value, type_, container, key, parent, w, nullable)))
            return
        self._then_abstract(runtime, value, type_, container, key, parent, w, nullable)

    def _then_abstract(self, runtime: Any, value: Any, type_: Any, container: Any, key: Any,
                       parent: list[Any], w: _Work, nullable: bool) -> None:
        try:
            if isinstance(runtime, Exception):
                raise runtime
            object_type = self._runtime_type(runtime, type_, w, value)
            self._complete_object(value, object_type, container, key, parent, w, nullable)
        except Exception as err:  # noqa: BLE001
            self._error(err, not nullable, container, key, parent, w)

    def _runtime_type(self, name: Any, type_: Any, w: _Work, value: Any) -> GraphQLObjectType:
        """graphql-core's ``ensure_valid_runtime_type``, with its messages."""
        field = w.field
        nodes = field.nodes
        where = f"{field.parent_type.name}.{field.name}"
        if name is None:
            raise GraphQLError(
                f"Abstract type '{type_}' must resolve to an Object type at runtime"
                f" for field '{where}'. Either the '{type_}' type should provide"
                " a 'resolve_type' function or each possible type should provide"
                " an 'is_type_of' function.", nodes)
        if not isinstance(name, str):
            raise GraphQLError(
                f"Abstract type '{type_}' must resolve to an Object type at runtime"
                f" for field '{where}' with value {inspect(value)}, received"
                f" '{inspect(name)}', which is not a valid Object type name.", nodes)
        runtime = self.schema.get_type(name)
        if runtime is None:
            raise GraphQLError(
                f"Abstract type '{type_}' was resolved to a type '{name}'"
                " that does not exist inside the schema.", nodes)
        if not is_object_type(runtime):
            raise GraphQLError(
                f"Abstract type '{type_}' was resolved to a non-object type '{name}'.", nodes)
        if not self.schema.is_sub_type(type_, runtime):
            raise GraphQLError(
                f"Runtime Object type '{runtime}' is not a possible type for '{type_}'.", nodes)
        return runtime

    # ----------------------------------------------------------------- errors
    def _error(self, err: Exception, nonnull: bool, container: Any, key: Any,
               parent: list[Any], w: _Work) -> None:
        """A field error at ``container[key]``: null it now; the nulling of the
        nearest nullable parent (non-null fields) waits for the end of the level."""
        container[key] = None
        self._events.append((err, nonnull, container, key, parent, w,
                             w.late or self._in_deferred))

    def _settle_errors(self) -> None:
        """Record the level's errors and null their positions, in the order
        graphql-core meets them: depth first, the errors of awaited values after
        the others. An error that nulls a parent hides the errors after it in
        that parent (graphql-core would not have run those fields, or cancels
        them), not the ones before it.
        """
        events, self._events = self._events, []
        if len(events) > 1:
            events.sort(key=lambda e: (e[6], _position_rank(e[4], e[2], e[3])))
        for err, nonnull, container, key, parent, w, _late in events:
            path = _path_list(parent)
            path.append(key)
            error = located_error(err, w.field.nodes, path)
            if nonnull and self.propagate:
                node = parent
                while not node[_NULLABLE]:
                    node = node[_PARENT]
                if self._is_dead(node):
                    continue
                node[_CONTAINER][node[_KEY]] = None
                node[_DEAD] = True
                self.any_dead = True
            elif self._is_dead(parent):
                continue
            self.errors.append(error)

    def _is_dead(self, node: list[Any] | None) -> bool:
        if not self.any_dead:
            return False
        while node is not None:
            if node[_DEAD]:
                return True
            node = node[_PARENT]
        return False

    # ------------------------------------------------------- resolver helpers
    def _gather_work(self, values: Any) -> Any:
        return gather_with_cancel(*values)

    def _track(self, values: Any) -> None:
        awaitables = [v for v in values if is_awaitable(v)]
        if awaitables:
            future = asyncio.gather(*awaitables, return_exceptions=True)
            self._background.add(future)
            future.add_done_callback(self._background.discard)


async def _settle(awaitables: list[Any]) -> list[Any]:
    """The value, or the exception, of each awaitable: all awaited together.

    Futures (a loader's) are awaited one after the other, not gathered: by the
    time the first pending one is done, the others, settled by the same loader
    batches, mostly are too; that costs a wake-up or a few instead of a
    callback per future. Other awaitables (coroutines) are made tasks first,
    so that they run concurrently, as under ``asyncio.gather``. A cancelled
    future cancels the execution, as it does graphql-core's.
    """
    futures = []
    tasks = []
    for aw in awaitables:
        if isinstance(aw, asyncio.Future):
            futures.append(aw)
        else:
            task = asyncio.ensure_future(aw)
            futures.append(task)
            tasks.append(task)
    out: list[Any] = []
    append = out.append
    try:
        for future in futures:
            if not future.done():
                try:
                    await future
                except Exception:  # noqa: BLE001, S110 - read below
                    pass
            try:
                append(future.result())
            except Exception as err:  # noqa: BLE001 - a field error
                append(err)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
    return out


async def _collect(iterable: Any) -> list[Any]:
    return [item async for item in iterable]


def _position_rank(node: list[Any] | None, container: Any, key: Any) -> list[int]:
    """Where ``container[key]`` (inside ``node``) comes in a depth-first walk."""
    rank: list[int] = []
    while True:
        rank.append(key if isinstance(key, int) else _index(container, key))
        if node is None or node[_PARENT] is None:
            break
        container, key, node = node[_CONTAINER], node[_KEY], node[_PARENT]
    rank.reverse()
    return rank


def _index(container: Any, key: Any) -> int:
    for i, k in enumerate(container):
        if k == key:
            return i
    return -1


def _path_list(node: list[Any] | None) -> list[Any]:
    keys: list[Any] = []
    while node is not None and node[_PARENT] is not None:
        keys.append(node[_KEY])
        node = node[_PARENT]
    keys.reverse()
    return keys


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
