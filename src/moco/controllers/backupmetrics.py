"""MOCO's ``moco_backup_*`` metrics, from ``status.backup`` of each MySQLCluster.

The backup Job writes ``status.backup`` when a backup succeeds; every reconcile of the cluster
(a status change is an update of the watched object) copies it into six gauges labelled
``name`` and ``namespace``, as MOCO's clustering loop does on each pass:

========================================  =============================================
``moco_backup_timestamp``                 time of the last successful backup (Unix s)
``moco_backup_elapsed_seconds``           how long it took
``moco_backup_dump_bytes``                size of the compressed full backup
``moco_backup_binlog_bytes``              size of the compressed binlogs
``moco_backup_workdir_usage_bytes``       largest use of the Job's working directory
``moco_backup_warnings``                  warnings of the last backup
========================================  =============================================

A cluster without a backup exports none; a deleted cluster's series are removed. They are families of
:mod:`moco.kube.exposition`, served by the manager at ``/metrics``.
"""

from __future__ import annotations

import datetime
import re
from typing import Final

from moco.api import MySQLCluster
from moco.kube.exposition import Gauge

_LABELS: Final = ("name", "namespace")
TIMESTAMP: Final = Gauge("moco_backup_timestamp", "The timestamp of the last successful backup", _LABELS)
ELAPSED: Final = Gauge("moco_backup_elapsed_seconds", "The time taken for the backup", _LABELS)
DUMP: Final = Gauge("moco_backup_dump_bytes", "The size of compressed full backup data", _LABELS)
BINLOG: Final = Gauge("moco_backup_binlog_bytes", "The size of compressed binlog files", _LABELS)
WORKDIR: Final = Gauge(
    "moco_backup_workdir_usage_bytes", "The maximum usage of the working directory", _LABELS
)
WARNINGS: Final = Gauge(
    "moco_backup_warnings", "The number of warnings in the last successful backup", _LABELS
)
_ALL: Final = (TIMESTAMP, ELAPSED, DUMP, BINLOG, WORKDIR, WARNINGS)

_UNITS: Final = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def go_duration_seconds(text: str) -> float:
    """Seconds of a Go duration string (``1h2m3.5s``, ``250ms``, ``0s``); ValueError if not one."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if s == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"not a duration: {text!r}")
    return sign * total


def rfc3339_seconds(text: str) -> float:
    """Unix seconds of an RFC 3339 time (``Z`` or an offset)."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    parsed = datetime.datetime.fromisoformat(t)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def observe(cluster: MySQLCluster) -> None:
    """Set the gauges from ``status.backup`` (nothing when the cluster has no backup yet)."""
    b = cluster.status.backup if cluster.status is not None else None
    if b is None or not b.time:
        return
    labels = (cluster.name, cluster.namespace)
    try:
        TIMESTAMP.labels(*labels).set(rfc3339_seconds(b.time))
        ELAPSED.labels(*labels).set(go_duration_seconds(b.elapsed or "0s"))
    except ValueError:
        return  # a status written by hand; the sizes below are still told
    finally:
        DUMP.labels(*labels).set(b.dump_size)
        BINLOG.labels(*labels).set(b.binlog_size)
        WORKDIR.labels(*labels).set(b.work_dir_usage)
        WARNINGS.labels(*labels).set(len(b.warnings or []))


def forget(namespace: str, name: str) -> None:
    """Remove the series of a cluster that is gone."""
    for g in _ALL:
        try:
            g.remove(name, namespace)
        except KeyError:
            pass
