"""Residential communities (社区): resident registers and gate health
registration, kept by the street offices.

Their system was built on Oracle habits: upper-case column names, string
identifiers (``C`` + district code + serial) and district *names*, not codes.
"""

from __future__ import annotations

from connectors.registry import sql_source

from .views import CommunityConnector

SOURCE = sql_source(CommunityConnector, order=30, city="connectors.community.city:PART",
                    description="residential communities: resident registers and gate entries")
