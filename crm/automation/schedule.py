"""A cron-like schedule: `minute hour day-of-month month day-of-week`, evaluated in the label's time zone.

Each field is `*`, a number, a range `a-b`, a list `a,b,c`, or a step `*/n` / `a-b/n`. Day of week: 0-6 from Sunday
(7 is Sunday too). As in cron, when both day fields are restricted a day matches either. `schedule_parse` raises
`ScheduleError` naming the field; `schedule_next` lists the next run times (aware, UTC).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
MAX_DAYS_AHEAD = 4 * 366 + 1  # a schedule that never matches in four years (31 February) is refused


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Monday ... 6 = Sunday (Python's)
    any_day: bool
    any_weekday: bool

    def day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        in_days, in_weekdays = day.day in self.days, day.weekday() in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return in_weekdays
        if self.any_weekday:
            return in_days
        return in_days or in_weekdays


def _field(text: str, name: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                start, end = low, high
            elif "-" in base:
                start, end = (int(x) for x in base.split("-", 1))
            else:
                start = end = int(base)
                if step_text:
                    end = high
        except ValueError:
            raise ScheduleError(f"{name}: {part!r} is not a number, a range or a step.") from None
        if step < 1 or not (low <= start <= high and low <= end <= high) or start > end:
            raise ScheduleError(f"{name}: {part!r} is outside {low}-{high}.")
        values.update(range(start, end + 1, step))
    return values


def schedule_parse(text: str) -> Schedule:
    """Parse five cron fields; raise ScheduleError naming the field that is wrong."""
    parts = text.split()
    if len(parts) != 5:
        raise ScheduleError("Five fields: minute hour day-of-month month day-of-week, e.g. 0 9 * * 1.")
    sets = [_field(p, name, low, high) for p, (name, low, high) in zip(parts, FIELDS, strict=True)]
    weekdays = frozenset((d - 1) % 7 for d in sets[4])  # cron 0/7 = Sunday -> 6; 1 = Monday -> 0
    schedule = Schedule(
        minutes=tuple(sorted(sets[0])),
        hours=tuple(sorted(sets[1])),
        days=frozenset(sets[2]),
        months=frozenset(sets[3]),
        weekdays=weekdays,
        any_day=parts[2] == "*",
        any_weekday=parts[4] == "*",
    )
    if not schedule_next(schedule, tz_name="UTC", after=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), count=1):
        raise ScheduleError("day of month: this schedule never happens (e.g. 31 in a month of 30 days).")
    return schedule


def schedule_next(schedule: Schedule, *, tz_name: str, after: dt.datetime, count: int = 5) -> list[dt.datetime]:
    """The next `count` run times strictly after `after`, in UTC, walking days then hours then minutes in the time
    zone (a local time skipped by a DST change does not run; a repeated one runs once)."""
    tz = ZoneInfo(tz_name)
    local_after = after.astimezone(tz)
    found: list[dt.datetime] = []
    seen: set[dt.datetime] = set()
    day = local_after.date()
    for _ in range(MAX_DAYS_AHEAD):
        if schedule.day_matches(day):
            for hour in schedule.hours:
                for minute in schedule.minutes:
                    local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                    at = local.astimezone(dt.UTC)
                    if at.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
                        continue  # does not exist (spring forward)
                    if at > after and at not in seen:
                        seen.add(at)
                        found.append(at)
                        if len(found) == count:
                            return found
        day += dt.timedelta(days=1)
    return found


def schedule_due(schedule: Schedule, *, tz_name: str, last: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The latest run time in (last, now], if any: a rule that missed several runs (beat down) runs once, for the
    latest."""
    due = None
    for at in schedule_next(schedule, tz_name=tz_name, after=last, count=60):
        if at > now:
            break
        due = at
    return due
