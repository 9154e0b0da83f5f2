"""Gather what one pass needs: the cluster, its Pods and every mysqld, concurrently and bounded.

Every mysqld is asked at the same time; each one gets ``status_retries`` tries (connect +
status under a timeout), whatever its Pod says: a not-ready or terminating Pod is no evidence
that mysqld is gone. An instance that does not answer is ``None`` in the
:class:`~moco.clustering.types.StatusSet`; one that answered but whose status could not be
read completely is ``None`` too and listed in ``unreadable``. The connections
that answered stay open in :class:`Gathered` for the operation of the same pass and are closed
by :meth:`Gathered.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from moco import constants
from moco.clustering.config import ProcessConfig
from moco.clustering.decide import find_errants
from moco.clustering.errors import GatherError
from moco.clustering.interfaces import Credentials
from moco.clustering.types import ClusterSpecView, InstanceView, PodInfo, ReplicaView, StatusSet
from moco.log import get_logger
from moco.mysql.conn import Connection, Endpoint, connect
from moco.mysql.errors import MySQLError, Unreachable
from moco.mysql.status import IncompleteStatus, InstanceStatus, get_status

log = get_logger("moco.clustering.gather")


def to_view(st: InstanceStatus) -> InstanceView:
    """Reduce the mysql layer's status to what decisions use."""
    rs = st.replica
    replica = None
    if rs is not None:
        replica = ReplicaView(
            source_host=rs.source_host,
            source_port=rs.source_port,
            io_running=rs.io_running == "Yes",
            io_connecting=rs.io_running == "Connecting",
            sql_running=rs.sql_running,
            retrieved_gtid=str(rs.retrieved_gtid_set),
            lag_seconds=rs.seconds_behind_source,
            last_io_errno=rs.last_io_errno,
            tls=rs.ssl_allowed,
            verified=rs.verifies_source,
            ca_file=rs.ssl_ca_file,
        )
    return InstanceView(
        server_uuid=st.server_uuid,
        executed_gtid=str(st.gtid_executed),
        purged_gtid=str(st.gtid_purged),
        read_only=st.read_only,
        super_read_only=st.super_read_only,
        semisync_source_enabled=st.semi_sync_source_enabled,
        semisync_wait_count=st.semi_sync_source_wait_count,
        semisync_wait_no_replica=st.semi_sync_source_wait_no_replica,
        semisync_replica_enabled=st.semi_sync_replica_enabled,
        replica=replica,
        replica_server_ids=tuple(r.server_id for r in st.connected_replicas),
        clone_state=st.clone.state if st.clone is not None else None,
    )


def admin_endpoint(pod: PodInfo, creds: Credentials) -> Endpoint:
    """How the operator reaches a mysqld: the admin port, as moco-admin; over TLS verified
    against the cluster's CA for the Pod's name when its mysqld serves moco's certificate
    (:mod:`moco.clustering.sourcetls`)."""
    ssl = creds.trust.context(pod.tls_name) if creds.trust is not None and pod.tls_name else None
    return Endpoint(pod.host, pod.admin_port, constants.ADMIN_USER, creds.admin, ssl=ssl)


@dataclass
class Gathered:
    """A pass's view plus the open connections to the instances that answered."""

    status: StatusSet
    conns: dict[int, Connection] = field(default_factory=dict)
    raw: dict[int, InstanceStatus] = field(default_factory=dict)

    async def close(self) -> None:
        """Close every connection (quietly)."""
        conns, self.conns = self.conns, {}
        for c in conns.values():
            with contextlib.suppress(Exception):
                await c.close()


def index_pods(cluster: ClusterSpecView, pods: Sequence[PodInfo]) -> tuple[PodInfo | None, ...]:
    """Pods by ordinal; missing ordinals and ordinals beyond ``replicas`` are dropped."""
    by_index: list[PodInfo | None] = [None] * cluster.replicas
    for p in pods:
        if 0 <= p.index < cluster.replicas:
            by_index[p.index] = p
    return tuple(by_index)


class Unreadable:
    """A mysqld answered, but its status could not be read completely: unknown, not gone."""

    def __init__(self, error: str) -> None:
        self.error = error


class NoAnswer:
    """A mysqld never answered; ``refused`` when every try was refused (nothing listens)."""

    def __init__(self, tries: int, refused: bool) -> None:
        self.tries = tries
        self.refused = refused


Probed = tuple[Connection, InstanceStatus] | Unreadable | NoAnswer


