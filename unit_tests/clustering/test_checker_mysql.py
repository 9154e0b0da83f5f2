"""The write checker itself detects lost writes and split brain (mysql tier)."""

from __future__ import annotations

import asyncio

import pytest

from moco.mysql import ops
from moco.mysql.conn import Endpoint, connect
from moco.testing.checker import WriteChecker

from ..fixtures.clustering import ClusterFactory

pytestmark = pytest.mark.mysql


async def test_checker_detects_loss_and_split_brain(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(2, start=False)
    for i in range(2):
        async with await connect(cg.admin(i)) as c:
            await ops.set_writable(c)
    target = [0]

    def primary() -> Endpoint:
        return cg.app_endpoint(target[0])

    chk = WriteChecker(primary=primary, instances=lambda: [cg.admin(0), cg.admin(1)])
    for i in (1, 0):
        target[0] = i
        await chk.setup()
    chk.start()
    await asyncio.sleep(0.3)
    target[0] = 1
    await asyncio.sleep(0.3)
    target[0] = 0
    await asyncio.sleep(0.3)
    await chk.stop()
    rep = await chk.verify(cg.admin(1))
    assert chk.samples > 3
    assert rep.split_brain, "both instances were writable"
    assert rep.missing, "rows written on instance 0 are not on instance 1"
    assert not rep.ok
    assert len(chk.gaps()) == 2
