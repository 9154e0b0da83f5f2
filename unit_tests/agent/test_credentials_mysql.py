"""The agent's connections follow a rotation of the mounted passwords on real mysqld 9.7: after
the old password is discarded, a new connection authenticates with the file's new one."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from moco import constants
from moco.agent.config import AgentConfig
from moco.agent.credentials import MountedPasswords
from moco.agent.probes import LocalDB, alive
from moco.controllers.secrets import mycnf_text
from moco.mysql import dualpassword as dp
from moco.mysql import ops
from moco.mysql.conn import connect
from unit_tests.agent.test_credentials import ENV, publish
from unit_tests.fixtures.mysqld import MysqldFactory

pytestmark = pytest.mark.mysql

AGENT = constants.AGENT_USER


async def test_local_db_reconnects_with_the_rotated_password(
    mysqld_factory: MysqldFactory, tmp_path: Path
) -> None:
    (m,) = await mysqld_factory(1)
    key = constants.mycnf_key(AGENT)
    publish(tmp_path, {key: mycnf_text(AGENT, "old-agent")}, 1)
    async with await connect(m.endpoint()) as admin:
        await ops.set_writable(admin)
        await admin.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (AGENT, "old-agent"))
        await admin.execute("GRANT SELECT ON *.* TO %s@'%%'", (AGENT,))
    cfg = AgentConfig(
        pod_name="moco-db-0",
        cluster_name="db",
        namespace="ns",
        token="t",
        passwords=MountedPasswords(tmp_path, ENV),
        mysqld_host=m.host,
        mysqld_port=m.port,
    )
    db = LocalDB(functools.partial(cfg.endpoint, AGENT))
    try:
        assert await alive(await db.get())
        async with await connect(m.endpoint()) as admin:
            async with dp.writes_allowed(admin):
                await dp.retain_current_password(admin, AGENT, "new-agent")
            publish(tmp_path, {key: mycnf_text(AGENT, "new-agent")}, 2)
            async with dp.writes_allowed(admin):
                await dp.discard_old_password(admin, AGENT)
        await db.reset()  # a lost connection: the next one authenticates again
        assert await alive(await db.get())
        assert (await db.get()).endpoint.password == "new-agent"
    finally:
        await db.close()
