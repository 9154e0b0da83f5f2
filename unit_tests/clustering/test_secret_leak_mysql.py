"""No password in what the operator says: the clustering loop's logs, Events and status through a
bootstrap, a switchover and a failover on real mysqld never carry one (mysql tier).

Everything the process writes is captured (structlog's lines on stdout/stderr) with the harness's
Events and conditions; the check fails on any of the cluster's passwords, and first proves the
capture works (the loop's own log lines about the same operations are in it).
"""

from __future__ import annotations

import pytest

from moco.clustering.interfaces import CloneRequest
from moco.mysql.conn import connect
from moco.testing.mysqld import ADMIN_PASSWORD

from ..fixtures.clustering import APP_PASSWORD, CREDS, ClusterFactory, fail_primary

pytestmark = pytest.mark.mysql

SECRETS = {
    "admin": ADMIN_PASSWORD,
    "replication": CREDS.replication,
    "clone-donor": CREDS.clone_donor,
    "app": APP_PASSWORD,
}


async def test_no_password_in_logs_events_or_status(
    cluster_ground: ClusterFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    assert all(len(p) >= 6 for p in SECRETS.values())  # long enough not to match by chance
    cg = await cluster_ground(3)
    h = cg.h
    await h.wait_healthy(60)

    h.kube.set_pod(h.primary, demote=True)  # switchover, as `kubectl moco switchover` asks
    h.proc.wake("demote")
    old = h.primary
    await h.wait_for(lambda: h.primary != old, 30, "switchover")
    await h.wait_healthy(60)

    async with await connect(cg.primary_endpoint()) as c:  # replicas hold data: one may take over
        await c.execute("CREATE DATABASE IF NOT EXISTS app")
        await c.execute("CREATE TABLE IF NOT EXISTS app.leak (v INT PRIMARY KEY)")
        await c.execute("INSERT INTO app.leak VALUES (1)")
    await fail_primary(cg)
    failed = h.primary
    await h.wait_for(lambda: h.primary != failed, 30, "failover")

    out = capfd.readouterr()
    said = "\n".join(
        [
            out.out,
            out.err,
            *(f"{t} {r} {m}" for t, r, m in h.kube.events),
            *(f"{c.type} {c.reason} {c.message}" for c in h.kube.status.conditions.values()),
            repr(h.kube.status),
            repr(CloneRequest("donor", 33062, "moco-clone-donor", CREDS.clone_donor, "init", ADMIN_PASSWORD)),
            repr(CREDS),
        ]
    )
    # the capture holds the loop's own words about what happened
    assert "SwitchOver" in said
    assert "FailOver" in said
    assert "pointing replica at the primary" in said
    leaked = sorted(name for name, secret in SECRETS.items() if secret in said)
    assert leaked == [], f"passwords of {leaked} appear in logs, Events or status"
