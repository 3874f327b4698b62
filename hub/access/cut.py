"""A department's own schema: the full schema cut down to what its policy
grants for the request's purpose. Execution and introspection use it, so a
department sees nothing more; the validation rule (hub.access.rule) refuses,
against it, a denied field before any connector runs.

Masked fields get a resolver that masks the value on its way out (each
element of a list of strings, such as an audit entry's persons). Every
built-in scalar stays, whatever is granted, so that variables of any of them
coerce the same way in every department's schema.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    default_field_resolver,
    get_named_type,
)
from graphql.pyutils import is_awaitable
from graphql.type import specified_scalar_types

from hub.futures import Load, then

from .masks import MASKS
from .policy import Rule, structural


def restrict(full: GraphQLSchema, grants: Mapping[str, Rule]) -> GraphQLSchema | None:
    """The schema ``grants`` ("Type.field" -> rule) allow; None when no root field is granted."""
    objects = {n: t for n, t in full.type_map.items()
               if isinstance(t, GraphQLObjectType) and not n.startswith("__")}

    def granted(type_name: str, field_name: str) -> bool:
        return structural(type_name) or f"{type_name}.{field_name}" in grants

    # Keep a field only when its type survives; repeat until nothing changes.
    kept: dict[str, set[str]] = {n: {f for f in t.fields if granted(n, f)} for n, t in objects.items()}
    changed = True
    while changed:
        changed = False
        for name, fields in kept.items():
            for fname in list(fields):
                target = get_named_type(objects[name].fields[fname].type)
                if isinstance(target, GraphQLObjectType) and not kept.get(target.name):
                    fields.discard(fname)
                    changed = True
    query = full.query_type
    mutation = full.mutation_type
    if query is None or not kept.get(query.name):
        return None
    built: dict[str, GraphQLObjectType] = {}

    def remap(t: Any) -> Any:
        if isinstance(t, GraphQLNonNull):
            return GraphQLNonNull(remap(t.of_type))
        if isinstance(t, GraphQLList):
            return GraphQLList(remap(t.of_type))
        if isinstance(t, GraphQLObjectType):
            return build(t.name)
        assert isinstance(t, (GraphQLScalarType, GraphQLEnumType))
        return t

    def build(name: str) -> GraphQLObjectType:
        if name not in built:
            source = objects[name]

            def fields(source: GraphQLObjectType = source, name: str = name) -> dict[str, GraphQLField]:
                out = {}
                for fname, f in source.fields.items():
                    if fname not in kept[name]:
                        continue
                    rule = grants.get(f"{name}.{fname}")
                    resolve = f.resolve
                    if rule is not None and rule.persons is not None:
                        resolve = _for_persons(resolve, rule, f"{name}.{fname}")
                    elif rule is not None and rule.mask is not None:
                        resolve = _masked(resolve, rule)
                    out[fname] = GraphQLField(
                        remap(f.type), args=f.args, resolve=resolve, description=f.description,
                        deprecation_reason=f.deprecation_reason, extensions=f.extensions,
                        ast_node=f.ast_node,
                    )
                return out

            built[name] = GraphQLObjectType(
                name, fields, description=source.description, extensions=source.extensions,
                is_type_of=source.is_type_of,
            )
        return built[name]

    granted_mutation = build(mutation.name) if mutation is not None and kept.get(mutation.name) else None
    return GraphQLSchema(query=build(query.name), mutation=granted_mutation,
                         types=list(specified_scalar_types.values()), description=full.description)


def _masked(resolve: Callable[..., Any] | None, rule: Rule) -> Callable[..., Any]:
    mask = MASKS[rule.mask or ""]
    inner = resolve or default_field_resolver

    def one(value: Any) -> Any:
        return mask(str(value)) if value is not None else None

    def apply(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [one(v) for v in value]
        return one(value)

    def resolver(source: Any, info: Any, **args: Any) -> Any:
        value = inner(source, info, **args)
        if is_awaitable(value):
            if isinstance(value, (asyncio.Future, Load)):
                return then(value, apply)

            async def later() -> Any:
                return apply(await value)

            return later()
        return apply(value)

    return resolver


def _for_persons(resolve: Callable[..., Any] | None, rule: Rule, name: str) -> Callable[..., Any]:
    """A field an emergency grant allows for some persons only: served for an object
    whose ``idNumber`` is one of them; for anyone else the policy's own rule (a mask),
    or a FORBIDDEN error on that field when the policy grants it to no one."""
    persons = rule.persons or frozenset()
    inner = resolve or default_field_resolver
    other = rule.otherwise
    fallback = _masked(resolve, other) if other is not None and other.mask is not None else inner

    def resolver(source: Any, info: Any, **args: Any) -> Any:
        if getattr(source, "idNumber", None) in persons:
            return inner(source, info, **args)
        if other is not None:
            return fallback(source, info, **args)
        raise GraphQLError(f"{name} is granted to your department only for the persons of "
                           "its emergency grant, and this is not one of them",
                           extensions={"code": "FORBIDDEN", "field": name})

    return resolver
