"""Pure parts of the Kubernetes side: Pod order, status.backup, durations, passwords, CLI flags."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from moco import constants
from moco.api import BackupStatus
from moco.backup.backup import BackupResult
from moco.backup.choose import Choice
from moco.backup.errors import BackupError
from moco.backup.kubeside import backup_status, go_duration, last_backup, order_pods, passwords_from
from moco.backup.restore import accounts_to_drop, parse_users
from moco.cli.backup import parse_args, work_env


def pod(name: str, ready: bool = True) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "status": {"podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": str(ready)}]},
    }


def test_pods_are_ordered_by_index_and_all_needed() -> None:
    ps = [pod("moco-c-2"), pod("moco-c-0"), pod("moco-c-1")]
    assert [p["metadata"]["name"] for p in order_pods(ps, 3, "ns/c")] == ["moco-c-0", "moco-c-1", "moco-c-2"]  # type: ignore[index]
    with pytest.raises(BackupError, match="too few Pods"):
        order_pods(ps[:2], 3, "ns/c")
    with pytest.raises(BackupError, match="bad pod name"):
        order_pods([pod("moco-c-5")], 1, "ns/c")


def test_go_durations() -> None:
    assert go_duration(0.25) == "250ms"
    assert go_duration(12.5) == "12.5s"
    assert go_duration(72.0) == "1m12s"
    assert go_duration(3723.25) == "1h2m3.25s"


def test_status_backup_round_trip() -> None:
    res = BackupResult(
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        elapsed=3.5,
        source_uuid="u1",
        binlog_filename="binlog.000003",
        gtid_set="u0:1-10",
        dump_size=100,
        binlog_size=10,
        work_dir_usage=1000,
        warnings=["failed to backup binary logs: x"],
    )
    st = backup_status(res, Choice(1, False, ("w",)), {"0": "u0", "1": "u1"})
    assert st["time"] == "2026-01-02T03:04:05Z"
    assert st["warnings"] == ["w", "failed to backup binary logs: x"]
    # the API's model (the CRD's schema) takes it as it is, every field by MOCO's name
    model = BackupStatus.model_validate(st)
    assert model.model_dump(by_alias=True, exclude_none=False) == st
    lb, t = last_backup({"backup": st})
    assert t == res.time
    assert lb is not None
    assert (lb.source_index, lb.binlog_filename, lb.gtid_set) == (1, "binlog.000003", "u0:1-10")
    assert last_backup({"backup": {"time": None}}) == (None, None)


def test_target_passwords_env_first_then_secret() -> None:
    secret = {
        "data": {"AGENT_PASSWORD": base64.b64encode(b"from-secret").decode(), "REPLICATION_PASSWORD": "eA=="}
    }
    pw = passwords_from({"AGENT_PASSWORD": "from-env"}, secret, "admin-pw")
    assert pw[constants.AGENT_USER] == "from-env"
    assert pw[constants.REPLICATION_USER] == "x"
    assert pw[constants.ADMIN_USER] == "admin-pw"
    assert constants.EXPORTER_USER not in pw


def test_users_filter_spares_moco_and_mysql_accounts() -> None:
    accounts = [
        ("app", "%"),
        ("other", "%"),
        ("moco-agent", "%"),
        ("root", "localhost"),
        ("mysql.sys", "localhost"),
    ]
    assert accounts_to_drop(accounts, ()) == []
    assert accounts_to_drop(accounts, ("app",)) == [("other", "%")]
    assert parse_users(" app, other ,,") == ("app", "other")


def test_flags_before_or_after_the_subcommand() -> None:
    ns = parse_args(["--threads=3", "backup", "--use-path-style", "--ca-cert-file-path=/ca", "b", "ns", "n"])
    assert (ns.threads, ns.use_path_style, ns.ca_cert, ns.work_dir) == (3, True, "/ca", "/work")
    ns = parse_args(
        [
            "restore",
            "--backend-type=gcs",
            "--use-path-style=false",
            "b",
            "sns",
            "sn",
            "ns",
            "n",
            "20260101-000000",
            "",
            "",
        ]
    )
    assert (ns.backend_type, ns.use_path_style, ns.schema, ns.users) == ("gcs", False, "", "")
    ns = parse_args(["backup", "--use-path-style", "b", "ns", "n"])
    assert (ns.use_path_style, ns.bucket) == (True, "b")
    ns = parse_args(["--use-path-style=true", "backup", "b", "ns", "n"])
    assert ns.use_path_style is True
    ns = parse_args(["--ca-cert", "/x", "backup", "b", "ns", "n"])
    assert ns.ca_cert == "/x"
    ns = parse_args(["archive", "--interval=2", "--endpoint=http://s3", "b", "ns", "n"])
    assert (ns.command, ns.interval, ns.endpoint, ns.name) == ("archive", 2.0, "http://s3", "n")


def test_the_programs_files_go_to_the_work_dir() -> None:
    # the Jobs' root file system is read-only: mysqld --initialize failed on /tmp (errno 30)
    env = {"PATH": "/usr/bin"}
    work_env(env, "/work")
    assert env == {"PATH": "/usr/bin", "HOME": "/work", "TMPDIR": "/work"}
    mine = {"TMPDIR": "/scratch", "HOME": "/root"}
    work_env(mine, "/work")
    assert mine == {"TMPDIR": "/scratch", "HOME": "/work"}  # a TMPDIR the Pod sets is kept