async def probe(pod: PodInfo, creds: Credentials, cfg: ProcessConfig, *, silent: bool = False) -> Probed:
    """Connect to a mysqld and read its status, with bounded retries: ``status_retries`` tries
    of ``connect_timeout``, or one of ``silent_connect_timeout`` for an instance known silent.
    A connection that answered and was then lost is no try: it is made again at once (once),
    so that a mysqld killed while its status was read counts as refused, not as silent.

    :class:`NoAnswer` if it never answers; :class:`Unreadable` when it answered but its status
    could not be read completely (see :class:`moco.mysql.status.IncompleteStatus`).
    """
    if not pod.host:
        # a Pod with no IP yet has no mysqld listening (and no name worth a DNS look-up: see
        # moco.controllers.kubeside.pod_info): one try, refused, without any network
        return NoAnswer(1, refused=True)
    # a not-ready or terminating Pod gets every try too: its Pod's state is no evidence
    tries = 1 if silent else max(cfg.status_retries, 1)
    connect_bound = cfg.silent_connect_timeout if silent else cfg.connect_timeout
    ep = admin_endpoint(pod, creds)
    unreadable: Unreadable | None = None
    refused = True
    attempt = 0
    lost_once = False
    while attempt < tries:
        conn: Connection | None = None
        try:
            conn = await connect(ep, timeout=connect_bound, query_timeout=cfg.query_timeout)
            st = await get_status(conn)
            return conn, st
        except Exception as e:
            lost = conn is not None and isinstance(e, Unreachable) and not e.refused
            if conn is not None:
                await conn.close()
            if not isinstance(e, MySQLError):
                log.warning("unexpected error reading a mysqld's status", pod=pod.name, error=repr(e))
                return Unreadable(repr(e))
            if lost and not lost_once:
                # it answered, then the connection was lost (mysqld died meanwhile, or a
                # blip): that says nothing about why; the reconnect at once says (as the watch)
                lost_once = True
                log.info("connection to mysqld lost: trying again at once", pod=pod.name, error=str(e))
                continue
            unreadable = Unreadable(str(e)) if isinstance(e, IncompleteStatus) else None
            refused = refused and isinstance(e, Unreachable) and e.refused
            attempt += 1
            log.info("mysqld did not answer", pod=pod.name, attempt=attempt, error=str(e))
            if attempt < tries:
                await asyncio.sleep(cfg.status_retry_interval)
    return unreadable or NoAnswer(tries, refused)


async def reread(g: Gathered, cluster: ClusterSpecView) -> Gathered:
    """The instances of ``g`` read again over its open connections, seen from ``cluster``.

    For the pass that just moved the primary (``cluster`` carries the index it wrote): the
    instances that answered are asked again, at once; the others stay unknown as they were.
    The connections are ``g``'s (closed with it). A status that cannot be read raises.
    """
    order = sorted(g.conns)
    sts = await asyncio.gather(*(get_status(g.conns[i]) for i in order))
    raw = dict(zip(order, sts, strict=True))
    old = g.status
    views = tuple(to_view(raw[i]) if i in raw else None for i in range(len(old.pods)))
    status = StatusSet(
        cluster=cluster,
        pods=old.pods,
        instances=views,
        errants=find_errants(cluster.current_primary_index, views, cluster.errant_replica_list),
        unreadable=old.unreadable - set(raw),
        refused=old.refused - set(raw),
    )
    return Gathered(status=status, conns=g.conns, raw=raw)


async def gather(
    cluster: ClusterSpecView,
    pods: Sequence[PodInfo],
    creds: Credentials,
    cfg: ProcessConfig,
    *,
    once: frozenset[int] = frozenset(),
) -> Gathered:
    """Ask every mysqld of the cluster at once; decide nothing.

    The instances in ``once`` are known silent (they did not answer the last pass, or the
    primary watch counts failed tries of the primary): one short try each (see
    ``ProcessConfig.silent_connect_timeout``).
    """
    primary = cluster.current_primary_index
    if not 0 <= primary < cluster.replicas:
        # never read as another index: that could make a replica writable next to the primary
        raise GatherError(f"primary index {primary} names no instance of {cluster.replicas}")
    by_index = index_pods(cluster, pods)

    async def one(i: int, pod: PodInfo | None) -> Probed | None:
        return None if pod is None else await probe(pod, creds, cfg, silent=i in once)

    # every probe finishes before this returns, and the connections of the probes that answered
    # are closed if this is cancelled: none is left open
    tasks = [asyncio.ensure_future(one(i, p)) for i, p in enumerate(by_index)]
    try:
        results = await asyncio.gather(*tasks, return_exceptions=True)
    except BaseException:
        for t in tasks:
            if t.done() and not t.cancelled() and t.exception() is None:
                done = t.result()
                if isinstance(done, tuple):
                    with contextlib.suppress(Exception):
                        await done[0].close()
        raise
    out = Gathered(status=StatusSet(cluster=cluster, pods=by_index, instances=()))
    views: list[InstanceView | None] = []
    unreadable: set[int] = set()
    refused: set[int] = set()
    failure: BaseException | None = None
    for i, res in enumerate(results):
        if isinstance(res, BaseException):
            failure = failure or res
            views.append(None)
            continue
        if isinstance(res, Unreadable | NoAnswer) or res is None:
            if isinstance(res, Unreadable):
                log.warning("status of a mysqld is unreadable", index=i, error=res.error)
                unreadable.add(i)
            elif isinstance(res, NoAnswer) and res.refused:
                refused.add(i)
            views.append(None)
            continue
        conn, st = res
        out.conns[i] = conn
        out.raw[i] = st
        views.append(to_view(st))
    if failure is not None:
        await out.close()
        raise failure
    errants = find_errants(primary, views, cluster.errant_replica_list)
    out.status = StatusSet(
        cluster=cluster,
        pods=by_index,
        instances=tuple(views),
        errants=errants,
        unreadable=frozenset(unreadable),
        refused=frozenset(refused),
    )
    return out
