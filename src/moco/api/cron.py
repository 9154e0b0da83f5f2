"""The cron syntax MOCO accepts (robfig/cron ``ParseStandard``), as one RE2 regular expression.

MOCO validates ``spec.logRotationSchedule`` and ``BackupPolicy.spec.schedule`` with robfig/cron's
standard parser; without a webhook the same check runs in the apiserver as a CEL ``matches()``.
Accepted:

* five fields ``minute hour day-of-month month day-of-week``; each a comma list of ``*``, ``?``,
  a value or a range ``a-b``, each optionally followed by a step ``/n``; months and weekdays
  also by name (``JAN``..``DEC``, ``SUN``..``SAT``, any case); value ranges per field
  (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6);
* the descriptors ``@yearly @annually @monthly @weekly @daily @midnight @hourly`` and
  ``@every <Go duration>``;
* an optional ``TZ=<zone>`` or ``CRON_TZ=<zone>`` prefix.

Not checked (robfig checks them, a regular expression cannot do it cheaply): a range whose start
is after its end (``5-1``). Such a schedule is accepted here and never fires.

The expression is written for RE2 (what CEL's ``matches`` uses) and Python's ``re`` alike, so
the unit tier tests it without an apiserver.
"""

from __future__ import annotations

import re
from typing import Final

_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"


def _field(value: str) -> str:
    """One cron field: a comma list of ``*``/``?``/value/range, each with an optional step."""
    item = rf"(\*|\?|({value})(-({value}))?)(/[0-9]+)?"
    return rf"{item}(,{item})*"


_MINUTE = _field(r"[0-5]?[0-9]")
_HOUR = _field(r"[01]?[0-9]|2[0-3]")
_DOM = _field(r"0?[1-9]|[12][0-9]|3[01]")
_MONTH = _field(rf"0?[1-9]|1[0-2]|(?i:{_MONTHS})")
_DOW = _field(rf"0?[0-6]|(?i:{_DAYS})")
_DURATION = r"([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+"
_DESCRIPTOR = rf"@(yearly|annually|monthly|weekly|daily|midnight|hourly|every {_DURATION})"

#: The whole expression, anchored.
CRON_REGEX: Final = (
    rf"^((CRON_)?TZ=[^ ]+ +)?"
    rf"({_DESCRIPTOR}|{_MINUTE} +{_HOUR} +{_DOM} +{_MONTH} +{_DOW})$"
)
#: Schedules are short; the bound keeps the CEL cost estimate of ``matches`` small.
MAX_SCHEDULE_LENGTH: Final = 256

_COMPILED = re.compile(CRON_REGEX)


def is_valid(schedule: str) -> bool:
    """True when ``schedule`` is accepted (the same test the CRD runs)."""
    return len(schedule) <= MAX_SCHEDULE_LENGTH and _COMPILED.match(schedule) is not None
