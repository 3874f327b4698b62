"""Crowded places (场所码): supermarkets, markets, malls, stations, hospitals,
school gates and office buildings, and every scan of their codes at the door.

The seventh source, built the way an outside package adds one: everything
about it is in this folder (its tables, its views, its part of the synthetic
city and what it adds to the graph: ``Venue``, ``Person.venueScans`` and the
person's ``trail`` across every source), registered by the
``city_brain_hub.sources`` entry point in the hub's pyproject.toml.
"""

from __future__ import annotations

from connectors.registry import sql_source

from .views import VenueConnector

SOURCE = sql_source(VenueConnector, order=70, city="connectors.venues.city:PART",
                    graph="connectors.venues.graph",
                    description="crowded places: venues and the scans of their codes")
