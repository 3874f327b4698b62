"""The built-in connectors, by the name configuration uses."""

from __future__ import annotations

from connectors.clinic import ClinicConnector
from connectors.community import CommunityConnector
from connectors.enterprise import EnterpriseConnector
from connectors.healthcode import HealthCodeConnector
from connectors.school import SchoolConnector
from connectors.sql import SqlConnector
from connectors.transport import TransportConnector

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
