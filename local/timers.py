"""Timer schedules for the local host: when the catch-up poll, sweeper and reconciliation run next.

Azure Functions timers use NCRONTAB, six fields with the seconds first ("0 */5 * * * *"), or a TimeSpan
("00:05:00", App Service plans only). croniter reads the six-field form with `second_at_beginning`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{2})(?::(?P<seconds>\d{2}))?$")


def next_occurrence(schedule: str, after: datetime) -> datetime:
    """The first time strictly after `after` that the schedule fires; `after` must be timezone-aware."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    schedule = schedule.strip()
    span = _TIMESPAN.match(schedule)
    if span is not None:
        interval = timedelta(
            days=int(span["days"] or 0),
            hours=int(span["hours"]),
            minutes=int(span["minutes"]),
            seconds=int(span["seconds"] or 0),
        )
        if interval <= timedelta(0):
            raise ValueError(f"timer schedule {schedule!r}: the interval must be positive")
        return after + interval
    fields = schedule.split()
    if len(fields) != 6:
        raise ValueError(
            f"timer schedule {schedule!r}: NCRONTAB needs six fields, seconds first (e.g. '0 */5 * * * *')"
        )
    try:
        # Imported here so a host without timer functions starts even where croniter is not installed.
        from croniter import croniter
    except ImportError as error:
        raise ValueError("timer schedules need the croniter package (requirements-dev.txt)") from error
    try:
        result = croniter(schedule, after, second_at_beginning=True).get_next(datetime)
    except (ValueError, KeyError) as error:
        raise ValueError(f"timer schedule {schedule!r}: {error}") from error
    assert isinstance(result, datetime)
    return result
