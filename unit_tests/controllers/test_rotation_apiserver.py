"""Credential rotation by the controller: real kube-apiserver, real reconciler, real mysqld 9.7.

The MySQLCluster lives in the apiserver; its three instances are launcher mysqld processes (a
source and two replicas) that the rotator reaches through a dialer by ordinal instead of Pod
IPs (no kubelet in this tier). A writer commits to the source during the whole rotation and,
as a client of moco should, reads its password from the user Secret again when it is refused.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import secrets
from dataclasses import replace
from typing import Any

import pytest

from moco import constants
from moco.api import MySQLCluster
from moco.controllers import secrets as sec
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.controllers.rotator import Rotator, RotatorConfig
from moco.kube.client import Client
from moco.kube.resource import EVENTS, NAMESPACES, SECRETS
from moco.mysql import dualpassword as dp
from moco.mysql import ops
from moco.mysql.conn import Connection, Endpoint, connect
from moco.mysql.errors import AccessDenied, MySQLError
from moco.mysql.status import get_status
from moco.testing.envtest import Envtest
from moco.testing.mysqld import Mysqld
from moco.testing.rbac import KINDS, controller_kubeconfig, rbac_docs
from unit_tests.controllers.harness import cluster_manifest, eventually, running_controller
from unit_tests.fixtures.mysqld import MysqldFactory

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(300)]

NAME = "rot"


@pytest.fixture
async def short_ns(kube: Client) -> Any:
    """A namespace with a short name: the ServiceAccount's client certificate names it, and a
    certificate's common name holds at most 64 characters."""
    name = f"rot-{secrets.token_hex(3)}"
    await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    await kube.delete(NAMESPACES, name)


class LauncherDialer:
    """Instance ``i`` is ``instances[i]`` (moco-admin over the client port); an instance of
    ``down_after`` is refused once it was reached that many times."""

    def __init__(self, instances: list[Mysqld]) -> None:
        self.instances = instances
        self.down_after: dict[int, int] = {}
        self.calls: dict[int, int] = {}

    async def __call__(self, cluster: MySQLCluster, index: int, password: str) -> Connection:
        self.calls[index] = self.calls.get(index, 0) + 1
        if index in self.down_after and self.calls[index] > self.down_after[index]:
            raise MySQLError(f"instance {index} is down (test)")
        m = self.instances[index]
        return await connect(Endpoint(m.host, m.port, constants.ADMIN_USER, password), timeout=5)


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


async def accepted(m: Mysqld, user: str, password: str) -> bool:
    try:
        async with await connect(Endpoint(m.host, m.port, user, password), timeout=5) as c:
            await c.query_one("SELECT 1")
    except AccessDenied:
        return False
    return True


