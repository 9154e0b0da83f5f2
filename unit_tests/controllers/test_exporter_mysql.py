"""The mysqld-exporter sidecar's program against real mysqld 9.7, as the Pod runs it.

The binary is the one ``hack/mysqld-exporter.sh`` builds (``make mysqld-exporter``) and the local
provider puts in its image; its arguments are the container's that :func:`exporter_container`
renders, its option file is the ``moco-exporter`` file of ``moco-my-cnf-<name>``
(:func:`mycnf_text`), and the ``moco-exporter`` user is made by the agent's initialisation with
MOCO's grants. The only difference from the Pod is the address: in a Pod mysqld listens on
``localhost:3306``, which the exporter assumes; here each mysqld has its own loopback port
(``--mysqld.address``) and the exporter its own listen port.

What it proves: the version reads MySQL 9.x (``mysql_up 1``, global variables and the replica
status of ``SHOW REPLICA STATUS``, where older versions fail), ``read_only`` follows the role,
and no collector fails on either instance, the exporter's defaults and every collector named
in the test (``slave_hosts`` included: ``SHOW REPLICAS`` needs REPLICATION SLAVE).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from moco import constants
from moco.agent.initialize import initialize
from moco.controllers.containers import Images, exporter_container
from moco.controllers.secrets import mycnf_text
from moco.mysql import ops
from moco.mysql.conn import connect
from moco.testing import ground
from moco.testing.mysqld import Mysqld
from unit_tests.agent.test_agent_mysql import PASSWORDS, replicate_from

pytestmark = pytest.mark.mysql

MysqldFactory = Callable[..., Awaitable[list[Mysqld]]]
REPO_ROOT = Path(__file__).resolve().parents[2]
#: MOCO's example collectors and more that read what moco-exporter's grants allow, among them
#: ``slave_hosts`` (the replicas a primary serves, by SHOW REPLICAS).
COLLECTORS = [
    "engine_innodb_status",
    "info_schema.innodb_metrics",
    "binlog_size",
    "info_schema.processlist",
    "slave_hosts",
]


def exporter_binary() -> Path:
    out = subprocess.run(
        ["bash", str(REPO_ROOT / "hack" / "mysqld-exporter.sh"), "--print"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    path = Path(dict(line.split("=", 1) for line in out.split())["mysqld_exporter"])
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make mysqld-exporter`")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse(text: str) -> dict[str, float]:
    """Samples of a Prometheus text exposition, name -> value (labels dropped: the last wins)."""
    out = {}
    for line in text.splitlines():
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})? (\S+)", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


@contextlib.asynccontextmanager
async def exporter(m: Mysqld, workdir: Path, password: str | None = None) -> AsyncIterator[str]:
    """The exporter for ``m`` with the container's arguments; yields its /metrics URL."""
    workdir = workdir / f"exporter-{m.port}-{password is None}"
    workdir.mkdir()
    cnf = workdir / constants.mycnf_key(constants.EXPORTER_USER)
    cnf.write_text(mycnf_text(constants.EXPORTER_USER, password or PASSWORDS[constants.EXPORTER_USER]))
    cnf.chmod(0o600)
    container = exporter_container(COLLECTORS, Images(agent="unused"))
    args = [a for a in container["args"] if not a.startswith("--config.my-cnf=")]
    assert len(args) == len(container["args"]) - 1
    port = free_port()
    argv = [
        str(exporter_binary()),
        f"--config.my-cnf={cnf}",
        *args,
        f"--mysqld.address={m.host}:{m.port}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    log = workdir / "exporter.log"
    proc, rec = ground.spawn(argv, f"mysqld_exporter :{port}", log=log)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s:
            while True:
                assert proc.poll() is None, log.read_text()
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with s.get(url) as r:
                        if r.status == 200:
                            break
                assert time.monotonic() < deadline, "the exporter did not answer within 20 s"
                await asyncio.sleep(0.2)
        yield url
    finally:
        ground.stop(rec, proc)


async def scrape(url: str) -> tuple[str, dict[str, float]]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as s,
        s.get(url) as r,
    ):
        assert r.status == 200
        text = await r.text()
    return text, parse(text)


async def test_exporter_reads_primary_and_replica(mysqld_factory: MysqldFactory, tmp_path: Path) -> None:
    primary, replica = await mysqld_factory(2)
    for m in (primary, replica):
        await initialize(m.admin_endpoint(), [], PASSWORDS)
    async with await connect(primary.admin_endpoint(), timeout=10) as conn:
        await ops.set_writable(conn)
        await conn.execute("CREATE DATABASE IF NOT EXISTS e")
    async with await connect(replica.admin_endpoint(), timeout=10) as conn:
        await replicate_from(conn, primary)

    async with exporter(primary, tmp_path) as p_url, exporter(replica, tmp_path) as r_url:
        text, p = await scrape(p_url)
        assert p["mysql_up"] == 1, text[-2000:]
        assert p["mysql_global_variables_read_only"] == 0
        assert p["mysql_global_variables_super_read_only"] == 0
        assert re.search(r'mysql_version_info\{.*version="9\.', text)
        assert "mysql_binlog_files" in p  # --collect.binlog_size
        assert "mysql_info_schema_innodb_metrics_" in text  # --collect.info_schema.innodb_metrics
        assert "mysql_engine_innodb_queries_inside_innodb" in p  # --collect.engine_innodb_status
        for c in COLLECTORS:
            assert f'mysql_exporter_collector_success{{collector="collect.{c}"}} 1' in text, c
        failed = re.findall(r'mysql_exporter_collector_success\{collector="([^"]+)"\} 0', text)
        assert not failed, failed
        # SHOW REPLICA STATUS on the replica (the receiver may still be connecting: wait for it)
        deadline = time.monotonic() + 20
        while True:
            text, r = await scrape(r_url)
            # 9.x's column names (Replica_IO_Running ...) under the collector's prefix
            if r.get("mysql_slave_status_replica_io_running") == 1:
                break
            assert time.monotonic() < deadline, "\n".join(x for x in text.splitlines() if "slave_status" in x)
            await asyncio.sleep(0.5)
        # with the replica connected, the primary's SHOW REPLICAS still succeeds
        text, p = await scrape(p_url)
        assert 'mysql_exporter_collector_success{collector="collect.slave_hosts"} 1' in text
        assert r["mysql_up"] == 1
        assert r["mysql_global_variables_read_only"] == 1
        assert r["mysql_global_variables_super_read_only"] == 1
        assert r["mysql_slave_status_replica_sql_running"] == 1
        assert r["mysql_slave_status_seconds_behind_source"] == 0
        failed = re.findall(r'mysql_exporter_collector_success\{collector="([^"]+)"\} 0', text)
        assert not failed, failed

        # the value follows the server: the replica made writable reads 0 on the next scrape
        async with await connect(replica.admin_endpoint(), timeout=10) as conn:
            await ops.set_writable(conn)
        _, r = await scrape(r_url)
        assert r["mysql_global_variables_read_only"] == 0

    # a wrong password: the exporter still answers, with mysql_up 0 (what a Pod shows when the
    # user is missing or its grants are wrong)
    async with exporter(primary, tmp_path, password="not-the-password") as url:
        _, p = await scrape(url)
        assert p["mysql_up"] == 0
