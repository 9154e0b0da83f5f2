"""Credential rotation: the passwords of moco's eight users change under writes, no Pod restarts.

A 3-instance cluster takes writes from a client that does what a client of moco should: it
opens a new connection for every write (each one authenticates), reads ``WRITABLE_PASSWORD``
from the user Secret ``moco-<cluster>`` every few seconds and again at once when it is refused.
``kubectl moco credential rotate`` -> ``Rotated``: old and new passwords both work on every
instance, replication runs. ``kubectl moco credential discard`` -> ``Idle``: every old password
is refused on every instance. Throughout: 0 failed writes; at the end the cluster is Healthy,
every Pod is the same Pod (UID) with the same restart counts, the agents (whose connections are
killed after the discard, so they must authenticate again with the mounted files) keep every
Pod Ready, and a failover afterwards loses nothing.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl
from e2e.mysql_access import MYSQL_PORT, WRITABLE, access, pod_ips
from e2e.test_scenario_plugin import moco
from e2e.writes import assert_nothing_lost, through_primary_change
from moco.mysql.conn import Endpoint, connect
from moco.mysql.errors import AccessDenied, MySQLError

#: cluster creation (up to 10 minutes on a loaded machine) + rotation (the discard waits ~2
#: minutes for kubelet to update the mounted Secrets) + a failover.
pytestmark = pytest.mark.timeout(1800)

NAME = "rotation"
USERS = {
    "moco-admin": "ADMIN_PASSWORD",
    "moco-agent": "AGENT_PASSWORD",
    "moco-repl": "REPLICATION_PASSWORD",
    "moco-clone-donor": "CLONE_DONOR_PASSWORD",
    "moco-exporter": "EXPORTER_PASSWORD",
    "moco-backup": "BACKUP_PASSWORD",
    "moco-readonly": "READONLY_PASSWORD",
    "moco-writable": "WRITABLE_PASSWORD",
}
#: how often the client reads the Secret again
REREAD_S = 3.0


@pytest.fixture(scope="module")
def k(kube: Kubectl) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "rotation") as k:
        mc.apply(k, mc.minimal(NAME, str(k.namespace), replicas=3))
        mc.wait_healthy(k, NAME)
        yield k


def secret_passwords(k: Kubectl) -> dict[str, str]:
    data = k.get("secret", f"moco-{NAME}")["data"]
    return {user: base64.b64decode(data[key]).decode() for user, key in USERS.items()}


def pods_identity(k: Kubectl) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Pod name -> (UID, restart count of every container)."""
    pods = k.get("pods", "-l", f"app.kubernetes.io/name=mysql,app.kubernetes.io/instance={NAME}")["items"]
    return {
        p["metadata"]["name"]: (
            p["metadata"]["uid"],
            tuple(
                c.get("restartCount", 0)
                for c in sorted(p["status"]["containerStatuses"], key=lambda c: c["name"])
            ),
        )
        for p in pods
    }


def rotation(k: Kubectl) -> dict[str, Any]:
    return dict(mc.status(k, NAME).get("systemUserRotation") or {})


class SecretReadingWriter:
    """Writes through the primary with the Secret's current password (see the module doc)."""

    def __init__(self, k: Kubectl, primary_host: Any) -> None:
        self.k = k
        self.primary_host = primary_host
        self.password = ""
        self.read_at = 0.0
        self.committed = 0
        self.failed: list[str] = []
        self.refused_then_recovered = 0
        self.stop = asyncio.Event()

    async def _reread(self) -> None:
        self.password = (await asyncio.to_thread(secret_passwords, self.k))["moco-writable"]
        self.read_at = time.monotonic()

    async def _write(self) -> None:
        ep = Endpoint(self.primary_host(), MYSQL_PORT, "moco-writable", self.password)
        async with await connect(ep, timeout=5) as c:
            await c.execute("INSERT INTO rot.w (v) VALUES (%s)", (self.committed,))

    async def run(self) -> None:
        await self._reread()
        while not self.stop.is_set():
            if time.monotonic() - self.read_at > REREAD_S:
                await self._reread()
            try:
                await self._write()
                self.committed += 1
            except AccessDenied:
                await self._reread()  # refused: the Secret has moved on; one more try
                try:
                    await self._write()
                    self.committed += 1
                    self.refused_then_recovered += 1
                except MySQLError as e:
                    self.failed.append(f"{type(e).__name__}: {e}")
            except MySQLError as e:
                self.failed.append(f"{type(e).__name__}: {e}")
            await asyncio.sleep(0.05)


