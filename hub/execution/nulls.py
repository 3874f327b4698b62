"""Field errors: their events, the nulls they propagate, the order they are reported in.

A field error at a position of the answer nulls that position at once
(:meth:`_Nulls._error`) and is kept as an event; at the end of the level
(:meth:`_Nulls._settle_errors`) the events are applied in graphql-core's
order: depth first, the errors of awaited values after the others. An error
at a non-null position then nulls the nearest nullable enclosing node and
marks it dead; an error met later inside a dead node is dropped, as
graphql-core's ``CollectedErrors`` drops it, and the next levels skip the
objects of dead nodes (levels.py). One difference remains, only inside a
nulled subtree: graphql-core (with synchronous resolvers) also reports errors
it met deeper in that subtree before the violation, which a breadth-first run
has not reached. The data is the same.

The nodes are the lists described in fields.py (``_PARENT`` ... ``_DEAD``).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, located_error
from graphql.execution import Executor

from hub.execution.fields import _CONTAINER, _DEAD, _KEY, _NULLABLE, _PARENT, _Operation, _Work


class _Nulls(_Operation):
    """The errors of one run, and the nodes they nulled."""

    def __init__(self, executor: Executor[Any]) -> None:
        super().__init__(executor)
        self.errors: list[GraphQLError] = []
        self.any_dead = False
        self._events: list[tuple[Exception, bool, Any, Any, list[Any], _Work, bool]] = []
        #: Whether the values being completed are awaited ones (their errors come last).
        self._in_deferred = False

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
        for err, nonnull, _container, key, parent, w, _late in events:
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
