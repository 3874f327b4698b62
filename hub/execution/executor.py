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

This module is the entry: :func:`execute`, the delegation to
``graphql.execute`` of what it does not run (introspection, ``__schema`` /
``__type`` at the root; mutations and subscriptions; schemas with ``@defer`` /
``@stream``), and the final order of the errors: by their place in the
answer (depth first, document order), the order graphql-core gives when
resolvers are synchronous. The rest, each module importing only the ones
before it:

- strawberry_paths.py: recognising strawberry's resolver wrappers (the fast
  paths), and the strawberry-graphql / graphql-core versions they were
  written against;
- fields.py: the per-field plan (how raw values are read and completed,
  argument values), batches, work items, resolve infos;
- nulls.py: field errors, null propagation, the order errors are met in;
- complete.py: value completion (lists, leaves, objects, abstract types);
- levels.py: ``_Run``, the level loop and the resolver calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLObjectType,
    GraphQLSchema,
    OperationType,
    assert_valid_schema,
    default_field_resolver,
    default_type_resolver,
)
from graphql import execute as _graphql_execute
from graphql.execution import Executor
from graphql.execution.collect_fields import collect_fields
from graphql.pyutils import is_awaitable

from hub.execution.documents import Prepared
from hub.execution.levels import _Run

__all__ = ["execute"]


async def execute(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    context_value: Any,
    variable_values: dict[str, Any] | None = None,
    operation_name: str | None = None,
    root_value: Any = None,
    watch: Mapping[str, Callable[[list[Any]], None]] | None = None,
    prepared: Prepared | None = None,
) -> ExecutionResult:
    """Execute a query level by level; the same ExecutionResult as ``graphql.execute``.

    ``watch`` maps object type names to a callback, called with the objects of
    that type the answer holds (the audit trail's persons, ``RequestContext.watch``):
    once the run is over, leaving out objects an error nulled (level by level,
    and when delegated to graphql-core: mutations).

    ``prepared`` (documents.Documents.prepare): the operation ``operation_name``
    of ``document`` as ``Executor.build`` found it, with ``variable_values``
    already coerced: the executor is made from it, not built again.
    """
    watch = watch or {}
    if schema.get_directive("defer") or schema.get_directive("stream"):
        return await _delegate(schema, document, context_value, variable_values,
                               operation_name, root_value, watch)
    built: list[Any] | Executor[Any]
    if prepared is not None:
        assert_valid_schema(schema)  # as build does (cached on the schema)
        plan = prepared.planned
        built = Executor(schema, plan.fragment_definitions, plan.fragments, root_value,
                         context_value, plan.operation, prepared.variables,
                         default_field_resolver, default_type_resolver, default_field_resolver)
    else:
        built = Executor.build(schema, document, root_value, context_value, variable_values,
                               operation_name)
    if isinstance(built, list):  # no such operation, or the variables do not coerce
        return ExecutionResult(None, errors=built)
    operation = built.operation
    root_type = schema.get_root_type(operation.operation)
    if operation.operation is not OperationType.QUERY or root_type is None:
        return await _delegate(schema, document, context_value, variable_values,
                               operation_name, root_value, watch)
    try:
        grouped = collect_fields(schema, built.fragments, built.variable_values, root_type,
                                 operation, built.hide_suggestions).grouped_field_set
    except RecursionError:
        grouped = None
    if grouped is None or any(fdl[0].node.name.value in ("__schema", "__type")
                              for fdl in grouped.values()):
        return await _delegate(schema, document, context_value, variable_values,
                               operation_name, root_value, watch)
    run = _Run(built)
    run.watch = watch
    try:
        data = await run.run(root_type, grouped)
    finally:
        # The executor and the run each hold resolver-info helpers bound to
        # themselves: cycles that only the garbage collector would free, with the
        # request's context, loaders and records they reach (graphql-core's own
        # executor makes the same one). Cut, they go when the request does (the
        # helpers themselves stay usable by any info still held).
        del built.async_helpers, run.helpers
    errors = run.errors
    if len(errors) > 1:
        errors.sort(key=lambda e: _rank(data, e.path or ()))
    return ExecutionResult(data, errors or None)


async def _delegate(schema: GraphQLSchema, document: DocumentNode, context_value: Any,
                    variable_values: dict[str, Any] | None, operation_name: str | None,
                    root_value: Any,
                    watch: Mapping[str, Callable[[list[Any]], None]]) -> ExecutionResult:
    met: list[tuple[Callable[[list[Any]], None], Any, list[Any]]] = []
    result = _graphql_execute(schema, document, root_value=root_value,
                              context_value=context_value, variable_values=variable_values,
                              operation_name=operation_name,
                              executor_class=_watching(watch, met) if watch else None)
    if is_awaitable(result):
        result = await result
    assert isinstance(result, ExecutionResult)
    for seen, obj, path in met:
        if _holds(result.data, path):
            seen([obj])
    return result


def _watching(watch: Mapping[str, Callable[[list[Any]], None]],
              met: list[tuple[Callable[[list[Any]], None], Any, list[Any]]]) -> type[Executor[Any]]:
    """graphql-core's executor, noting in ``met`` each watched object whose fields it
    executes, with its path (kept once the answer is known to hold it: ``_holds``)."""

    class Watching(Executor[Any]):
        def execute_fields(self, parent_type: GraphQLObjectType, source_value: Any,
                           path: Any, grouped_field_set: Any, position_context: Any) -> Any:
            seen = watch.get(parent_type.name)
            if seen is not None and path is not None:
                met.append((seen, source_value, path.as_list()))
            return super().execute_fields(parent_type, source_value, path, grouped_field_set,
                                          position_context)

    return Watching


def _holds(data: Any, path: list[Any]) -> bool:
    """Whether the answer has an object at ``path`` (no error nulled it or what encloses it)."""
    node = data
    for key in path:
        if isinstance(key, int):
            if not isinstance(node, list) or not 0 <= key < len(node):
                return False
        elif not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return isinstance(node, dict)


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
