"""Where the hub finds its sources: the ``city_brain_hub.sources`` entry points.

A source system is registered as a Python entry point naming a
:class:`Source`, the way an outside package would register one (Datasette's
plugins work the same way)::

    # pyproject.toml of a package that adds a source
    [project.entry-points."city_brain_hub.sources"]
    venues = "city_venues:SOURCE"

The built-in sources are registered in the hub's own ``pyproject.toml`` through
the very same group. Everything about one source lives in its folder: its
tables, its views (the mapping onto the unified types), its part of the
synthetic city and, when it adds to the graph, its types and root fields.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from hub.errors import ConfigError

from .interface import Connector
from .views import View

GROUP = "city_brain_hub.sources"


@dataclass(frozen=True)
class SqlSettings:
    """``[connectors.NAME]`` of a database source."""

    #: A SQLAlchemy URL with an async driver, e.g. ``postgresql+asyncpg://hub@db/edu``.
    url: str
    #: Seconds a statement may take (default: the source's own).
    timeout: float | None = None
    #: Connections kept to the source, as many statements as run at once (default: the
    #: source's own, 8); a SQLite file is read by as many threads, one connection each.
    pool_size: int | None = None


@dataclass(frozen=True)
class Source:
    """One source system as the hub registers it."""

    name: str
    description: str
    #: Makes the connector from its settings (an instance of ``settings``).
    create: Callable[[Any], Connector]
    #: The unified views it serves (for policies and the access matrix).
    views: Mapping[str, View]
    #: What ``[connectors.NAME]`` holds, checked against this dataclass.
    settings: type = SqlSettings
    #: False: started only when configured (the peer provinces' hubs).
    required: bool = True
    #: Whether the synthetic city has a SQLite file for it (DATA_DIR/NAME.sqlite).
    generated: bool = True
    #: "module:attribute" of its part of the synthetic city (imported only to generate).
    city: str | None = None
    #: Module adding types and root fields to the graph (``schema.build`` reads
    #: its ``QUERY`` and ``PERSON`` classes), if the source adds any.
    graph: str | None = None
    #: Sources are listed in this order (then by name).
    order: int = 100
    #: A database source's tables (a SQLAlchemy ``MetaData``), as its department keeps them.
    tables: Any = None

    def load_city(self) -> Any:
        return _attribute(self.city) if self.city else None


def _attribute(path: str) -> Any:
    module, _, attr = path.partition(":")
    target = importlib.import_module(module)
    return getattr(target, attr) if attr else target


@functools.cache
def sources() -> Mapping[str, Source]:
    """Every registered source, by name, in their order."""
    found: dict[str, Source] = {}
    for ep in metadata.entry_points(group=GROUP):
        source = ep.load()
        if not isinstance(source, Source):
            raise ConfigError(f"entry point {ep.name} = {ep.value!r} in group {GROUP} is not a "
                              "connectors.registry.Source")
        if source.name != ep.name:
            raise ConfigError(f"entry point {ep.name} = {ep.value!r} registers a source named "
                              f"{source.name!r}; the names must agree")
        if source.name in found:
            continue  # the same distribution seen twice on sys.path
        found[source.name] = source
    if not found:
        raise ConfigError(f"no source is registered in the entry-point group {GROUP}; install "
                          "the hub (pip install -e .) so that its built-in sources are found")
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


def generated_sources() -> list[str]:
    """Names of the sources the synthetic city writes a SQLite file for."""
    return [name for name, s in sources().items() if s.generated]


def sql_source(connector: Any, *, description: str, order: int = 100, city: str | None = None,
               graph: str | None = None) -> Source:
    """A source served by a ``connectors.drivers.sql.SqlConnector`` subclass."""

    def create(settings: SqlSettings) -> Connector:
        return connector(settings.url, timeout=settings.timeout,  # type: ignore[no-any-return]
                         pool_size=settings.pool_size)

    return Source(name=connector.name, description=description, create=create,
                  views=connector.views, order=order, city=city, graph=graph,
                  tables=connector.metadata)
