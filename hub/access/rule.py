"""The validation rule that refuses what a grant does not cover.

A document is validated against the whole schema with graphql-core's
specified rules plus :func:`granted_only`: a field, a type (in a fragment's
type condition or a variable's type) or a mutation that exists in the schema
but is not in the department's schema for this purpose is reported as
``FORBIDDEN``, naming it, before any connector runs. Unknown names are left to
the specified rules (``GRAPHQL_VALIDATION_FAILED``).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    ValidationRule,
    get_named_type,
)

HINT = ("the access policy refuses it (ask the big-data bureau, or see "
        "`hub policy show DEPARTMENT`)")


def forbidden(name: str, nodes: Any) -> GraphQLError:
    return GraphQLError(
        f"{name} is not granted to your department for this purpose: {HINT}",
        nodes=nodes, extensions={"code": "FORBIDDEN", "field": name},
    )


def granted_only(full: GraphQLSchema, granted: GraphQLSchema) -> type[ValidationRule]:
    """A rule class refusing what ``full`` has and ``granted`` (the department's cut) lacks."""

    class GrantedOnly(ValidationRule):
        """Inside a refused field nothing more is reported: one error per refusal."""

        def __init__(self, context: Any) -> None:
            super().__init__(context)
            self.refused: list[FieldNode] = []

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            if node.operation == OperationType.MUTATION and granted.mutation_type is None \
                    and full.mutation_type is not None:
                self.report_error(forbidden("Mutation", [node]))

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if self.refused:
                return
            parent = self.context.get_parent_type()
            name = node.name.value
            if parent is None or name.startswith("__"):
                return
            named = get_named_type(parent)
            if name not in getattr(named, "fields", {}):
                return  # unknown in the whole schema: FieldsOnCorrectTypeRule says so
            mine = granted.type_map.get(named.name)
            if mine is None:
                return  # the parent itself is refused where it is named
            if name not in getattr(mine, "fields", {}):
                self.report_error(forbidden(f"{named.name}.{name}", [node]))
                self.refused.append(node)

        def leave_field(self, node: FieldNode, *_: Any) -> None:
            if self.refused and self.refused[-1] is node:
                self.refused.pop()

        def enter_named_type(self, node: NamedTypeNode, *_: Any) -> None:
            if self.refused:
                return
            name = node.name.value
            if name in full.type_map and name not in granted.type_map:
                self.report_error(forbidden(name, [node]))

    return GrantedOnly
