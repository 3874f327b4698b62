"""Schools (学校): the education bureau's student and staff registers.

Grades are stored as integers 1-12 (primary 1-6, junior 7-9, senior 10-12);
the connector turns them into ``primary-1`` ... ``senior-3``.
"""

from __future__ import annotations

from connectors.registry import sql_source

from .views import SchoolConnector

SOURCE = sql_source(SchoolConnector, order=50, city="connectors.school.city:PART",
                    description="schools: pupils and staff")
