"""Value completion: a level's raw values into the answer, as graphql-core completes them.

:meth:`_Completion._complete_field` completes one field over one batch, with
an unrolled loop per kind of return type (``_Field.fast``, see fields.py):
values that are already what the answer holds (a ``str`` for ``String``/``ID``,
a ``bool``, an ``int`` in range, a remembered enum value, an empty list) are
stored as they are, objects get a child dict and join the next level's batch
for their type and selection set (``_child_batch``); everything else goes
through :meth:`_Completion._complete`: non-null checks, lists (item by item,
objects of a list batched the same way), leaves (``coerce_output_value``,
enum names memoised per run), objects with ``is_type_of`` and abstract types
(``resolve_type`` or graphql-core's default type resolver, then
``ensure_valid_runtime_type``'s checks and messages). A completion step that
returns an awaitable (an async iterable, ``is_type_of`` or ``resolve_type``
returning one, an awaitable list item) is deferred: the level loop awaits
the deferred values together and calls the ``_then_*`` continuation.

Which values are awaitable is decided per class and remembered
(:meth:`_Completion._classify`), except for classes that could answer
differently per instance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from types import CoroutineType, GeneratorType
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    is_leaf_type,
    is_object_type,
)
from graphql.execution import Executor
from graphql.pyutils import Undefined, inspect, is_async_iterable, is_awaitable, is_iterable
from graphql.type.scalars import GRAPHQL_MAX_INT, GRAPHQL_MIN_INT

from hub.execution.fields import _TYPENAME_FIELD, _Batch, _Work
from hub.execution.nulls import _Nulls

_NOT_AWAITABLE: dict[type, bool] = dict.fromkeys(
    (str, int, float, bool, type(None), list, tuple, dict, set, frozenset, bytes,
     dt.datetime, dt.date, dt.time, dt.timedelta, Decimal), False)


class _Completion(_Nulls):
    """Completing the values of a level; what it leaves for the next."""

    def __init__(self, executor: Executor[Any]) -> None:
        super().__init__(executor)
        self._awaitable_types: dict[type, bool] = dict(_NOT_AWAITABLE)
        self._enum_names: dict[Any, dict[Any, Any]] = {}
        #: The next level's batches, per (object type, selection set).
        self._children: dict[tuple[GraphQLObjectType, int], _Batch] = {}
        #: Awaitables met while completing, with what to do with their value.
        self._deferred: list[tuple[Any, Callable[..., None], tuple[Any, ...]]] = []

    def _classify(self, value: Any) -> bool:
        cls = type(value)
        # What an instance's attribute look-up may do differently per instance: a
        # __getattr__ or __getattribute__ of its class's own (not its metaclass's: an
        # enum's class has EnumType's __getattr__, its members do not).
        if cls is GeneratorType or any("__getattr__" in vars(k) or "__getattribute__" in vars(k)
                                       for k in cls.__mro__ if k is not object):
            return is_awaitable(value)
        verdict = issubclass(cls, CoroutineType) or hasattr(cls, "__await__")
        self._awaitable_types[cls] = verdict
        return verdict

    def _is_awaitable(self, value: Any) -> bool:
        aw = self._awaitable_types.get(type(value))
        return self._classify(value) if aw is None else aw

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
                    raise TypeError(
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
                raise GraphQLError(
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


async def _collect(iterable: Any) -> list[Any]:
    return [item async for item in iterable]
