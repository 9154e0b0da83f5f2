"""The log-rotation schedule: every schedule the CRD accepts, read as MOCO's agent reads it.

MOCO's agent parses ``--log-rotation-schedule`` with robfig/cron's standard parser; the CRD
(:mod:`moco.api.cron`) admits the same syntax, so the agent must understand all of it, or a valid
MySQLCluster would crash-loop its sidecar. The five cron fields are evaluated by ``croniter``;
what robfig adds on top is handled here:

* ``@every <Go duration>``: fires every duration (truncated to whole seconds, at least one
  second) counted from the moment asked, as robfig's ``ConstantDelaySchedule``;
* a ``TZ=<zone>`` or ``CRON_TZ=<zone>`` prefix: the fields are read in that zone (default UTC);
* ``?`` in any field means ``*`` (croniter allows it only in the day fields).

A schedule the CRD admits but robfig would refuse (a range whose start is after its end, a step
of zero, a zone name the zone database does not know) or that names no existing day (``0 0 30 2
*``) is not an error here: it parses to a :class:`Schedule` that never fires and says why in
:attr:`Schedule.problem`, so the agent keeps serving and only the time-based rotation is off (the
size-based one still works). :func:`parse` raises :class:`CronError` only for text the CRD
refuses too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

_DESCRIPTORS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_MONTH_NAMES: Final = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES: Final = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTHS: Final = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_DAYS: Final = {d: i for i, d in enumerate(_DAY_NAMES)}

#: Go's duration units (``time.ParseDuration``), in seconds.
_UNITS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # U+00B5 MICRO SIGN
    "μs": 1e-6,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART: Final = re.compile(r"([0-9]+(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
#: Go's longest duration (int64 nanoseconds, about 292 years): robfig refuses longer ones.
_MAX_DURATION_S: Final = (2**63 - 1) / 1e9
_TZ_PREFIX: Final = re.compile(r"^(?:CRON_)?TZ=([^ ]+) +")

#: What :meth:`Schedule.next_after` adds for a schedule that never fires: beyond any real wait.
NEVER: Final = timedelta(days=365 * 1000)


class CronError(ValueError):
    """The schedule is not valid cron text."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; :meth:`next_after` gives the next firing time.

    Exactly one of ``expression`` (five cron fields, for croniter) and ``every`` is set, unless
    ``problem`` says why the schedule never fires.
    """

    spec: str
    expression: str = ""
    every: timedelta | None = None
    zone: tzinfo = UTC
    #: non-empty: the schedule never fires, and this says why
    problem: str = ""

    @property
    def fires(self) -> bool:
        return not self.problem

    def next_after(self, t: datetime) -> datetime:
        """The first firing time strictly after ``t`` (aware; same tzinfo as ``t``).

        A schedule that never fires answers ``t + NEVER``, so a loop waiting for it just waits.
        """
        if self.problem:
            return t + NEVER
        if self.every is not None:
            return t.replace(microsecond=0) + self.every
        local = t.astimezone(self.zone)
        try:
            nxt = croniter(self.expression, local).get_next(datetime)
        except CroniterBadDateError:
            return t + NEVER
        assert isinstance(nxt, datetime)
        return nxt.astimezone(t.tzinfo)


def parse_duration(text: str) -> timedelta:
    """A Go duration (``1h30m``, ``10s``, ``1.5h``) as robfig's ``@every`` uses it: truncated to
    whole seconds, at least one second. Raises :class:`CronError` on malformed text and
    ``OverflowError`` beyond Go's longest duration."""
    pos, seconds = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        seconds += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0 or pos != len(text):
        raise CronError(f"bad duration {text!r}")
    if seconds > _MAX_DURATION_S:
        raise OverflowError(f"duration {text!r} exceeds Go's limit")
    return timedelta(seconds=max(int(seconds), 1))


def _value(text: str, names: dict[str, int]) -> int:
    up = text.upper()
    if up in names:
        return names[up]
    if not text.isdigit():
        raise CronError(f"bad value {text!r}")
    return int(text)


def _normalise_field(text: str, names: dict[str, int]) -> tuple[str, str]:
    """(the field for croniter, a reason it can never fire or "")."""
    items = []
    for item in text.split(","):
        rng, slash, step = item.partition("/")
        if slash and (not step.isdigit() or int(step) == 0):
            return text, f"step {item!r} is not a positive number"
        if rng == "?":
            rng = "*"
        if "-" in rng:
            a, b = rng.split("-", 1)
            if _value(a, names) > _value(b, names):
                return text, f"range {rng!r} starts after its end"
        items.append(rng + slash + step)
    return ",".join(items), ""


def parse(spec: str) -> Schedule:
    """Parse a schedule the CRD admits; raises :class:`CronError` on malformed text."""
    text = spec.strip(" ")
    zone: tzinfo = UTC
    if m := _TZ_PREFIX.match(text):
        text = text[m.end() :]
        try:
            zone = ZoneInfo(m.group(1))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            return Schedule(spec, problem=f"unknown time zone {m.group(1)!r}")
    if text.startswith("@every "):
        try:
            every = parse_duration(text.removeprefix("@every ").strip(" "))
        except OverflowError as e:
            return Schedule(spec, problem=str(e))
        return Schedule(spec, every=every, zone=zone)
    text = _DESCRIPTORS.get(text, text)
    fields = text.split(" ")
    fields = [f for f in fields if f]
    if len(fields) != 5:
        raise CronError(f"want 5 fields or a descriptor, got {spec!r}")
    out = []
    for i, f in enumerate(fields):
        names = _MONTHS if i == 3 else _DAYS if i == 4 else {}
        norm, problem = _normalise_field(f, names)
        if problem:
            return Schedule(spec, problem=problem)
        out.append(norm)
    expression = " ".join(out)
    try:
        croniter(expression, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        return Schedule(spec, expression=expression, zone=zone, problem="no day matches the schedule")
    except (CroniterBadCronError, CroniterError, ValueError, KeyError) as e:
        raise CronError(f"{spec!r}: {e}") from e
    return Schedule(spec, expression=expression, zone=zone)
