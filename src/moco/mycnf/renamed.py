"""Options of older MySQL that MySQL 8.4/9.x removed, translated where the meaning is unambiguous.

Manifests written for MOCO (its own e2e data among them) set ``innodb_log_file_size``, which
MySQL 9 no longer knows: mysqld aborts with "unknown variable" and the Pod crash-loops. Where a
removed option has an exact replacement, the user's value is rewritten to it before my.cnf is
rendered, and the rewrite is reported (:meth:`Translation.message`) so the user can update the
ConfigMap. Anything else unknown is left as written, for the config validation to refuse.

The table (checked with ``mysqld --validate-config`` of MySQL 9.7):

* ``innodb_log_file_size`` x ``innodb_log_files_in_group`` (default 2, as MySQL 8.0 had it) ->
  ``innodb_redo_log_capacity``, the redo log's total size, which is what the pair meant;
* ``expire_logs_days`` -> ``binlog_expire_logs_seconds`` (days x 86400).

When the replacement is set too, MySQL 8.0 already ignored the old option; it is dropped. A
``loose_`` prefixed old option is left alone: mysqld skips it silently. A value that is not a
size or number is left alone too (the validation reports it).

Pure functions; keys are compared after :func:`moco.mycnf.generate.normalize_key`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

_SIZE: Final = re.compile(r"^\s*([0-9]+)\s*([kKmMgGtTpPeE]?)\s*$")
_MULTIPLIER: Final = {
    "": 1,
    "K": 1 << 10,
    "M": 1 << 20,
    "G": 1 << 30,
    "T": 1 << 40,
    "P": 1 << 50,
    "E": 1 << 60,
}

LOG_FILE_SIZE: Final = "innodb_log_file_size"
LOG_FILES_IN_GROUP: Final = "innodb_log_files_in_group"
REDO_LOG_CAPACITY: Final = "innodb_redo_log_capacity"
EXPIRE_LOGS_DAYS: Final = "expire_logs_days"
BINLOG_EXPIRE_SECONDS: Final = "binlog_expire_logs_seconds"
#: MySQL 8.0's default number of redo log files.
DEFAULT_LOG_FILES_IN_GROUP: Final = 2


@dataclass(frozen=True)
class Translation:
    """The user's ``removed`` options (name -> value) became ``replacement = value`` (or were
    dropped, ``replacement`` empty, because the user set the replacement already)."""

    removed: tuple[tuple[str, str], ...]
    replacement: str
    value: str

    def message(self) -> str:
        old = ", ".join(f"{k}={v}" for k, v in self.removed)
        if not self.replacement:
            return f"{old}: removed from MySQL and ignored (its replacement is set)"
        return f"{old}: removed from MySQL, written as {self.replacement}={self.value}"


def parse_size(text: str) -> int | None:
    """A my.cnf size (``10M``, ``1G``, ``512``) in bytes, or None when it is not one."""
    m = _SIZE.match(text)
    if m is None:
        return None
    return int(m.group(1)) * _MULTIPLIER[m.group(2).upper()]


def _norm(key: str) -> str:
    return key.strip().replace("-", "_")


def translate(user: Mapping[str, str]) -> tuple[dict[str, str], tuple[Translation, ...]]:
    """(the user's options with removed ones rewritten, what was rewritten)."""
    out = dict(user)
    keys = {_norm(k): k for k in user}
    done: list[Translation] = []

    if LOG_FILE_SIZE in keys or LOG_FILES_IN_GROUP in keys:
        size_key, files_key = keys.get(LOG_FILE_SIZE), keys.get(LOG_FILES_IN_GROUP)
        size = parse_size(user[size_key]) if size_key else None
        files = parse_size(user[files_key]) if files_key else DEFAULT_LOG_FILES_IN_GROUP
        removed = tuple((_norm(k), user[k]) for k in (size_key, files_key) if k)
        if REDO_LOG_CAPACITY in keys:
            done.append(Translation(removed, "", ""))
            for k in (size_key, files_key):
                if k:
                    out.pop(k)
        elif size is not None and files:
            done.append(Translation(removed, REDO_LOG_CAPACITY, str(size * files)))
            for k in (size_key, files_key):
                if k:
                    out.pop(k)
            out[REDO_LOG_CAPACITY] = str(size * files)

    if (days_key := keys.get(EXPIRE_LOGS_DAYS)) is not None:
        days = int(user[days_key]) if user[days_key].strip().isdigit() else None
        removed = ((EXPIRE_LOGS_DAYS, user[days_key]),)
        if BINLOG_EXPIRE_SECONDS in keys:
            done.append(Translation(removed, "", ""))
            out.pop(days_key)
        elif days is not None:
            done.append(Translation(removed, BINLOG_EXPIRE_SECONDS, str(days * 86400)))
            out.pop(days_key)
            out[BINLOG_EXPIRE_SECONDS] = str(days * 86400)
    return out, tuple(done)
