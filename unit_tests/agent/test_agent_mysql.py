"""The agent against real mysqld 9.7: init script, initialisation, readiness, clone.

Instances come from the launcher (:mod:`moco.testing.mysqld`); the Pod-like test initialises its
datadir with the init script and the root's real mysqld instead of the launcher's template.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from moco import constants, mycnf
from moco.agent import cron
from moco.agent.config import AgentConfig
from moco.agent.initialize import InitResult, initialize
from moco.agent.initscript import INITIALIZED_MARK, render_init_script
from moco.agent.probes import gather_facts
from moco.agent.readiness import ReadinessPolicy, decide_readiness
from moco.agent.rotate import oversized, rotate_once, rotation_loop
from moco.agent.server import Agent
from moco.constants import PASSWORD_KEYS
from moco.mysql import ops
from moco.mysql.conn import Connection, Endpoint, connect
from moco.mysql.errors import MySQLError
from moco.mysql.gtid import GtidSet
from moco.mysql.status import get_replica_status
from moco.testing import ground
from moco.testing import mysqld as launcher
from moco.testing.mysqld import Mysqld, MysqldGround
from unit_tests.agent import test_api_tls as tls_fixture
from unit_tests.mysql.helpers import eventually

pytestmark = pytest.mark.mysql

MysqldFactory = Callable[..., Awaitable[list[Mysqld]]]

#: The launcher's instances already hold moco-admin with the launcher's password.
PASSWORDS = {user: f"pw-{user}" for user in PASSWORD_KEYS} | {constants.ADMIN_USER: launcher.ADMIN_PASSWORD}
TOKEN = "agent-token-for-tests"
SLOW = constants.MYSQL_SLOW_LOG_NAME


def config_for(m: Mysqld, policy: ReadinessPolicy | None = None) -> AgentConfig:
    return AgentConfig(
        pod_name="moco-db-0",
        cluster_name="db",
        namespace="ns",
        token=TOKEN,
        passwords=PASSWORDS,
        mysqld_host=m.host,
        mysqld_port=m.port,
        listen_host="127.0.0.1",
        agent_port=0,
        probe_port=0,
        metrics_port=0,
        policy=policy or ReadinessPolicy(),
        log_dir=m.home,
        init_timeout_s=60,
    )


async def replicate_from(conn: Connection, source: Mysqld) -> None:
    """Point the replica of ``conn`` at ``source`` as moco's replication user, and start it."""
    await ops.change_source(
        conn,
        host=source.host,
        port=source.port,
        user=constants.REPLICATION_USER,
        password=PASSWORDS[constants.REPLICATION_USER],
    )
    await ops.start_replica(conn)


def ep(m: Mysqld, user: str) -> Endpoint:
    return Endpoint(m.host, m.port, user, PASSWORDS[user])


async def init_instance(m: Mysqld) -> InitResult:
    return await initialize(
        ep(m, constants.ADMIN_USER), (Endpoint(m.host, m.port, "root", ""),), PASSWORDS, timeout=10
    )


async def snapshot(m: Mysqld) -> tuple[str, list[tuple[str, str, str]], list[str], bool]:
    """gtid_executed, users with their credentials, active plugins, super_read_only."""
    async with await connect(ep(m, constants.ADMIN_USER)) as c:
        g = await c.query_one("SELECT @@global.gtid_executed AS g, @@global.super_read_only AS sro")
        users = await c.query("SELECT User, Host, authentication_string AS a FROM mysql.user ORDER BY 1, 2")
        plugins = await c.query(
            "SELECT PLUGIN_NAME AS n FROM information_schema.plugins WHERE PLUGIN_STATUS = 'ACTIVE'"
            " AND PLUGIN_NAME IN ('clone', 'rpl_semi_sync_source', 'rpl_semi_sync_replica') ORDER BY 1"
        )
    assert g is not None
    return (
        str(g["g"]),
        [(str(u["User"]), str(u["Host"]), str(u["a"])) for u in users],
        [str(p["n"]) for p in plugins],
        bool(int(g["sro"])),
    )


