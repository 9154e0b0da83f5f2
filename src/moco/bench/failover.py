"""``make bench-failover``: write unavailability of switchovers and failovers on real mysqld.

A 3-instance cluster of real mysqld 9.7 (the test ground's launcher) is run by the real
clustering loop over an in-memory Kubernetes side, while :class:`moco.testing.checker.WriteChecker`
writes through the current primary. Each switchover marks the primary Pod with the demote
annotation; each failover SIGKILLs the primary's mysqld and marks its Pod not ready (what the
Pod watcher would report). The killed instance is then brought back: restarted, and replaced by
a fresh, empty instance (which the loop clones) when it came back with errant transactions.

Unavailability = first acknowledged write on the new primary - last acknowledged write on the
old one. At the end every acknowledged write must be on the final primary.

Prints one line per operation, the percentiles, and last one JSON line with
``failover_p50_s``, ``failover_p95_s``, ``switchover_p50_s``, ``switchover_p95_s``,
``lost_acknowledged_writes`` (plus counts). ``--failovers`` / ``--switchovers`` change the
counts (20 each by default).

Every mysqld serves a certificate of a CA made for the run, as a Pod of reconcile version 3
does (:mod:`moco.testing.mysqltls`): the loop's connections verify it (one TLS handshake per
connect), replicas verify their source. ``--no-tls`` runs the servers on their own
certificates and the loop's connections in clear, as before, to compare (the JSON says ``tls``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from moco.bench.stats import pct
from moco.clustering.config import ProcessConfig
from moco.clustering.interfaces import Credentials
from moco.clustering.memory import LoopHarness, bootstrap_users
from moco.log import setup
from moco.mysql.conn import Endpoint, ServerTrust, connect
from moco.mysql.errors import MySQLError
from moco.testing import mysqltls
from moco.testing.checker import WriteChecker
from moco.testing.loopconfig import LOOPBACK
from moco.testing.mysqld import ADMIN_PASSWORD, Mysqld, MysqldGround

CREDS = Credentials(admin=ADMIN_PASSWORD, replication="bench-repl", clone_donor="bench-donor")
APP = ("bench", "bench-pw", "ALL ON app.*")
N = 3
#: The production pause after a role change is kept: the figures include it, as a Pod's would.
CFG = replace(LOOPBACK, role_change_wait=ProcessConfig().role_change_wait)


class Bench:
    """The cluster, the loop and the checker."""

    def __init__(self, ground: MysqldGround, *, tls: bool = True) -> None:
        self.ground = ground
        self.ms: list[Mysqld] = []
        self.h: LoopHarness | None = None
        self.replaced = 0
        self.creds = CREDS
        #: the certificate every instance serves (one, naming the loopback address they share)
        self.tls_dir: Path | None = None
        if tls:
            ca = mysqltls.new_ca()
            self.tls_dir = ground.base / "tls"
            mysqltls.mount(self.tls_dir, mysqltls.leaf(ca), ca.cert_pem)
            self.creds = replace(CREDS, trust=ServerTrust(ca.cert_pem))

    async def new_instance(self, index: int) -> Mysqld:
        tls = [] if self.tls_dir is None else mysqltls.mysqld_args(self.tls_dir)
        m = self.ground.new_instance(extra_args=[f"--server-id={index + 1}", *tls])
        await m.wait_ready(60)
        await bootstrap_users(m.admin_endpoint(), CREDS, [APP])
        return m

    async def start(self) -> LoopHarness:
        self.ms = list(await asyncio.gather(*(self.new_instance(i) for i in range(N))))
        ca_file = "" if self.tls_dir is None else mysqltls.ca_file(self.tls_dir)
        self.h = LoopHarness("bench", self.ms, self.creds, CFG, tls_ca_file=ca_file)
        self.h.start()
        await self.h.wait_healthy(60)
        return self.h

    def primary_endpoint(self) -> Endpoint:
        assert self.h is not None
        return self.ms[self.h.primary].endpoint(APP[0], APP[1])

    def admin_endpoints(self) -> list[Endpoint]:
        return [m.admin_endpoint() for m in self.ms if m.running]

    async def switchover(self, chk: WriteChecker) -> float:
        h = self.h
        assert h is not None
        old = h.primary
        n_gaps = len(chk.gaps())
        h.kube.set_pod(old, demote=True)
        h.proc.wake("demote")
        await h.wait_for(lambda: h.primary != old, 30, "switchover")
        await h.wait_for(lambda: len(chk.gaps()) > n_gaps, 30, "writes on the new primary")
        gap = chk.gaps()[-1].seconds
        await h.wait_healthy(60)
        return gap

    async def failover(self, chk: WriteChecker) -> float:
        h = self.h
        assert h is not None
        old = h.primary
        n_gaps = len(chk.gaps())
        await asyncio.to_thread(self.ms[old].kill)
        h.kube.set_pod(old, ready=False)
        h.proc.wake("pod-not-ready")
        await h.wait_for(lambda: h.primary != old, 60, "failover")
        await h.wait_for(lambda: len(chk.gaps()) > n_gaps, 60, "writes on the new primary")
        gap = chk.gaps()[-1].seconds
        await self.bring_back(old)
        return gap

    async def bring_back(self, index: int) -> None:
        """Restart a killed instance; replace it by an empty one if it came back errant."""
        h = self.h
        assert h is not None
        m = self.ms[index]
        m.start()
        await m.wait_ready(60)
        h.kube.set_pod(index, ready=True)
        h.proc.wake("pod-ready")
        try:
            await h.wait_healthy(15)
            return
        except TimeoutError:
            if index not in h.kube.status.errant_replica_list:
                raise
        # errant: the unacknowledged tail of the killed primary; re-create it empty (clone)
        self.replaced += 1
        await asyncio.to_thread(self.ground.discard, m)
        fresh = await self.new_instance(index)
        self.ms[index] = fresh
        pod = h.kube.pod(index)
        h.kube.add_pod(replace(pod, port=fresh.port, admin_port=fresh.admin_port, ready=True, role=None))
        h.proc.wake("pod-recreated")
        await h.wait_healthy(120)


async def describe(ms: list[Mysqld]) -> None:
    """Print what every running instance is doing (its threads and replication state), so that
    a stall is explained by the server's own view rather than by the loop's last error."""
    for i, m in enumerate(ms):
        if not m.running:
            print(f"instance {i}: stopped", flush=True)
            continue
        try:
            async with await connect(m.admin_endpoint(), timeout=3, query_timeout=3) as c:
                threads = await c.query(
                    "SELECT ID, USER, COMMAND, TIME, STATE, LEFT(INFO, 80) AS INFO"
                    " FROM performance_schema.processlist WHERE COMMAND <> 'Sleep'"
                )
                status = await c.query("SHOW REPLICA STATUS")
        except MySQLError as e:
            print(f"instance {i}: {e}", flush=True)
            continue
        print(f"instance {i} threads:", flush=True)
        for t in threads:
            print(f"  {t}", flush=True)
        for r in status:
            keys = ("Replica_IO_Running", "Replica_SQL_Running", "Replica_SQL_Running_State", "Last_Error")
            print(f"  replica: { {k: r.get(k) for k in keys} }", flush=True)


async def run(failovers: int, switchovers: int, *, tls: bool = True) -> dict[str, float | int]:
    ground = MysqldGround()
    bench = Bench(ground, tls=tls)
    h: LoopHarness | None = None
    try:
        h = await bench.start()
        chk = WriteChecker(primary=bench.primary_endpoint, instances=bench.admin_endpoints)
        await chk.setup()
        chk.start()
        await asyncio.sleep(0.5)
        so: list[float] = []
        fo: list[float] = []
        started = time.monotonic()
        for i in range(switchovers):
            gap = await bench.switchover(chk)
            so.append(gap)
            print(f"switchover {i + 1:2d}: {gap:.3f} s (primary now {h.primary})", flush=True)
        for i in range(failovers):
            gap = await bench.failover(chk)
            fo.append(gap)
            print(f"failover   {i + 1:2d}: {gap:.3f} s (primary now {h.primary})", flush=True)
        await asyncio.sleep(0.3)
        await chk.stop()
        report = await chk.verify(bench.ms[h.primary].admin_endpoint())
        elapsed = time.monotonic() - started
    except TimeoutError:
        await describe(bench.ms)
        raise
    finally:
        if h is not None:
            await h.stop()
        ground.close()
    print(
        f"switchover: n={len(so)} p50={pct(so, 50):.3f}s p95={pct(so, 95):.3f}s "
        f"max={max(so, default=0):.3f}s",
        flush=True,
    )
    print(
        f"failover:   n={len(fo)} p50={pct(fo, 50):.3f}s p95={pct(fo, 95):.3f}s "
        f"max={max(fo, default=0):.3f}s",
        flush=True,
    )
    print(
        f"acknowledged writes={report.acknowledged} lost={len(report.missing)} "
        f"split-brain samples={len(report.split_brain)} (of {chk.samples}) "
        f"instances re-created after coming back errant={bench.replaced} elapsed={elapsed:.1f}s",
        flush=True,
    )
    return {
        "failover_p50_s": round(pct(fo, 50), 3),
        "failover_p95_s": round(pct(fo, 95), 3),
        "switchover_p50_s": round(pct(so, 50), 3),
        "switchover_p95_s": round(pct(so, 95), 3),
        "lost_acknowledged_writes": len(report.missing),
        "acknowledged_writes": report.acknowledged,
        "split_brain_samples": len(report.split_brain),
        "failovers": len(fo),
        "switchovers": len(so),
        "tls": int(tls),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m moco.bench.failover", description=__doc__.splitlines()[0])
    ap.add_argument("--failovers", type=int, default=20)
    ap.add_argument("--switchovers", type=int, default=20)
    ap.add_argument("--log-level", default="WARNING")
    ap.add_argument("--no-tls", action="store_true", help="mysqld on its own certificates, the loop in clear")
    args = ap.parse_args(argv)
    setup(args.log_level, "console")
    result = asyncio.run(run(args.failovers, args.switchovers, tls=not args.no_tls))
    print(json.dumps(result), flush=True)
    ok = result["lost_acknowledged_writes"] == 0 and result["split_brain_samples"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
