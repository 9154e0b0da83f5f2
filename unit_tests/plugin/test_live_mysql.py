"""``kubectl moco status``'s live figures against real mysqld 9.7 (mysql tier).

The query runs as moco-readonly with the grants the agent gives it, through the real ``mysql``
client of the MySQL root, started exactly as :func:`moco.plugin.live.read_one` starts
``kubectl exec``: a stand-in ``kubectl`` (a shell script) takes the exec command line, checks
it, and runs the ``mysql`` part with a local option file (host and port instead of the Pod's
socket). What it proves: the grants suffice, the batch output parses, the figures are the
server's (GTID sets equal to what the admin reads, lag, semi-sync on both sides), and a failing
or silent instance is reported as not read, bounded in time.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from moco import constants
from moco.agent.initialize import initialize
from moco.mysql import ops
from moco.mysql.conn import connect
from moco.plugin import live
from moco.plugin.target import Target
from moco.testing.mysqld import Mysqld, find_root
from unit_tests.agent.test_agent_mysql import PASSWORDS, replicate_from

pytestmark = pytest.mark.mysql

MysqldFactory = Callable[..., Awaitable[list[Mysqld]]]
TARGET = Target(kubeconfig="unused", context=None, namespace="ns")
MYCNF_IN_POD = (
    f"--defaults-extra-file={constants.MYCNF_SECRET_PATH}/{constants.mycnf_key(constants.READONLY_USER)}"
)


def fake_kubectl(tmp: Path, pods: dict[str, Mysqld]) -> Path:
    """A ``kubectl`` that runs ``exec POD --container=mysqld -- mysql ARGS`` against ``pods``."""
    root = find_root()
    mysql = " ".join(
        shlex.quote(a)
        for a in (
            f"{root}/lib64/ld-linux-x86-64.so.2",
            "--library-path",
            f"{root}/usr/lib/x86_64-linux-gnu:{root}/lib/x86_64-linux-gnu",
            f"{root}/usr/bin/mysql",
        )
    )
    cases = []
    for name, m in pods.items():
        cnf = tmp / f"{name}.cnf"
        cnf.write_text(
            f'[client]\nuser="{constants.READONLY_USER}"\npassword="{PASSWORDS[constants.READONLY_USER]}"\n'
            f"host={m.host}\nport={m.port}\n"
        )
        cases.append(f"  {name}) cnf={shlex.quote(str(cnf))} ;;")
    script = tmp / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        "# --namespace=ns exec POD --container=mysqld -- mysql --defaults-extra-file=... ARGS\n"
        '[ "$1" = --namespace=ns ] && [ "$2" = exec ] && [ "$4" = --container=mysqld ] || exit 90\n'
        f'[ "$5" = -- ] && [ "$6" = mysql ] && [ "$7" = {shlex.quote(MYCNF_IN_POD)} ] || exit 91\n'
        'case "$3" in\n' + "\n".join(cases) + "\n"
        "  sleepy) sleep 30 ;;\n"
        '  *) echo "Error from server (NotFound): pods \\"$3\\" not found" >&2; exit 1 ;;\n'
        "esac\n"
        "shift 7\nexec " + mysql + ' --defaults-extra-file="$cnf" "$@"\n'
    )
    script.chmod(0o755)
    return script


async def test_figures_of_a_primary_and_a_replica(mysqld_factory: MysqldFactory, tmp_path: Path) -> None:
    primary, replica = await mysqld_factory(2)
    for m in (primary, replica):
        await initialize(m.admin_endpoint(), [], PASSWORDS)
    async with await connect(replica.admin_endpoint(), timeout=10) as conn:
        await ops.configure_semisync_replica(conn, enabled=True)
        await replicate_from(conn, primary)
    async with await connect(primary.admin_endpoint(), timeout=10) as conn:
        await ops.set_writable(conn)
        await ops.configure_semisync_source(conn, enabled=True, wait_count=1)
        await conn.execute("CREATE DATABASE live")
        await conn.execute("CREATE TABLE live.t (id INT PRIMARY KEY)")
        await conn.execute("INSERT INTO live.t VALUES (1)")
    kubectl = str(fake_kubectl(tmp_path, {"moco-db-0": primary, "moco-db-1": replica}))

    deadline = time.monotonic() + 20
    while True:
        got = await live.read_all(kubectl, TARGET, {0: "moco-db-0", 1: "moco-db-1"})
        p, r = got[0], got[1]
        assert isinstance(p, live.InstanceLive), p
        assert isinstance(r, live.InstanceLive), r
        if r.gtid_executed == p.gtid_executed and p.semi_sync_source_clients == 1:
            break
        assert time.monotonic() < deadline, (p, r)
        await asyncio.sleep(0.3)

    async with await connect(primary.admin_endpoint(), timeout=10) as conn:
        row = await conn.query_one("SELECT @@global.gtid_executed AS g, @@global.server_uuid AS u")
    assert row is not None
    assert p.gtid_executed == str(row["g"]).replace("\n", "")
    assert p.server_uuid == row["u"]
    assert live.gtid_summary(p.gtid_executed).startswith(str(row["u"])[:8] + ":1-")
    assert (p.read_only, p.super_read_only, p.replica) == (False, False, None)
    assert p.semi_sync == "source ON (1)"
    assert (r.read_only, r.super_read_only) == (True, True)
    assert r.semi_sync == "replica ON"
    assert r.replica is not None
    assert (r.replica.io_running, r.replica.sql_running) == ("Yes", "Yes")
    assert r.replica.lag_seconds is not None
    assert 0 <= r.replica.lag_seconds <= 5  # Seconds_Behind_Source is whole seconds, rounded up
    assert r.replica.source_host == primary.host
    assert r.replica.last_error == ""
    assert r.gtid_purged == p.gtid_purged

    # the applier stopped: no lag figure (MySQL's NULL), and the thread states say why
    async with await connect(replica.admin_endpoint(), timeout=10) as conn:
        await conn.execute("STOP REPLICA SQL_THREAD")
    r = await live.read_one(kubectl, TARGET, "moco-db-1")
    assert isinstance(r, live.InstanceLive), r
    assert r.replica is not None
    assert (r.replica.io_running, r.replica.sql_running, r.replica.lag_seconds) == ("Yes", "No", None)


async def test_an_instance_that_cannot_be_read_is_named(
    mysqld_factory: MysqldFactory, tmp_path: Path
) -> None:
    (m,) = await mysqld_factory(1)
    await initialize(m.admin_endpoint(), [], PASSWORDS)
    kubectl = str(fake_kubectl(tmp_path, {"moco-db-0": m}))
    started = time.monotonic()
    got = await asyncio.gather(
        live.read_one(kubectl, TARGET, "moco-db-9"),
        live.read_one(kubectl, TARGET, "sleepy", timeout=1.0),
        live.read_one(str(tmp_path / "no-kubectl"), TARGET, "moco-db-0"),
        live.read_one(kubectl, TARGET, "moco-db-0"),
    )
    assert time.monotonic() - started < 10
    missing, silent, no_kubectl, fine = got
    assert missing == live.NotRead('Error from server (NotFound): pods "moco-db-9" not found')
    assert silent == live.NotRead("no answer within 1s")
    assert isinstance(no_kubectl, live.NotRead)
    assert "cannot run" in no_kubectl.error
    assert isinstance(fine, live.InstanceLive)
    assert fine.semi_sync == "off"
    # mysqld gone: mysql's own error is what the reader sees
    await asyncio.to_thread(m.kill)
    gone = await live.read_one(kubectl, TARGET, "moco-db-0")
    assert isinstance(gone, live.NotRead)
    assert "Can't connect" in gone.error