async def build_cluster(instances: list[Mysqld], pw: sec.Passwords) -> None:
    """moco's eight users with the controller Secret's passwords on a source and two replicas."""
    src, *replicas = instances
    async with await connect(src.endpoint()) as s:
        await ops.set_writable(s)
        for user in constants.ALL_USERS:
            if user == constants.ADMIN_USER:
                continue
            await s.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, pw.password(user)))
        await s.execute(
            "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO %s@'%%'", (constants.REPLICATION_USER,)
        )
        await s.execute("CREATE DATABASE app")
        await s.execute("CREATE TABLE app.w (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        await s.execute("GRANT INSERT, SELECT ON app.* TO %s@'%%'", (constants.WRITABLE_USER,))
        gtid = (await get_status(s)).gtid_executed
    for r in replicas:
        async with await connect(r.endpoint()) as c:
            await ops.change_source(
                c,
                host=src.host,
                port=src.port,
                user=constants.REPLICATION_USER,
                password=pw.password(constants.REPLICATION_USER),
                tls=False,
            )
            await ops.start_replica(c)
            assert await ops.wait_for_gtid(c, gtid, timeout=30)
            await ops.set_read_only(c)
    # moco-admin last, on every instance (the launcher created it in each datadir alike)
    for m in instances:
        async with await connect(m.endpoint()) as c, dp.writes_allowed(c):
            await c.execute(
                "ALTER USER %s@'%%' IDENTIFIED BY %s",
                (constants.ADMIN_USER, pw.password(constants.ADMIN_USER)),
            )


class Writer:
    """Commits to the source as moco-writable; on a refused login reads the user Secret again."""

    def __init__(self, kube: Client, ns: str, src: Mysqld) -> None:
        self.kube, self.ns, self.src = kube, ns, src
        self.committed = 0
        self.failures: list[str] = []
        self.reread = 0
        self.stop = asyncio.Event()

    async def password(self) -> str:
        secret = await self.kube.get(SECRETS, f"moco-{NAME}", self.ns)
        return decoded(secret)[constants.PASSWORD_KEYS[constants.WRITABLE_USER]]

    async def run(self) -> None:
        password = await self.password()
        while not self.stop.is_set():
            try:  # a new connection for every write: each one authenticates
                async with await connect(
                    Endpoint(self.src.host, self.src.port, constants.WRITABLE_USER, password), timeout=5
                ) as c:
                    await c.execute("INSERT INTO app.w (v) VALUES (%s)", (self.committed,))
                self.committed += 1
            except AccessDenied:
                self.reread += 1
                password = await self.password()
                if self.reread > 3:
                    self.failures.append("refused with the Secret's password")
            except MySQLError as e:
                self.failures.append(type(e).__name__)
            await asyncio.sleep(0.02)


async def rotation_state(kube: Client, ns: str) -> dict[str, Any]:
    obj = await kube.get(MYSQLCLUSTERS, NAME, ns)
    return dict((obj.get("status") or {}).get("systemUserRotation") or {})


async def annotate(kube: Client, ns: str, key: str, value: str) -> None:
    await kube.patch(MYSQLCLUSTERS, NAME, {"metadata": {"annotations": {key: value}}}, ns)


async def test_rotate_and_discard_under_writes(
    apiserver: Envtest, kube: Client, short_ns: str, mysqld_factory: MysqldFactory
) -> None:
    ns = short_ns
    instances = await mysqld_factory(3)
    # as moco-controller's ServiceAccount with the manifests' namespaced RBAC: the rotation needs
    # no permission beyond the role's (the controller Secret is in the same namespace then)
    for doc in rbac_docs("namespaced", ns):
        await kube.create(KINDS[doc["kind"]], doc)
    async with running_controller(controller_kubeconfig(apiserver, ns), ns, watch_namespace=ns) as wiring:
        rotator = wiring.reconciler.rotator
        assert rotator is not None
        dialer = LauncherDialer(instances)
        rotator.dialer = dialer
        rotator.cfg = replace(rotator.cfg, propagation_s=2.0, retry_s=0.5)
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, NAME, replicas=3))
        secret_name = f"mysql-{ns}.{NAME}"
        controller_secret = await eventually(
            lambda: kube.get(SECRETS, secret_name, ns), "controller Secret created"
        )
        old = sec.Passwords.from_secret(controller_secret)
        await build_cluster(instances, old)
        await eventually(lambda: kube.get(SECRETS, f"moco-{NAME}", ns), "user Secret")

        writer = Writer(kube, ns, instances[0])
        task = asyncio.create_task(writer.run())
        try:
            # all or nothing: reached by the start's check, then down: no promotion meanwhile
            dialer.down_after = {2: 1}
            await annotate(kube, ns, constants.ANN_PASSWORD_ROTATE, "r1")
            await eventually(lambda: _retrying(kube, ns), "a Warning while instance 2 is down", within=30)
            st = await rotation_state(kube, ns)
            assert st["phase"] == "Rotating"
            assert not st["rotateApplied"]
            staged = sec.Passwords.from_secret(await kube.get(SECRETS, secret_name, ns))
            assert staged.rotation_keys() == sec.RotationKeys.STAGED
            assert staged.password(constants.ADMIN_USER) == old.password(constants.ADMIN_USER), "not promoted"
            dialer.down_after = {}

            async def rotated() -> bool:
                return (await rotation_state(kube, ns)).get("phase") == "Rotated"

            await eventually(rotated, "Rotated", within=60)
            new = sec.Passwords.from_secret(await kube.get(SECRETS, secret_name, ns))
            assert new.rotation_keys() == sec.RotationKeys.PROMOTED
            assert new.rotation_id == "r1"
            for user in constants.ALL_USERS:
                assert new.password(user) != old.password(user)
                assert new.old_password(user) == old.password(user)
                assert new.password(user) == staged.pending_password(user), "the staged passwords were kept"
            user_secret = decoded(await kube.get(SECRETS, f"moco-{NAME}", ns))
            assert user_secret[constants.PASSWORD_KEYS[constants.READONLY_USER]] == new.password(
                constants.READONLY_USER
            )
            mycnf = decoded(await kube.get(SECRETS, f"moco-my-cnf-{NAME}", ns))
            assert (
                new.password(constants.EXPORTER_USER) in mycnf[constants.mycnf_key(constants.EXPORTER_USER)]
            )
            obj = await kube.get(MYSQLCLUSTERS, NAME, ns)
            assert constants.ANN_PASSWORD_ROTATE not in (obj["metadata"].get("annotations") or {})
            for m in instances:  # the window: both work everywhere
                for user in (constants.ADMIN_USER, constants.REPLICATION_USER, constants.READONLY_USER):
                    assert await accepted(m, user, old.password(user))
                    assert await accepted(m, user, new.password(user))
            for m in instances[1:]:
                async with await connect(
                    Endpoint(m.host, m.port, constants.ADMIN_USER, new.password(constants.ADMIN_USER))
                ) as c:
                    assert await dp.replication_password_is(c, new.password(constants.REPLICATION_USER))

            await annotate(kube, ns, constants.ANN_PASSWORD_DISCARD, "r1")

            async def idle() -> bool:
                s = await rotation_state(kube, ns)
                return s.get("phase") == "Idle" and s.get("lastRotationID") == "r1"

            await eventually(idle, "Idle after the discard", within=60)
            await asyncio.sleep(0.5)
        finally:
            writer.stop.set()
            await task
        final = sec.Passwords.from_secret(await kube.get(SECRETS, secret_name, ns))
        assert final.rotation_keys() == sec.RotationKeys.NONE
        assert not final.rotation_id
        for user in constants.ALL_USERS:
            assert final.password(user) == new.password(user)
        obj = await kube.get(MYSQLCLUSTERS, NAME, ns)
        anns = obj["metadata"].get("annotations") or {}
        assert constants.ANN_PASSWORD_ROTATE not in anns
        assert constants.ANN_PASSWORD_DISCARD not in anns
        for m in instances:
            for user in constants.ALL_USERS:
                assert not await accepted(m, user, old.password(user)), f"{user}'s old password still works"
            assert await accepted(m, constants.ADMIN_USER, new.password(constants.ADMIN_USER))
        assert writer.failures == []
        assert writer.committed > 0
        assert writer.reread >= 1, "the writer moved to the new password"
        # replication runs on with the new password: the receivers reconnect and catch up
        async with await connect(
            instances[0].endpoint(constants.ADMIN_USER, final.password(constants.ADMIN_USER))
        ) as s:
            gtid = (await get_status(s)).gtid_executed
        for m in instances[1:]:
            async with await connect(
                m.endpoint(constants.ADMIN_USER, final.password(constants.ADMIN_USER))
            ) as c:
                await c.execute("STOP REPLICA IO_THREAD")
                await c.execute("START REPLICA IO_THREAD")
                assert await ops.wait_for_gtid(c, gtid, timeout=30)
                await eventually(functools.partial(_io_running, c), "receiver reconnected")
                assert (await get_status(c)).gtid_executed == gtid, "no errant transaction"
        reasons = {e["reason"] for e in (await kube.list_all(EVENTS, ns))[0]}
        assert {
            "RotationStarted",
            "RetainApplied",
            "PasswordRotated",
            "DiscardApplied",
            "RotationCompleted",
        } <= reasons
        for e in (await kube.list_all(EVENTS, ns))[0]:
            for user in constants.ALL_USERS:
                assert old.password(user) not in e.get("message", "")
                assert new.password(user) not in e.get("message", "")


