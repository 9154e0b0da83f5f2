"""A replica whose source died while sending a transaction (mysql tier).

The relay log then ends inside a transaction that the applier's coordinator already handed to
a worker, and a plain STOP REPLICA waits 60 s for the rest, which never comes (measured: 60.9
s). Each pass of the clustering loop gave up after its statement timeout and tried again, so a
failover that had to re-point such a replica, or to promote it, stalled. ``ops.stop_replica``
stops the receiver, rolls the half-sent transaction back and returns at once; the transaction,
committed on its source, is fetched again whole from whichever source the replica follows next.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from moco.mysql import ops
from moco.mysql.conn import Connection, connect
from moco.mysql.gtid import GtidSet
from moco.mysql.status import get_replica_status, get_status
from moco.testing.mysqld import Mysqld
from unit_tests.fixtures.mysqld import MysqldFactory
from unit_tests.mysql.helpers import REPL_PASSWORD, REPL_USER, create_repl_user

pytestmark = pytest.mark.mysql

#: far below the 60 s a plain STOP REPLICA waits: a statement that waits for it fails the test
BOUND_S = 15.0
#: rows of the transaction cut in half (about 5 MB of row events)
ROWS = 20_000
#: bytes of it that reach the replica before the source dies
CUT_AFTER = 1_000_000


class Cutter:
    """A TCP relay between the replica and its source that stops passing the source's bytes
    once ``cut_after`` more of them went through after :meth:`arm`: the replica then holds
    exactly the first part of whatever the source was sending, as if the source had died."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.sent = 0
        self.limit: int | None = None
        self.cut = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def arm(self, cut_after: int) -> None:
        self.limit = self.sent + cut_after

    async def _serve(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection(*self.target)
        self.writers += [cw, sw]

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, from_source: bool) -> None:
            while data := await r.read(65536):
                if from_source:
                    if self.limit is not None and self.sent + len(data) > self.limit:
                        data = data[: max(self.limit - self.sent, 0)]
                        self.cut.set()
                    self.sent += len(data)
                w.write(data)
                await w.drain()
                if self.cut.is_set() and from_source:
                    await asyncio.Event().wait()  # nothing more from the source, ever

        await asyncio.gather(pipe(cr, sw, False), pipe(sr, cw, True), return_exceptions=True)

    async def close(self) -> None:
        for w in self.writers:
            w.transport.abort()
        if self.server is not None:
            self.server.close()


async def _queueing(r: Connection) -> str:
    row = await r.query_one(
        "SELECT QUEUEING_TRANSACTION AS q FROM performance_schema.replication_connection_status"
    )
    return str(row["q"]) if row is not None and row["q"] else ""


async def half_sent(src: Mysqld, rep: Mysqld, relay: Cutter) -> tuple[Connection, str]:
    """``rep`` replicating from ``src`` through ``relay``; ``src`` SIGKILLed once the first part
    of one large transaction reached ``rep``.

    Returns a connection to ``rep`` and the GTID of the half-received transaction; the
    receiver is stopped and the applier still runs, holding the first half.
    """
    port = await relay.start()
    s = await connect(src.endpoint(), query_timeout=120)
    r = await connect(rep.endpoint(), query_timeout=BOUND_S)
    for c in (s, r):
        await ops.install_plugins(c)
    await ops.set_writable(s)
    await create_repl_user(s)
    await ops.change_source(r, host="127.0.0.1", port=port, user=REPL_USER, password=REPL_PASSWORD)
    await ops.start_replica(r)
    await s.execute("CREATE DATABASE app")
    await s.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(200))")
    assert await ops.wait_for_gtid(r, (await get_status(s)).gtid_executed, timeout=30)
    relay.arm(CUT_AFTER)
    await s.execute("SET SESSION cte_max_recursion_depth = %s", (ROWS + 1,))
    await s.execute(
        "INSERT INTO app.t WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s)"
        " SELECT i, REPEAT('x', 200) FROM n",
        (ROWS,),
    )
    await asyncio.wait_for(relay.cut.wait(), 60)
    await s.close()
    src.kill()
    await relay.close()
    await r.execute("STOP REPLICA IO_THREAD")
    gtid = await _queueing(r)
    assert gtid, "precondition: the relay log ends inside a transaction"
    rs = await get_replica_status(r)
    assert rs is not None
    assert rs.sql_running
    assert not (GtidSet.parse(gtid) <= rs.retrieved_gtid_set)
    return r, gtid


async def test_stop_replica_does_not_wait_for_a_transaction_that_never_comes(
    mysqld_factory: MysqldFactory,
) -> None:
    src, rep = await mysqld_factory(2)
    r, gtid = await half_sent(src, rep, Cutter(src.host, src.port))
    try:
        t0 = time.monotonic()
        await ops.stop_replica(r)  # within the connection's BOUND_S, or Timeout
        took = time.monotonic() - t0
        rs = await get_replica_status(r)
        assert rs is not None
        assert (rs.io_running, rs.sql_running) == ("No", False)
        st = await get_status(r)
        assert not (GtidSet.parse(gtid) <= st.gtid_executed)  # rolled back, not committed
        assert await r.query("SELECT COUNT(*) AS n FROM app.t") == [{"n": 0}]
        # promotion: forget the source and take writes (the half's row locks are gone)
        await ops.reset_replica_all(r)
        await ops.set_writable(r)
        await r.execute("INSERT INTO app.t VALUES (1, 'after')", timeout=5)
        print(f"stop_replica took {took:.2f} s")
    finally:
        await r.close()


async def test_a_replica_holding_half_a_transaction_follows_a_new_source(
    mysqld_factory: MysqldFactory,
) -> None:
    src, rep = await mysqld_factory(2)
    r, gtid = await half_sent(src, rep, Cutter(src.host, src.port))
    try:
        src.start()  # the source comes back with the transaction committed (crash recovery)
        await src.wait_ready(60)
        async with await connect(src.endpoint()) as s:
            want = (await get_status(s)).gtid_executed
            rows = await s.query("SELECT COUNT(*) AS n FROM app.t")
        assert GtidSet.parse(gtid) <= want
        # what the clustering loop does to point a replica at a new primary
        await ops.change_source(r, host=src.host, port=src.port, user=REPL_USER, password=REPL_PASSWORD)
        await ops.start_replica(r)
        assert await ops.wait_for_gtid(r, want, timeout=60)
        assert await r.query("SELECT COUNT(*) AS n FROM app.t", timeout=30) == rows == [{"n": ROWS}]
    finally:
        await r.close()
