"""Which instance a backup copies from, and whether the binlogs since the last backup are whole.

MOCO's rules (pure): the first backup takes any ready replica (the primary when there is none,
or a single instance). Later backups keep to instances whose ``server_uuid`` is the one
recorded by the last backup (``status.backup.uuidSet``): an instance re-created since then
(a new data directory) may not hold the binlogs since the last backup. The last source is kept
when it is still such a replica; otherwise another such replica, else the primary. When no
instance kept its uuid, the binlogs since the last backup cannot be trusted to be complete:
the backup is taken from the primary and the binlog upload is skipped with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

WARN_BINLOG_GAP: Final = "skip binlog backups because some binlog files may be missing"


@dataclass(frozen=True)
class LastBackup:
    """What ``status.backup`` says of the previous backup."""

    source_index: int
    uuid_set: Mapping[str, str]
    binlog_filename: str
    gtid_set: str


@dataclass(frozen=True)
class Choice:
    """The source instance, whether to skip the binlog upload, and why (warnings)."""

    index: int
    skip_binlog: bool
    warnings: tuple[str, ...] = field(default=())


def unchanged_indexes(current: Mapping[str, str], last: Mapping[str, str]) -> list[int]:
    """Indexes whose server_uuid is the same now as at the last backup."""
    out = []
    for k, uuid in current.items():
        if last.get(k) == uuid and k.isdigit():
            out.append(int(k))
    return sorted(out)


def choose_source(
    ready: Sequence[bool],
    primary: int,
    uuid_set: Mapping[str, str],
    last: LastBackup | None,
) -> Choice:
    """The instance to copy (``ready[i]``: Pod i is ready; ``uuid_set``: uuids of ready instances)."""
    n = len(ready)
    if last is None:
        if n == 1:
            return Choice(0, skip_binlog=True)
        for i in range(n):
            if i != primary and ready[i]:
                return Choice(i, skip_binlog=True)
        return Choice(primary, skip_binlog=True)
    candidates = unchanged_indexes(uuid_set, last.uuid_set)
    if not candidates:
        return Choice(primary, skip_binlog=True, warnings=(WARN_BINLOG_GAP,))
    if last.source_index in candidates and last.source_index != primary:
        return Choice(last.source_index, skip_binlog=False)
    for i in candidates:
        if i != primary:
            return Choice(i, skip_binlog=False)
    return Choice(primary, skip_binlog=False)


__all__ = ["WARN_BINLOG_GAP", "Choice", "LastBackup", "choose_source", "unchanged_indexes"]
