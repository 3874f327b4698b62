"""The argument checks resolvers use (hub/execution/arguments.py, where the
same checks also run over a whole document before it executes)."""

from hub.execution.arguments import (
    MAX_DATE,
    MAX_DAYS,
    MAX_PAGE,
    MAX_TEXT,
    MIN_DATE,
    check_date,
    check_days,
    check_first,
    check_int,
    check_int_id,
    check_text,
    check_time,
)

__all__ = ["MAX_DATE", "MAX_DAYS", "MAX_PAGE", "MAX_TEXT", "MIN_DATE", "check_date", "check_days",
           "check_first", "check_int", "check_int_id", "check_text", "check_time"]
