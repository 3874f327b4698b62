"""An outside source, as another package would add one: self-service health
kiosks in the city's districts and the visits people make to them.

Everything about it is in this folder: its tables, its views, its part of the
synthetic city and what it adds to the graph. It is registered by the entry
point in ``../kiosks-0.1.dist-info/entry_points.txt``.
"""

from __future__ import annotations

from connectors.registry import sql_source

from .views import KioskConnector

SOURCE = sql_source(KioskConnector, description="self-service health kiosks", order=200,
                    city="kiosks.city:PART", graph="kiosks.graph")
