"""The schema, put together from the core graph and what the sources add.

A source's ``graph`` module (``connectors.registry.Source.graph``) may define
``QUERY`` (a strawberry type whose fields join the root ``Query``), ``PERSON``
(a strawberry type whose fields join ``Person``) and any types they return.
The built-in sources add nothing: their types are the core graph. The schema
is assembled once per process, when ``schema`` is first imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import strawberry
from strawberry.schema.config import StrawberryConfig

from . import person
from .records import register
from .returntowork import Mutation
from .root import Query


def assemble(sources: Mapping[str, Any]) -> strawberry.Schema:
    queries: list[type] = []
    persons: list[type] = []
    for source in sources.values():
        if not getattr(source, "graph", None):
            continue
        module = importlib.import_module(source.graph)
        if getattr(module, "QUERY", None) is not None:
            queries.append(module.QUERY)
        if getattr(module, "PERSON", None) is not None:
            persons.append(module.PERSON)
    if persons:
        core = person.Person
        definition = core.__strawberry_definition__  # type: ignore[attr-defined]
        final = strawberry.type(type("Person", (core, *persons), {"__module__": person.__name__}),
                                name="Person", description=definition.description)
        # Everything refers to Person lazily (schema.person.Person) or by name (records).
        person.Person = final  # type: ignore[misc,assignment]
        register(final)
    query: type = Query
    if queries:
        query = strawberry.type(type("Query", (Query, *queries), {"__module__": __name__}),
                                name="Query")
    return strawberry.Schema(query=query, mutation=Mutation,
                             config=StrawberryConfig(auto_camel_case=False))
