"""The unified GraphQL schema: one graph over every source system.

``schema.graphql`` beside this file is the published SDL; a test fails when
it and the code differ (``hub schema > schema/schema.graphql`` refreshes it).
Sources registered as plugins may add to it (``schema.assemble``).
"""

from connectors.registry import sources

from .assemble import assemble
from .root import Query

SCHEMA = assemble(sources())

__all__ = ["SCHEMA", "Query"]
