"""What the Kubernetes side reads from the servers before a backup or a restore, on real mysqld."""

from __future__ import annotations

from pathlib import Path

import pytest

from moco.backup.backup import BackupRequest, run_backup
from moco.backup.bucket import Bucket
from moco.backup.errors import BackupError
from moco.backup.kubeside import clone_settings
from moco.backup.restore import RestoreRequest, run_restore
from moco.backup.scratch import Tools
from moco.mysql.conn import connect
from unit_tests.backup.test_backup_restore_mysql import _writable, insert, rows
from unit_tests.fixtures.mysqld import MysqldFactory

pytestmark = pytest.mark.mysql

#: what moco's my.cnf sets (MySQL's default collation is utf8mb4_0900_ai_ci)
MOCO_CHARSET = ("--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci")


async def test_the_scratch_servers_clone_with_instances_of_mocos_collation(
    mysqld_factory: MysqldFactory, backup_tools: Tools, local_bucket: Bucket, tmp_path: Path
) -> None:
    src, target = await mysqld_factory(2, extra_args=MOCO_CHARSET)
    await _writable(src)
    async with await connect(src.endpoint()) as c:
        await c.execute("CREATE DATABASE app")
        await c.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(32))")
    await insert(src.endpoint(), range(10))
    # a scratch server with MySQL's defaults cannot take the copy (seen in the cluster: 3868)
    with pytest.raises(BackupError, match="collation_server"):
        await run_backup(
            BackupRequest("ns", "s", src.endpoint(), tmp_path / "w0"), local_bucket, backup_tools
        )

    settings = await clone_settings(src.endpoint())
    assert settings == MOCO_CHARSET
    r = await run_backup(
        BackupRequest("ns", "s", src.endpoint(), tmp_path / "w", scratch_args=settings),
        local_bucket,
        backup_tools,
    )
    req = RestoreRequest(
        "ns",
        "s",
        r.time,  # a later point needs the binlogs of a later backup or the archive
        target.endpoint(),
        tmp_path / "r",
        scratch_args=await clone_settings(target.endpoint()),
    )
    await run_restore(req, local_bucket, backup_tools)
    assert await rows(target.endpoint()) == list(range(10))
