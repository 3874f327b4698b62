"""Relay-style connections with a bounded page size."""

from __future__ import annotations

import base64
import json
from typing import Any, Generic, TypeVar

import strawberry
from graphql import FieldNode, FragmentSpreadNode, GraphQLResolveInfo, InlineFragmentNode, SelectionSetNode

from connectors.interface import Page
from hub.errors import BadInput

T = TypeVar("T")

DEFAULT_PAGE = 50
MAX_PAGE = 500


@strawberry.type(description="Where a page stands in its list.")
class PageInfo:
    hasNextPage: bool
    hasPreviousPage: bool
    startCursor: str | None
    endCursor: str | None


@strawberry.type
class Edge(Generic[T]):
    node: T
    cursor: str


@strawberry.type(description="One page of a list; pass pageInfo.endCursor as `after` for the next.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    pageInfo: PageInfo
    totalCount: int = strawberry.field(
        description="Rows in the whole list (not only this page), with the filters applied."
    )


def position_cursor(kind: str, value: int) -> str:
    """A cursor for a list the hub holds itself (not a source's): kind and position."""
    raw = json.dumps([kind, value]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_position_cursor(kind: str, cursor: str) -> int:
    """The position in a ``position_cursor``, or BadInput when it is not one of ``kind``."""
    try:
        name, value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if name != kind or not isinstance(value, int) or value < 0:
            raise ValueError
    except (ValueError, TypeError):
        raise BadInput("after: this is not a cursor of this list; pass an endCursor") from None
    return value


def check_first(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise BadInput(
            f"first must be between 1 and {MAX_PAGE} (got {first}); "
            "fetch further pages with after: pageInfo.endCursor"
        )
    return first


def connection(page: Page, nodes: list[Any], after: str | None) -> Connection[Any]:
    edges = [Edge(node=n, cursor=c) for n, c in zip(nodes, page.cursors)]
    return Connection(
        edges=edges,
        pageInfo=PageInfo(
            hasNextPage=page.has_next,
            hasPreviousPage=after is not None,
            startCursor=page.cursors[0] if page.cursors else None,
            endCursor=page.cursors[-1] if page.cursors else None,
        ),
        totalCount=page.total if page.total is not None else -1,
    )


def wants_total(info: Any) -> bool:
    """Whether this connection field's selection asks for ``totalCount``."""
    raw: GraphQLResolveInfo[Any] = info._raw_info
    return any(_selects(node.selection_set, "totalCount", raw) for node in raw.field_nodes)


def _selects(sel: SelectionSetNode | None, name: str, info: GraphQLResolveInfo[Any]) -> bool:
    if sel is None:
        return False
    for s in sel.selections:
        if isinstance(s, FieldNode):
            if s.name.value == name:
                return True
        elif isinstance(s, InlineFragmentNode):
            if _selects(s.selection_set, name, info):
                return True
        elif isinstance(s, FragmentSpreadNode):
            frag = info.fragments.get(s.name.value)
            if frag is not None and _selects(frag.selection_set, name, info):
                return True
    return False
