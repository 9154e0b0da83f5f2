"""Options MySQL removed, rewritten to their replacements (MOCO's e2e manifests set one)."""

from __future__ import annotations

import pytest

from moco import mycnf
from moco.mycnf.renamed import parse_size, translate


def _mysqld(conf: str) -> dict[str, str]:
    out: dict[str, str] = {}
    section = ""
    for line in conf.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "mysqld" and " = " in line:
            k, v = line.split(" = ", 1)
            out[k] = v
    return out


def test_moco_single_yaml_log_file_size_becomes_redo_log_capacity() -> None:
    """MOCO's single.yaml: ``innodb_log_file_size: 10M`` (two files in MySQL 8.0) -> 20 MiB of redo."""
    conf = _mysqld(mycnf.generate({"long_query_time": "0", "innodb_log_file_size": "10M"}, None))
    assert "innodb_log_file_size" not in conf
    assert conf["innodb_redo_log_capacity"] == str(20 << 20)
    _, done = translate({"innodb_log_file_size": "10M"})
    assert [t.message() for t in done] == [
        "innodb_log_file_size=10M: removed from MySQL, written as innodb_redo_log_capacity=20971520"
    ]


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (
            {"innodb-log-file-size": "1G", "innodb_log_files_in_group": "3"},
            {"innodb_redo_log_capacity": str(3 << 30)},
        ),
        (
            {"innodb_log_files_in_group": "4"},
            {"innodb_log_files_in_group": "4"},
        ),  # no size: left for validation
        ({"innodb_log_file_size": "big"}, {"innodb_log_file_size": "big"}),
        (
            {"innodb_log_file_size": "10M", "innodb_redo_log_capacity": "1G"},
            {"innodb_redo_log_capacity": "1G"},
        ),
        ({"expire_logs_days": "7"}, {"binlog_expire_logs_seconds": str(7 * 86400)}),
        ({"expire_logs_days": "7", "binlog_expire_logs_seconds": "60"}, {"binlog_expire_logs_seconds": "60"}),
        ({"loose_innodb_log_file_size": "10M"}, {"loose_innodb_log_file_size": "10M"}),
        ({"max_connections": "10"}, {"max_connections": "10"}),
    ],
)
def test_translate(user: dict[str, str], expected: dict[str, str]) -> None:
    assert translate(user)[0] == expected


def test_nothing_to_report_when_nothing_was_removed() -> None:
    assert translate({"max_connections": "10"})[1] == ()


@pytest.mark.parametrize(("text", "size"), [("10M", 10 << 20), ("1g", 1 << 30), ("512", 512), ("x", None)])
def test_parse_size(text: str, size: int | None) -> None:
    assert parse_size(text) == size
