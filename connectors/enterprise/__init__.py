"""Enterprises (企业): the market-regulation register and each enterprise's
employee health registration, in the industry bureau's system.

Its developers used camelCase column names and industry codes of GB/T 4754.
"""

from __future__ import annotations

from connectors.registry import sql_source

from .views import EnterpriseConnector

SOURCE = sql_source(EnterpriseConnector, order=40, city="connectors.enterprise.city:PART",
                    graph="connectors.enterprise.graph",
                    description="the enterprise register and employee registration")