def run_init_script(m: Mysqld, conf_dir: Path) -> subprocess.CompletedProcess[str]:
    argv = launcher.mysqld_argv(m.root)
    script = m.home / "moco-init.sh"
    script.write_text(render_init_script())
    env = {
        "PATH": "/usr/bin:/bin",
        "POD_NAME": "moco-db-3",
        "CLUSTER_NAME": "db",
        "POD_NAMESPACE": "ns",
        "MOCO_MYSQLD": " ".join(argv[:4]),
        # the launcher's sizes must match between --initialize and the starts
        "MOCO_MYSQLD_ARGS": " ".join(
            [
                *argv[4:],
                "--innodb-buffer-pool-size=32M",
                "--innodb-redo-log-capacity=8M",
                "--innodb-log-buffer-size=4M",
            ]
        ),
        "MOCO_DATA_ROOT": str(m.home),
        "MOCO_CONF_DIR": str(conf_dir),
    }
    return subprocess.run(
        ["/bin/sh", str(script), "1000"], check=False, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
async def pod_like(mysqld_ground: MysqldGround) -> AsyncIterator[Mysqld]:
    m = mysqld_ground.new_instance(start=False, empty=True)
    try:
        yield m
    finally:
        mysqld_ground.discard(m)


async def test_init_script_and_initialisation_twice(pod_like: Mysqld) -> None:
    m = pod_like
    conf_dir = m.home / "conf.d"
    r = run_init_script(m, conf_dir)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (m.home / INITIALIZED_MARK).exists()
    assert (m.datadir / "mysql.ibd").exists()
    assert (conf_dir / "my.cnf").read_text() == mycnf.render_instance_conf(
        mycnf.instance_conf_for("moco-db-3", "db", "ns", 1000)
    )
    # the script is idempotent: the datadir is kept
    before = sorted(p.name for p in m.datadir.iterdir())
    r = run_init_script(m, conf_dir)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "already initialised" in r.stderr
    assert sorted(p.name for p in m.datadir.iterdir()) == before

    m.start()
    agent = Agent(config_for(m))
    first = await agent.initialize()
    assert first.fresh
    assert first.created_users == constants.ALL_USERS
    gtids, users, plugins, sro = await snapshot(m)
    assert gtids == ""
    assert sro
    assert plugins == ["clone", "rpl_semi_sync_replica", "rpl_semi_sync_source"]
    names = {(u, h) for u, h, _ in users}
    assert {(u, "%") for u in constants.ALL_USERS} <= names
    assert ("root", "localhost") not in names
    assert ("root", "127.0.0.1") not in names
    # the users work with their passwords (over TLS: moco-repl accepts nothing else)
    encrypted = ssl.create_default_context()
    encrypted.check_hostname = False
    encrypted.verify_mode = ssl.CERT_NONE
    for user in constants.ALL_USERS:
        async with await connect(replace(ep(m, user), ssl=encrypted)) as c:
            row = await c.query_one("SELECT CURRENT_USER() AS u")
            assert row == {"u": f"{user}@%"}

    # a second run (a restarted agent) changes nothing
    second = await agent.initialize()
    assert (second.fresh, second.created_users) == (False, ())
    assert await snapshot(m) == (gtids, users, plugins, sro)

    # a lost user is re-created, without creating a GTID
    async with await connect(ep(m, constants.ADMIN_USER)) as c:
        await c.execute("SET SESSION sql_log_bin = 0")
        await c.execute("SET GLOBAL super_read_only = OFF")
        await c.execute("DROP USER %s@'%%'", (constants.READONLY_USER,))
        await c.execute("SET GLOBAL super_read_only = ON")
    third = await agent.initialize()
    assert third.created_users == (constants.READONLY_USER,)
    g3, users3, _, sro3 = await snapshot(m)
    assert (g3, sro3) == ("", True)
    assert {(u, h) for u, h, _ in users3} == names
    await agent.close()


async def test_generated_mycnf_is_valid_for_mysqld(mysqld_ground: MysqldGround, tmp_path: Path) -> None:
    paths = mycnf.Paths(
        data_root=str(tmp_path),
        run_dir=str(tmp_path),
        log_dir=str(tmp_path),
        tmp_dir=str(tmp_path),
        init_conf_dir=str(tmp_path / "conf.d"),
    )
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "my.cnf").write_text(
        mycnf.render_instance_conf(mycnf.instance_conf_for("moco-db-0", "db", "ns", 1, admin_localhost=True))
    )
    conf = tmp_path / "my.cnf"
    conf.write_text(mycnf.generate({"max_connections": "10", "long_query_time": "1"}, 1 << 30, paths=paths))
    argv = launcher.mysqld_argv(mysqld_ground.root)
    good = await asyncio.to_thread(
        subprocess.run,
        [*argv[:4], f"--defaults-file={conf}", *argv[5:], "--validate-config"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert good.returncode == 0, good.stderr[-2000:]
    # the check is real: an unknown option is rejected
    conf.write_text(mycnf.generate({"no_such_option": "1"}, None, paths=paths))
    bad = await asyncio.to_thread(
        subprocess.run,
        [*argv[:4], f"--defaults-file={conf}", *argv[5:], "--validate-config"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0
    assert "no_such_option" in bad.stderr


async def readyz(agent: Agent) -> tuple[int, str]:
    url = f"http://127.0.0.1:{agent.bound_ports['probe']}/readyz"
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.text()


async def replication_delay(agent: Agent) -> float | None:
    """``moco_instance_replication_delay_seconds`` as the agent serves it (None: absent)."""
    url = f"http://127.0.0.1:{agent.bound_ports['metrics']}/metrics"
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith("moco_instance_replication_delay_seconds{"):
            return float(line.rsplit(" ", 1)[1])
    return None


async def healthz(agent: Agent) -> int:
    url = f"http://127.0.0.1:{agent.bound_ports['probe']}/healthz"
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status


@pytest.fixture
async def pair(mysqld_factory: MysqldFactory) -> tuple[Mysqld, Mysqld]:
    primary, replica = await mysqld_factory(2)
    for m in (primary, replica):
        result = await init_instance(m)
        # the launcher's instances keep the passwordless root@localhost of --initialize-insecure
        assert result.fresh
        assert constants.AGENT_USER in result.created_users
    async with await connect(ep(primary, constants.ADMIN_USER)) as c:
        await ops.set_writable(c)
    return primary, replica


async def test_readiness_of_primary_and_replica(pair: tuple[Mysqld, Mysqld]) -> None:
    primary, replica = pair
    policy = ReadinessPolicy(max_delay_s=1.0, transaction_queueing_wait_s=3600)
    pa, ra = Agent(config_for(primary, policy)), Agent(config_for(replica, policy))
    await pa.start_listeners()
    await ra.start_listeners()
    try:
        assert await healthz(pa) == 200
        assert (await readyz(pa))[0] == 200
        status, text = await readyz(ra)
        assert status == 503
        assert "not configured" in text

        async with await connect(ep(replica, constants.ADMIN_USER)) as rc:
            await replicate_from(rc, primary)
            # a fresh replica that has received nothing is given its grace period
            await _until(lambda: _io_running(rc))
            status, text = await readyz(ra)
            assert status == 503
            assert "no transaction received yet" in text

            async with await connect(ep(primary, constants.ADMIN_USER)) as pc:
                await pc.execute("CREATE DATABASE app")
                await pc.execute("CREATE TABLE app.t (id INT PRIMARY KEY)")
                await pc.execute("INSERT INTO app.t VALUES (1)")
                await _until(lambda: _has_rows(rc, 1))
                status, text = await readyz(ra)
                assert status == 200, text
                assert "lag" in text
                # the readiness check set MOCO's delay gauge on the replica, never on the primary
                delay = await replication_delay(ra)
                assert delay is not None
                assert 0 <= delay < 5
                assert await replication_delay(pa) is None

                # a stopped SQL thread
                await rc.execute("STOP REPLICA SQL_THREAD")
                status, text = await readyz(ra)
                assert (status, "threads" in text) == (503, True)

                # a lagging replica: the SQL thread applies an hour late
                await rc.execute("CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 3600")
                await rc.execute("START REPLICA SQL_THREAD")
                await asyncio.sleep(1.5)
                await pc.execute("INSERT INTO app.t VALUES (2)")
                await _until(lambda: _queued_lag_known(rc))
                facts = await gather_facts(rc)
                assert facts.lag_s is not None
                assert facts.lag_s >= 1.0
                status, text = await readyz(ra)
                assert status == 503
                assert "max delay" in text
                assert decide_readiness(facts, ReadinessPolicy(max_delay_s=0)).ready
    finally:
        await pa.close()
        await ra.close()


async def _until(cond: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def _io_running(c: object) -> bool:
    rows = await c.query("SHOW REPLICA STATUS")  # type: ignore[attr-defined]
    return bool(rows) and rows[0]["Replica_IO_Running"] == "Yes" and rows[0]["Replica_SQL_Running"] == "Yes"


async def _has_rows(c: object, n: int) -> bool:
    rows = await c.query("SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'app'")  # type: ignore[attr-defined]
    if not rows or int(rows[0]["n"]) == 0:
        return False
    got = await c.query("SELECT COUNT(*) AS n FROM app.t")  # type: ignore[attr-defined]
    return int(got[0]["n"]) >= n


async def _queued_lag_known(c: object) -> bool:
    rows = await c.query(  # type: ignore[attr-defined]
        "SELECT LAST_QUEUED_TRANSACTION FROM performance_schema.replication_connection_status"
    )
    executed = await c.query("SELECT @@global.gtid_executed AS g")  # type: ignore[attr-defined]
    return bool(rows) and str(rows[0]["LAST_QUEUED_TRANSACTION"]) not in executed[0]["g"]


async def test_clone_on_request(mysqld_factory: MysqldFactory) -> None:
    donor, recipient = await mysqld_factory(2)
    for m in (donor, recipient):
        await init_instance(m)
    async with await connect(ep(donor, constants.ADMIN_USER)) as c:
        await ops.set_writable(c)
        await c.execute("CREATE DATABASE app")
        await c.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(100))")
        for i in range(50):
            await c.execute("INSERT INTO app.t VALUES (%s, REPEAT('x', 100))", (i,))
    agent = Agent(config_for(recipient))
    await agent.start_listeners()
    url = f"http://127.0.0.1:{agent.bound_ports['agent']}/clone"
    body = {"donor_host": donor.host, "donor_port": donor.port, "boot_timeout_s": 120}
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(url, json=body, headers={"Authorization": "Bearer wrong"}) as r:
                assert r.status == 401
            async with s.post(url, json=body) as r:
                assert r.status == 401
            assert agent.cloner.progress.state == "idle"

            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with s.post(url, json=body, headers=auth) as r:
                assert r.status == 202, await r.text()
                assert (await r.json())["state"] == "running"
            async with s.post(url, json=body, headers=auth) as r:
                assert r.status == 409  # one clone at a time
            progress = await asyncio.wait_for(agent.cloner.wait(), 180)
            assert progress.state == "succeeded", progress.error
            async with s.get(url, headers=auth) as r:
                assert (await r.json())["state"] == "succeeded"
            async with s.get(f"http://127.0.0.1:{agent.bound_ports['metrics']}/metrics") as r:
                metrics = await r.text()
        assert 'moco_instance_clone_count{name="db",index="0"} 1.0' in metrics
        assert 'moco_instance_clone_failure_count{name="db",index="0"} 0.0' in metrics
        assert recipient.restarts >= 1
        async with await connect(ep(recipient, constants.ADMIN_USER)) as c:
            row = await c.query_one("SELECT COUNT(*) AS n FROM app.t")
            assert row == {"n": 50}
            st = await c.query_one("SELECT STATE FROM performance_schema.clone_status")
            assert st == {"STATE": "Completed"}
        # the probe reads the clone state the server reports (the table covers the other states)
        async with await connect(ep(recipient, constants.AGENT_USER)) as c:
            facts = await gather_facts(c)
        assert facts.clone_state == "Completed"
        # the recipient now holds transactions: a second clone is refused
        async with aiohttp.ClientSession() as s, s.post(url, json=body, headers=auth) as r:
            assert r.status == 409
            assert "holds transactions" in (await r.json())["error"]
        # once cloned (and read-only, not replicating) the readiness rule says: not configured
        status, text = await readyz(agent)
        assert status == 503
        assert "not configured" in text
    finally:
        await agent.close()


async def test_rotation_renames_and_reopens_the_slow_log(mysqld_factory: MysqldFactory) -> None:
    # a relative slow log file lives in the datadir
    (m,) = await mysqld_factory(
        1, extra_args=["--slow-query-log=ON", "--long-query-time=0", f"--slow-query-log-file={SLOW}"]
    )
    await init_instance(m)
    agent = Agent(config_for(m))
    slow = m.datadir / SLOW
    try:
        conn = await agent.db.get()
        await conn.query("SELECT SLEEP(0.01), 'before rotation'")
        # mysqld writes the slow log entry after it sent the result
        await _until(lambda: _contains(slow, "before rotation"))
        assert await rotate_once(agent.db.get, m.datadir, agent.metrics)
        rotated = m.datadir / f"{SLOW}.0"
        assert "before rotation" in rotated.read_text()
        await conn.query("SELECT SLEEP(0.01), 'after rotation'")
        await _until(lambda: _contains(slow, "after rotation"))
        assert "before rotation" not in slow.read_text()
        assert "after rotation" not in rotated.read_text()
        assert agent.metrics.log_rotation_count.value == 1
        assert agent.metrics.log_rotation_failure_count.value == 0
        # size-triggered rotation sees the file's size
        assert oversized(m.datadir, 1)
        assert not oversized(m.datadir, 1 << 30)
        # the loop rotates an oversized log long before its (yearly) schedule fires
        loop = asyncio.create_task(
            rotation_loop(
                agent.db.get,
                m.datadir,
                cron.parse("@yearly"),
                agent.metrics,
                size_limit=1,
                size_check_interval=0.1,
            )
        )
        try:
            await _until(lambda: _contains(rotated, "after rotation"), within=10)
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        assert agent.metrics.log_rotation_count.value >= 2
    finally:
        await agent.close()


async def _contains(path: Path, text: str) -> bool:
    try:
        return text in await asyncio.to_thread(path.read_text)
    except FileNotFoundError:
        return False


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


async def test_cli_server_process(mysqld_factory: MysqldFactory, tmp_path: Path) -> None:
    """``moco-agent`` as a process: initialises, serves, logs JSON with pod/cluster, ends on SIGTERM."""
    (m,) = await mysqld_factory(1)
    agent_port, probe_port, metrics_port = _free_ports(3)
    env = {
        "PATH": os.environ["PATH"],
        "POD_NAME": "moco-db-0",
        "CLUSTER_NAME": "db",
        "POD_NAMESPACE": "ns",
        "MOCO_AGENT_TOKEN": TOKEN,
        **{key: PASSWORDS[user] for user, key in PASSWORD_KEYS.items()},
    }
    argv = [
        sys.executable, "-m", "moco.cli.agent",
        "--mysqld-host", m.host, "--mysqld-port", str(m.port), "--listen-host", "127.0.0.1",
        "--address-port", str(agent_port), "--probe-port", str(probe_port),
        "--metrics-port", str(metrics_port), "--log-dir", str(m.home), "--max-delay", "0",
    ]  # fmt: skip
    # the agent serves its API over mutual TLS only: the Secret moco-db-grpc as the Pod mounts it
    certs = tmp_path / "grpc-cert"
    certs.mkdir()
    ca = tls_fixture.authority()
    tls_fixture.write_secret(certs, tls_fixture.agent_pair(ca), ca.trust_bundle(tls_fixture.NOW))
    argv += ["--grpc-cert-dir", str(certs)]
    logfile = tmp_path / "agent.log"
    proc, rec = ground.spawn(argv, "moco-agent test", log=logfile, env=env)
    try:

        async def healthy() -> bool:
            try:
                async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{probe_port}/healthz") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return proc.poll() is not None  # stop waiting if it died

        await _until(healthy, within=60)
        assert proc.poll() is None, logfile.read_text()
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{probe_port}/readyz") as r:
            assert r.status == 503  # read-only and not replicating
    finally:
        await asyncio.to_thread(ground.stop, rec, proc, 20.0)
    assert proc.returncode == 0, logfile.read_text()[-3000:]
    lines = [json.loads(line) for line in logfile.read_text().splitlines() if line.startswith("{")]
    assert any(e.get("event") == "instance initialised" for e in lines)
    assert any(e.get("event") == "agent stopped" for e in lines)
    assert all(e.get("pod") == "moco-db-0" and e.get("cluster") == "db" for e in lines)
    text = logfile.read_text()
    for secret in [TOKEN, *PASSWORDS.values()]:
        assert secret not in text


async def external_source(source: Mysqld) -> str:
    """Make ``source`` a writable server outside moco: its own clone and init users, no
    moco-admin, and ``ext.t`` with three rows; returns its gtid_executed."""
    async with await connect(source.endpoint()) as c:
        await ops.set_writable(c)
        await ops.install_plugins(c)
        await c.execute("CREATE USER 'ext-clone'@'%' IDENTIFIED BY 'ext-clone-pw'")
        await c.execute("GRANT BACKUP_ADMIN ON *.* TO 'ext-clone'@'%'")
        await c.execute("CREATE USER 'ext-init'@'%' IDENTIFIED BY 'ext-init-pw'")
        await c.execute("GRANT ALL ON *.* TO 'ext-init'@'%' WITH GRANT OPTION")
        await c.execute("CREATE DATABASE ext")
        await c.execute("CREATE TABLE ext.t (id INT PRIMARY KEY)")
        await c.execute("INSERT INTO ext.t VALUES (1), (2), (3)")
    async with await connect(Endpoint(source.host, source.port, "ext-init", "ext-init-pw")) as c:
        await c.execute("DROP USER 'moco-admin'@'%'")
        row = await c.query_one("SELECT @@global.gtid_executed AS g")
        assert row is not None
        return str(row["g"])


async def test_clone_from_an_external_source(mysqld_factory: MysqldFactory) -> None:
    """The source has none of moco's users: the agent follows and re-initialises with init_user."""
    source, recipient = await mysqld_factory(2)
    await init_instance(recipient)
    source_gtids = await external_source(source)
    agent = Agent(config_for(recipient))
    try:
        await agent.start_listeners()
        body = {
            "donor_host": source.host,
            "donor_port": source.port,
            "user": "ext-clone",
            "password": "ext-clone-pw",
            "init_user": "ext-init",
            "init_password": "ext-init-pw",
            "boot_timeout_s": 120,
        }
        url = f"http://127.0.0.1:{agent.bound_ports['agent']}/clone"
        async with (
            aiohttp.ClientSession() as s,
            s.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"}) as r,
        ):
            assert r.status == 202, await r.text()
        progress = await asyncio.wait_for(agent.cloner.wait(), 180)
        assert progress.state == "succeeded", progress.error
        gtids, users, _, sro = await snapshot(recipient)
        assert gtids == source_gtids  # the GTIDs replication resumes from are kept
        assert sro
        names = {(u, h) for u, h, _ in users}
        assert {(u, "%") for u in constants.ALL_USERS} <= names
        assert ("root", "localhost") not in names
        async with await connect(ep(recipient, constants.AGENT_USER)) as c:
            assert await c.query_one("SELECT COUNT(*) AS n FROM ext.t") == {"n": 3}
    finally:
        await agent.close()


async def start_fresh(m: Mysqld) -> None:
    """Start ``m`` as a Pod's first start does (the init script, then mysqld) and wait until its
    bootstrap root answers: the set-up is handed a running mysqld, as the agent waits for one."""
    r = run_init_script(m, m.home / "conf.d")
    assert r.returncode == 0, r.stderr[-2000:]
    m.start()

    async def root_answers() -> bool:
        with contextlib.suppress(MySQLError):
            async with await connect(Endpoint(m.host, m.port, "root", ""), timeout=1):
                return True
        return False

    await eventually(root_answers, what="the fresh instance answering its bootstrap root")


async def operators_first_log_in(m: Mysqld) -> Connection:
    """A connection as moco-admin, made as soon as one can be (the operator tries without pause)."""
    while True:
        try:
            return await connect(ep(m, constants.ADMIN_USER), timeout=1)
        except MySQLError:
            await asyncio.sleep(0.001)


async def init_beside(m: Mysqld, operator: Awaitable[None]) -> InitResult:
    """The set-up of ``m`` with an "operator" at work beside it (which must end within 20 s)."""
    op_task = asyncio.ensure_future(operator)
    try:
        result = await init_instance(m)
        await asyncio.wait_for(op_task, 20)
    finally:
        op_task.cancel()
    return result


async def test_the_operators_first_log_in_finds_the_set_up_done(
    pod_like: Mysqld, mysqld_factory: MysqldFactory
) -> None:
    """Found by the chaos tier (a node lost 2 s after a new cluster's first Healthy: the cluster
    was Lost). The operator logs in to a fresh instance as soon as moco-admin exists and
    configures it at once; the set-up then went on installing plugins and resetting the binary
    logs. A replica pointed at the instance in that moment had its dump thread reading a
    binary log the reset removed: at the first write its IO thread stopped on error 1236 and it
    held nothing. Here an "operator" logs in as early as it can and points a replica at once:
    the plugins must be there, and the first write must reach that replica."""
    m = pod_like
    await start_fresh(m)
    (rep,) = await mysqld_factory(1)
    plugins_at_log_in: list[str] = []
    async with await connect(rep.endpoint()) as rc:
        await ops.install_plugins(rc)

        async def operator() -> None:
            async with await operators_first_log_in(m) as c:
                rows = await c.query(
                    "SELECT PLUGIN_NAME AS n FROM information_schema.plugins"
                    " WHERE PLUGIN_STATUS = 'ACTIVE' ORDER BY 1"
                )
                plugins_at_log_in.extend(str(p["n"]) for p in rows)
            await replicate_from(rc, m)

        result = await init_beside(m, operator())
        assert result.fresh
        assert {"clone", "rpl_semi_sync_replica", "rpl_semi_sync_source"} <= set(plugins_at_log_in)
        async with await connect(ep(m, constants.ADMIN_USER)) as c:
            await ops.set_writable(c)
            await c.execute("CREATE DATABASE first_write")
            row = await c.query_one("SELECT @@global.gtid_executed AS g")
        assert row is not None
        wrote = GtidSet.parse(str(row["g"]))
        assert not wrote.is_empty()

        async def received() -> bool:
            rs = await get_replica_status(rc)
            assert rs is not None
            assert rs.last_io_errno == 0, rs.last_io_error
            return (wrote - rs.retrieved_gtid_set).is_empty()

        await eventually(received, what="the first write received by the replica pointed at the first log-in")


async def test_a_primary_made_writable_at_the_first_log_in_stays_writable(pod_like: Mysqld) -> None:
    """The operator makes an instance writable (its primary) as soon as it can log in, and the
    set-up went on after moco-admin existed: it dropped the passwordless roots with
    super_read_only lifted and then turned it on again, making the new primary read-only until
    the operator's next pass found it so. The set-up restores only what it lifted, and only
    while the instance is still read-only."""
    m = pod_like
    await start_fresh(m)

    async def operator() -> None:
        async with await operators_first_log_in(m) as c, asyncio.timeout(10):
            while True:  # retried as the operator's passes would be (its grants may lag)
                try:
                    await ops.set_writable(c)
                    return
                except MySQLError:
                    await asyncio.sleep(0.001)

    result = await init_beside(m, operator())
    assert result.fresh
    async with await connect(ep(m, constants.ADMIN_USER)) as c:
        row = await c.query_one("SELECT @@global.read_only AS ro, @@global.super_read_only AS sro")
    assert row == {"ro": 0, "sro": 0}, row
