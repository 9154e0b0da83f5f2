"""A minimal cron schedule: the five standard fields and the common ``@`` shorthands.

Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12), day of week (0-7, 0 and 7
are Sunday). Each field is ``*`` or a comma list of ``N``, ``A-B``, ``*/S``, ``N/S`` or ``A-B/S``.
As in cron, when both day of month and day of week are restricted a day matches if either
matches. Shorthands: ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily``
(``@midnight``), ``@hourly``. Times are UTC. Names of months or days are not supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_SHORTHANDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))

#: No schedule is searched further ahead than this (a Feb 30 schedule never fires).
_HORIZON = timedelta(days=366 * 5)


class CronError(ValueError):
    """The schedule is not valid."""


def _parse_field(text: str, lo: int, hi: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        rng = part
        if "/" in part:
            rng, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"bad step in {part!r}")
            step = int(step_text)
        if rng == "*":
            start, end = lo, hi
        elif "-" in rng:
            a, b = rng.split("-", 1)
            if not (a.isdigit() and b.isdigit()):
                raise CronError(f"bad range {rng!r}")
            start, end = int(a), int(b)
        elif rng.isdigit():
            start = int(rng)
            end = hi if "/" in part else start
        else:
            raise CronError(f"bad field {part!r}")
        if not (lo <= start <= end <= hi):
            raise CronError(f"{part!r} out of range {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; :meth:`next_after` gives the next firing time."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def _day_matches(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow
        return dom and dow

    def matches(self, t: datetime) -> bool:
        """Whether the minute of ``t`` is a firing time."""
        return (
            t.minute in self.minutes
            and t.hour in self.hours
            and t.month in self.months
            and self._day_matches(t)
        )

    def next_after(self, t: datetime) -> datetime:
        """The first firing time strictly after ``t`` (same tzinfo as ``t``)."""
        cur = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = cur + _HORIZON
        while cur < limit:
            if cur.month not in self.months:
                # jump to the first day of the next month
                cur = (cur.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(cur):
                cur = cur.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if cur.hour not in self.hours:
                cur = cur.replace(minute=0) + timedelta(hours=1)
                continue
            if cur.minute not in self.minutes:
                cur += timedelta(minutes=1)
                continue
            return cur
        raise CronError("the schedule never fires")


def parse(spec: str) -> Schedule:
    """Parse a cron spec; raises :class:`CronError`."""
    text = _SHORTHANDS.get(spec.strip(), spec.strip())
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"want 5 fields, got {len(fields)}: {spec!r}")
    parsed = [_parse_field(f, lo, hi) for f, (lo, hi) in zip(fields, _BOUNDS, strict=True)]
    weekdays = frozenset(d % 7 for d in parsed[4])
    return Schedule(
        minutes=parsed[0],
        hours=parsed[1],
        days=parsed[2],
        months=parsed[3],
        weekdays=weekdays,
        days_restricted=not fields[2].startswith("*"),
        weekdays_restricted=not fields[4].startswith("*"),
    )
