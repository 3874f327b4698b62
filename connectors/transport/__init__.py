"""Transport checkpoints (交通卡口): highway toll stations, railway stations,
the airport and city roads, with every pass and every arrival from abroad.

The transport bureau's system stores times as Unix epoch seconds and uses
``cp_`` / ``rec_`` prefixes.
"""

from __future__ import annotations

from connectors.registry import sql_source

from .views import TransportConnector

SOURCE = sql_source(TransportConnector, order=20, city="connectors.transport.city:PART",
                    description="transport checkpoints: passes and arrivals")
