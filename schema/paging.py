"""Relay-style connections with a bounded page size."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionSetNode,
    get_argument_values,
)

from connectors.interface import Lazy, Page
from hub.errors import BadCursor
from hub.execution.cursors import NOT_A_CURSOR, CursorList, Cursors

from .arguments import MAX_PAGE, check_first

T = TypeVar("T")

DEFAULT_PAGE = 50
__all__ = ["DEFAULT_PAGE", "MAX_PAGE", "Connection", "Edge", "PageInfo", "check_first", "connection",
           "list_cursors", "position", "position_cursor", "position_page", "sealed", "wants_total"]


@strawberry.type(description="Where a page stands in its list.")
class PageInfo:
    hasNextPage: bool
    hasPreviousPage: bool
    startCursor: str | None
    endCursor: str | None


@strawberry.type
class Edge(Generic[T]):
    node: T
    #: The page's cursors, and this edge's place among them: sealed only when read.
    cursors: strawberry.Private[Sequence[str]]
    index: strawberry.Private[int]

    @strawberry.field
    def cursor(self) -> str:
        return self.cursors[self.index]


@strawberry.type(description="One page of a list; pass pageInfo.endCursor as `after` for the next.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    pageInfo: PageInfo
    totalCount: int = strawberry.field(
        description="Rows in the whole list (not only this page), with the filters applied."
    )


def list_cursors(info: Any, parent: Any = None) -> CursorList:
    """The cursors of the list the field being resolved answers: signed for the
    request's department and bound to the field (``Type.field``), its ``parent``
    (the key of the object it hangs off) and its arguments other than ``first``
    and ``after`` (hub.execution.cursors)."""
    raw: GraphQLResolveInfo[Any] = info._raw_info
    definition = raw.parent_type.fields[raw.field_name]
    args = get_argument_values(definition, raw.field_nodes[0], raw.variable_values)
    filters = {k: _plain(v) for k, v in sorted(args.items()) if k not in ("first", "after")}
    cursors: Cursors = info.context.cursors
    return cursors.list(f"{raw.parent_type.name}.{raw.field_name}", _plain(parent), filters)


def _plain(value: Any) -> Any:
    """An argument's value as JSON that says the same thing every time."""
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def position(cursors: CursorList, after: str | None) -> int | None:
    """The position (an index, a sequence number) sealed in ``after`` by
    ``position_cursor`` for a list the hub holds itself (None: no ``after``)."""
    if after is None:
        return None
    text = cursors.open(after)
    if not (text.isascii() and text.isdigit()):  # sealed for a list of another keeper
        raise BadCursor(NOT_A_CURSOR, argument="after")
    return int(text)


def position_cursor(cursors: CursorList, value: int) -> str:
    """The cursor of the item at ``value`` of a list the hub holds itself."""
    return cursors.seal(str(value))


def position_page(cursors: CursorList, items: list[T], first: int,
                  after: str | None) -> tuple[list[T], Page]:
    """The ``first`` items after ``after`` of a list the hub holds, and their page."""
    last = position(cursors, after)
    start = last + 1 if last is not None else 0
    chunk = items[start:start + first]
    return chunk, Page(records=[], has_next=start + first < len(items), total=len(items),
                       cursors=[position_cursor(cursors, start + i) for i in range(len(chunk))])


def sealed(cursors: CursorList, page: Page) -> Page:
    """``page`` with its keeper's cursors sealed for the client."""
    inner = page.cursors
    return dataclasses.replace(page, cursors=Lazy(len(inner), lambda i: cursors.seal(inner[i])))


def connection(page: Page, nodes: list[Any], after: str | None) -> Connection[Any]:
    cursors = page.cursors
    edges = [Edge(node=n, cursors=cursors, index=i) for i, n in enumerate(nodes[:len(cursors)])]
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
