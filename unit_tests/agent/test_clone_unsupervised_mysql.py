"""Clone into a mysqld that no supervisor restarts, as in every real Pod.

In a Pod mysqld is the container's main process: ``CLONE INSTANCE`` cannot restart it, answers
error 3707 ("Restart server failed") and shuts mysqld down; kubelet then restarts the container.
Here the recipient runs unsupervised (:class:`moco.testing.mysqld.Mysqld` with
``supervised=False``) and :class:`Kubelet` plays kubelet: it starts mysqld again when it exits.
The clone must count as done, and the agent must initialise the restarted instance.
"""

from __future__ import annotations

import asyncio

import pytest

from moco import constants
from moco.agent.server import Agent
from moco.agentapi import CloneRequest
from moco.mysql import ops
from moco.mysql.conn import connect
from moco.testing.mysqld import Kubelet
from unit_tests.agent.test_agent_mysql import (
    PASSWORDS,
    MysqldFactory,
    config_for,
    ep,
    external_source,
    init_instance,
    snapshot,
)

pytestmark = pytest.mark.mysql


def agent_request(
    host: str, port: int, user: str, password: str, init_user: str, init_password: str
) -> CloneRequest:
    return CloneRequest(
        donor_host=host,
        donor_port=port,
        user=user,
        password=password,
        init_user=init_user,
        init_password=init_password,
        boot_timeout_s=120,
    )


async def test_agent_clone_from_external_source_into_unsupervised_mysqld(
    mysqld_factory: MysqldFactory,
) -> None:
    """The intermediate primary's clone: error 3707, restart by "kubelet", moco's users created."""
    (source,) = await mysqld_factory(1)
    (recipient,) = await mysqld_factory(1, supervised=False)
    await init_instance(recipient)
    source_gtids = await external_source(source)
    agent = Agent(config_for(recipient))
    try:
        async with Kubelet(recipient) as kubelet:
            await agent.cloner.start(
                agent_request(
                    source.host, source.port, "ext-clone", "ext-clone-pw", "ext-init", "ext-init-pw"
                )
            )
            progress = await asyncio.wait_for(agent.cloner.wait(), 180)
            assert progress.state == "succeeded", progress.error
            assert kubelet.restarts == 1
        gtids, users, _, sro = await snapshot(recipient)
        assert gtids == source_gtids
        assert sro
        names = {(u, h) for u, h, _ in users}
        assert {(u, "%") for u in constants.ALL_USERS} <= names
        async with await connect(ep(recipient, constants.AGENT_USER)) as c:
            assert await c.query_one("SELECT COUNT(*) AS n FROM ext.t") == {"n": 3}
    finally:
        await agent.close()


async def test_agent_clone_from_primary_into_unsupervised_mysqld(mysqld_factory: MysqldFactory) -> None:
    """A new replica's clone from moco's primary: error 3707, restart by "kubelet", data there."""
    (donor,) = await mysqld_factory(1)
    (recipient,) = await mysqld_factory(1, supervised=False)
    for m in (donor, recipient):
        await init_instance(m)
    async with await connect(ep(donor, constants.ADMIN_USER)) as c:
        await ops.set_writable(c)
        await c.execute("CREATE DATABASE app")
        await c.execute("CREATE TABLE app.t (id INT PRIMARY KEY)")
        await c.execute("INSERT INTO app.t VALUES (1), (2)")
    agent = Agent(config_for(recipient))
    try:
        async with Kubelet(recipient) as kubelet:
            await agent.cloner.start(
                agent_request(
                    donor.host,
                    donor.port,
                    constants.CLONE_DONOR_USER,
                    PASSWORDS[constants.CLONE_DONOR_USER],
                    constants.ADMIN_USER,
                    PASSWORDS[constants.ADMIN_USER],
                )
            )
            progress = await asyncio.wait_for(agent.cloner.wait(), 180)
            assert progress.state == "succeeded", progress.error
            assert kubelet.restarts == 1
        async with await connect(ep(recipient, constants.AGENT_USER)) as c:
            assert await c.query_one("SELECT COUNT(*) AS n FROM app.t") == {"n": 2}
            st = await c.query_one("SELECT STATE FROM performance_schema.clone_status")
            assert st == {"STATE": "Completed"}
    finally:
        await agent.close()