def _encrypted() -> ssl.SSLContext:
    """TLS without checking the server's identity: only the password is under test here (and
    moco-repl authenticates over TLS only)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def accepted(ip: str, user: str, password: str) -> bool:
    try:
        async with await connect(Endpoint(ip, MYSQL_PORT, user, password, ssl=_encrypted()), timeout=10) as c:
            await c.query_one("SELECT 1")
    except AccessDenied:
        return False
    return True


async def agent_sessions(ip: str, admin_password: str) -> set[int]:
    async with await connect(Endpoint(ip, MYSQL_PORT, "moco-admin", admin_password), timeout=10) as c:
        rows = await c.query("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = 'moco-agent'")
    return {int(r["id"]) for r in rows}


async def kill_agent_sessions(ips: list[str], admin_password: str) -> dict[str, set[int]]:
    """Close every moco-agent connection: the agents must authenticate again. Returns the
    killed connection IDs by instance."""
    killed: dict[str, set[int]] = {}
    for ip in ips:
        ids = await agent_sessions(ip, admin_password)
        async with await connect(Endpoint(ip, MYSQL_PORT, "moco-admin", admin_password), timeout=10) as c:
            for i in ids:
                try:
                    await c.execute("KILL %s", (i,))
                except MySQLError:
                    pass  # it ended by itself
        killed[ip] = ids
    return killed


async def agents_reconnected(killed: dict[str, set[int]], admin_password: str) -> bool:
    """Every instance has a moco-agent connection opened after the kill: a new connection exists
    only once it authenticated, with the password the agent read from its mounted file."""
    for ip, old_ids in killed.items():
        if not (await agent_sessions(ip, admin_password)) - old_ids:
            return False
    return True


async def test_rotate_and_discard_under_writes_without_restarts(
    k: Kubectl, record_testsuite_property: Callable[[str, object], None]
) -> None:
    before = await asyncio.to_thread(pods_identity, k)
    old = await asyncio.to_thread(secret_passwords, k)
    with access(k, NAME) as acc:
        assert acc.direct, "the scenario checks every instance through its Pod IP (direct route)"
        async with await connect(acc.primary(WRITABLE), timeout=10) as c:
            await c.execute("CREATE DATABASE IF NOT EXISTS rot")
            await c.execute("CREATE TABLE IF NOT EXISTS rot.w (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        writer = SecretReadingWriter(k, lambda: acc.primary(WRITABLE).host)
        task = asyncio.create_task(writer.run())
        try:
            await asyncio.sleep(3)
            t0 = time.monotonic()
            r = await asyncio.to_thread(moco, k, "credential", "rotate", NAME)
            assert r.returncode == 0, r.stderr
            said = re.search(r"password rotation (\S+) of MySQLCluster", r.stdout)
            assert said, r.stdout
            rid = said.group(1)
            await asyncio.to_thread(
                mc.wait, k, NAME, "Rotated", lambda: rotation(k).get("phase") == "Rotated", 300
            )
            rotated_after = time.monotonic() - t0
            new = await asyncio.to_thread(secret_passwords, k)
            assert all(new[u] != old[u] for u in USERS)
            ips = sorted((await asyncio.to_thread(pod_ips, k, NAME)).values())
            assert len(ips) == 3
            for ip in ips:  # the window: both work
                for user in USERS:
                    assert await accepted(ip, user, old[user]), (
                        f"{user}'s old password refused during the window"
                    )
                    assert await accepted(ip, user, new[user]), f"{user}'s new password refused on {ip}"

            r = await asyncio.to_thread(moco, k, "credential", "discard", NAME)
            assert r.returncode == 0, r.stderr
            await asyncio.to_thread(
                mc.wait,
                k,
                NAME,
                "the rotation completed",
                lambda: rotation(k).get("phase") == "Idle" and rotation(k).get("lastRotationID") == rid,
                600,
            )
            discarded_after = time.monotonic() - t0 - rotated_after
            for ip in ips:
                for user in USERS:
                    assert not await accepted(ip, user, old[user]), f"{user}'s old password works on {ip}"
                    assert await accepted(ip, user, new[user])
            killed = await kill_agent_sessions(ips, new["moco-admin"])
            deadline = time.monotonic() + 60  # probes every 10 s reconnect with the mounted passwords
            while not await agents_reconnected(killed, new["moco-admin"]):
                assert time.monotonic() < deadline, "an agent did not authenticate again after the discard"
                await asyncio.sleep(2)
            await asyncio.sleep(35)  # more than the readiness probe's 3 x 10 s: a failing one shows
        finally:
            writer.stop.set()
            await task
    record_testsuite_property("rotation_writes_committed", writer.committed)
    record_testsuite_property("rotation_writes_failed", len(writer.failed))
    record_testsuite_property("rotation_refused_then_recovered", writer.refused_then_recovered)
    record_testsuite_property("rotation_rotated_after_s", round(rotated_after, 1))
    record_testsuite_property("rotation_discarded_after_s", round(discarded_after, 1))
    assert writer.failed == [], writer.failed[:5]
    assert writer.committed > 100, writer.committed
    anns = k.get("mysqlcluster", NAME)["metadata"].get("annotations") or {}
    assert "moco.cybozu.com/password-rotate" not in anns
    assert "moco.cybozu.com/password-discard" not in anns
    await asyncio.to_thread(mc.wait, k, NAME, "Healthy", lambda: mc.is_healthy(k, NAME), 120)
    after = await asyncio.to_thread(pods_identity, k)
    assert after == before, f"a Pod was re-created or a container restarted: {before} -> {after}"
    ready = k.get("pods", "-l", f"app.kubernetes.io/name=mysql,app.kubernetes.io/instance={NAME}")["items"]
    for p in ready:
        conds = {c["type"]: c["status"] for c in p["status"]["conditions"]}
        assert conds.get("Ready") == "True", (p["metadata"]["name"], conds, killed)


async def test_failover_after_the_rotation(k: Kubectl) -> None:
    def kill_mysqld(primary: int) -> None:
        k("exec", f"moco-{NAME}-{primary}", "-c", "mysqld", "--", "sh", "-c", "kill 1")

    with access(k, NAME) as acc:  # a new access: it reads the rotated passwords
        out = await through_primary_change(k, NAME, acc, kill_mysqld)
    assert_nothing_lost(k, NAME, out)
    assert out.new_primary != out.old_primary
