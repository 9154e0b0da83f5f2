"""Bucket layout and the choice of the backup that serves a restore point (MOCO's rules)."""

from __future__ import annotations

from datetime import UTC, datetime

from moco.backup.layout import cluster_prefix, find_nearest, format_time, object_key, parse_time, sort_binlogs


def t(s: str) -> datetime:
    return parse_time(s)


KEYS = [
    "moco/ns/c/20260101-000000/clone.json",
    "moco/ns/c/20260101-000000/binlog.tar.zst",
    "moco/ns/c/20260101-010000/clone.json",
    "moco/ns/c/20260101-010000/binlog.tar.zst",
    "moco/ns/c/20260101-020000/clone.json",
    "moco/ns/c/garbage/clone.json",
    "moco/ns/c/20260101-003000/other.txt",
    # an unfinished backup: parts without a manifest
    "moco/ns/c/20260101-023000/clone.0.tar.zst",
]


def test_keys_follow_mocos_layout() -> None:
    when = datetime(2026, 5, 23, 15, 4, 23, tzinfo=UTC)
    assert object_key("ns", "c", "clone.json", when) == "moco/ns/c/20260523-150423/clone.json"
    assert cluster_prefix("ns", "c") == "moco/ns/c/"
    assert format_time(parse_time("20260523-150423")) == "20260523-150423"


def test_nearest_copy_and_its_following_binlogs() -> None:
    n = find_nearest(KEYS, t("20260101-013000"))
    assert n is not None
    assert n.clone_key == "moco/ns/c/20260101-010000/clone.json"
    assert n.binlog_key == "moco/ns/c/20260101-010000/binlog.tar.zst"
    assert n.time == t("20260101-010000")


def test_restore_point_exactly_at_a_backup() -> None:
    n = find_nearest(KEYS, t("20260101-040000"))
    assert n is not None
    assert n.clone_key.endswith("20260101-020000/clone.json")
    assert n.binlog_key == ""


def test_no_backup_before_the_point() -> None:
    assert find_nearest(KEYS, t("20251231-235959")) is None
    assert find_nearest([], t("20260101-000000")) is None


def test_binlogs_sort_by_number() -> None:
    assert sort_binlogs(["binlog.000010", "binlog.index", "binlog.000009", "binlog.000100"]) == [
        "binlog.000009",
        "binlog.000010",
        "binlog.000100",
    ]
