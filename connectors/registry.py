"""The built-in connectors, by the name configuration uses."""

from __future__ import annotations

from .clinic import ClinicConnector
from .community import CommunityConnector
from .enterprise import EnterpriseConnector
from .healthcode import HealthCodeConnector
from .school import SchoolConnector
from .sql import SqlConnector
from .transport import TransportConnector

BUILTIN: dict[str, type[SqlConnector]] = {
    c.name: c
    for c in (
        HealthCodeConnector,
        TransportConnector,
        CommunityConnector,
        EnterpriseConnector,
        SchoolConnector,
        ClinicConnector,
    )
}
