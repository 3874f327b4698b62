"""The unified GraphQL schema: one graph over every source system.

``schema.graphql`` beside this file is the published SDL; a test fails when
it and the code differ (``hub schema > schema/schema.graphql`` refreshes it).
"""

from schema.root import SCHEMA, Query

__all__ = ["SCHEMA", "Query"]
