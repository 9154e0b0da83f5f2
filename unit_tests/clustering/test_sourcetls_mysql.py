"""The clustering loop over instances that serve a certificate of the cluster's CA (mysql tier):
replicas verify their source's certificate chain (by Pod IP, the name not checked: no DNS on
the failover path), the operator's own connections are TLS verified for the instance's name, a
replica set up unverified (before a rollout finished) or checking the name (as moco did before)
is pointed again, and a switchover moves the verified replication to the new primary."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from moco import constants
from moco.clustering.memory import LoopHarness, bootstrap_users
from moco.mysql import ops
from moco.mysql.conn import Connection, Endpoint, ServerTrust, connect
from moco.testing import mysqltls
from moco.testing.mysqld import Mysqld, MysqldGround

from ..fixtures.clustering import CREDS, FAST, STOP_BOUND_S

pytestmark = pytest.mark.mysql


@dataclass
class TLSCluster:
    ms: list[Mysqld]
    h: LoopHarness
    ca_file: str

    def admin(self, i: int) -> Endpoint:
        return self.ms[i].admin_endpoint()


@pytest.fixture
async def tls_cluster(mysqld_ground: MysqldGround, tmp_path: Path) -> AsyncIterator[TLSCluster]:
    ca = mysqltls.new_ca()
    directory = tmp_path / "tls"
    mysqltls.mount(directory, mysqltls.leaf(ca), ca.cert_pem)
    ms = [
        mysqld_ground.new_instance(extra_args=[f"--server-id={1 + i}", *mysqltls.mysqld_args(directory)])
        for i in range(3)
    ]
    await asyncio.gather(*(m.wait_ready(60) for m in ms))
    await asyncio.gather(*(bootstrap_users(m.admin_endpoint(), CREDS) for m in ms))
    creds = replace(CREDS, trust=ServerTrust(ca.cert_pem))
    h = LoopHarness("tls", ms, creds, FAST, tls_ca_file=mysqltls.ca_file(directory))
    h.start()
    try:
        yield TLSCluster(ms, h, mysqltls.ca_file(directory))
    finally:
        async with asyncio.timeout(STOP_BOUND_S):
            await h.stop()
        for m in ms:
            await asyncio.to_thread(mysqld_ground.discard, m)


async def _replication(ep: Endpoint) -> dict[str, object]:
    async with await connect(ep) as c:
        row = await c.query_one(
            "SELECT c.HOST, c.PORT, c.SSL_ALLOWED, c.SSL_CA_FILE, c.SSL_VERIFY_SERVER_CERTIFICATE,"
            " s.SERVICE_STATE FROM performance_schema.replication_connection_configuration c"
            " JOIN performance_schema.replication_connection_status s USING (CHANNEL_NAME)"
            " WHERE CHANNEL_NAME = ''"
        )
    return {} if row is None else dict(row)


async def _admin_sessions_tls(c: Connection) -> list[str]:
    """The TLS version of every moco-admin session on the server but ours ('' = in clear)."""
    rows = await c.query(
        "SELECT IFNULL(sbt.VARIABLE_VALUE, '') AS v FROM performance_schema.threads t"
        " LEFT JOIN performance_schema.status_by_thread sbt"
        "   ON sbt.THREAD_ID = t.THREAD_ID AND sbt.VARIABLE_NAME = 'Ssl_version'"
        " WHERE t.PROCESSLIST_USER = %s AND t.PROCESSLIST_ID <> CONNECTION_ID()",
        (constants.ADMIN_USER,),
    )
    return [str(r["v"]) for r in rows]


async def _verified_from(cl: TLSCluster, i: int, primary: int) -> bool:
    r = await _replication(cl.admin(i))
    return r == {
        "HOST": cl.ms[primary].host,
        "PORT": cl.ms[primary].port,
        "SSL_ALLOWED": "YES",
        "SSL_CA_FILE": cl.ca_file,
        "SSL_VERIFY_SERVER_CERTIFICATE": "NO",  # the chain is (SSL_CA_FILE), not the name
        "SERVICE_STATE": "ON",
    }


async def _eventually_verified(cl: TLSCluster, primary: int, within: float = 20.0) -> None:
    replicas = [i for i in range(3) if i != primary]
    for _ in range(int(within * 10)):
        if all([await _verified_from(cl, i, primary) for i in replicas]):
            return
        await asyncio.sleep(0.1)
    states = {i: await _replication(cl.admin(i)) for i in replicas}
    raise AssertionError(f"replicas do not verify primary {primary}: {states}")


async def _point_by_hand(cl: TLSCluster, replica: int, primary: int, *, verify_ca: str | None = None) -> None:
    """Set ``replica`` up to follow ``primary`` as an earlier moco did (not as the loop does now)."""
    async with await connect(cl.admin(replica)) as c:
        await ops.change_source(
            c,
            host=cl.ms[primary].host,
            port=cl.ms[primary].port,
            user=constants.REPLICATION_USER,
            password=CREDS.replication,
            verify_ca=verify_ca,
        )
        await ops.start_replica(c)


async def test_replicas_and_the_operator_verify_the_instances(tls_cluster: TLSCluster) -> None:
    cl = tls_cluster
    await cl.h.wait_healthy(60)
    await _eventually_verified(cl, cl.h.primary)
    # the operator's sessions (the watch keeps one open on the primary) are TLS, none in clear
    async with await connect(cl.admin(cl.h.primary)) as c:
        for _ in range(50):
            versions = await _admin_sessions_tls(c)
            if versions:
                break
            await asyncio.sleep(0.1)
        assert versions, "no session of the operator seen on the primary"
        assert all(v.startswith("TLSv1.") for v in versions), versions


async def test_an_unverified_replica_is_pointed_again_and_a_switchover_keeps_verifying(
    tls_cluster: TLSCluster,
) -> None:
    cl = tls_cluster
    await cl.h.wait_healthy(60)
    primary = cl.h.primary
    replica = next(i for i in range(3) if i != primary)
    # as a moco before version 3 set it up: encrypted, unverified
    await _point_by_hand(cl, replica, primary)
    assert not await _verified_from(cl, replica, primary)
    cl.h.proc.wake("test")
    await _eventually_verified(cl, primary)
    # as moco set it up before the replicas named their source by IP: the name checked too
    await _point_by_hand(cl, replica, primary, verify_ca=cl.ca_file)
    assert not await _verified_from(cl, replica, primary)
    cl.h.proc.wake("test")
    await _eventually_verified(cl, primary)

    cl.h.kube.set_pod(primary, demote=True)
    cl.h.proc.wake("demote")
    await cl.h.wait_for(lambda: cl.h.primary != primary, 30, "switchover")
    await cl.h.wait_healthy(60)
    await _eventually_verified(cl, cl.h.primary)