async def _retrying(kube: Client, ns: str) -> bool:
    events, _ = await kube.list_all(EVENTS, ns)
    return any(e["reason"] == "RotationRetrying" and "instance 2" in e.get("message", "") for e in events)


async def _io_running(c: Connection) -> bool:
    rs = (await get_status(c)).replica
    return rs is not None and rs.io_running == "Yes"


async def test_a_restart_at_every_step_finishes_the_rotation(
    apiserver: Envtest, kube: Client, namespace: str, sysns: str, mysqld_factory: MysqldFactory
) -> None:
    """A new Rotator (a controller restart) for every step: nothing is kept in memory; the
    rotate and discard annotations set together still give a Rotated phase in between."""
    ns = namespace
    instances = await mysqld_factory(3)
    async with running_controller(apiserver.kubeconfig, sysns) as wiring:
        wiring.reconciler.rotator = None  # the test drives the steps itself
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, NAME, replicas=3))
        secret_name = f"mysql-{ns}.{NAME}"
        old = sec.Passwords.from_secret(
            await eventually(lambda: kube.get(SECRETS, secret_name, sysns), "controller Secret created")
        )
        await eventually(lambda: kube.get(SECRETS, f"moco-{NAME}", ns), "user Secret")
        await build_cluster(instances, old)
        await annotate(kube, ns, constants.ANN_PASSWORD_ROTATE, "r1")
        await annotate(kube, ns, constants.ANN_PASSWORD_DISCARD, "r1")  # both at once: rotate first

        events: list[tuple[str, str, str]] = []
        steps = 0
        seen: list[str] = []
        while True:
            steps += 1
            assert steps < 40, f"no end: {seen}"
            cluster = MySQLCluster.parse(await kube.get(MYSQLCLUSTERS, NAME, ns))
            if not Rotator.wanted(cluster.to_json()):
                break
            r = Rotator(
                kube,
                RotatorConfig(sysns, propagation_s=0.0, retry_s=0.1),
                LauncherDialer(instances),
                token_hex=secrets.token_hex,
            )
            await r.reconcile(cluster, wiring.reconciler._apply, lambda *e: events.append(e))
            seen.append(str((await rotation_state(kube, ns)).get("phase")))
        assert not [e for e in events if e[0] == "Warning"], events
        final = sec.Passwords.from_secret(await kube.get(SECRETS, secret_name, sysns))
        assert final.rotation_keys() == sec.RotationKeys.NONE
        for m in instances:
            for user in constants.ALL_USERS:
                assert not await accepted(m, user, old.password(user))
                assert await accepted(m, user, final.password(user))
        assert (await rotation_state(kube, ns))["lastRotationID"] == "r1"
        assert "Rotated" in seen
