"""Compact builders of StatusSets for the decision tables (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from moco import constants
from moco.clustering.types import ClusterSpecView, InstanceView, PodInfo, ReplicaView, StatusSet

U = [f"{i:08x}-0000-0000-0000-000000000000" for i in range(1, 10)]
ERRANT_UUID = "eeeeeeee-0000-0000-0000-000000000000"
BASE = 1


def pod(i: int, **kw: Any) -> PodInfo:
    return PodInfo(name=f"moco-c-{i}", index=i, host="127.0.0.1", port=4000 + i, **kw)


def primary(gtid: str = f"{U[0]}:1-10", n: int = 3, idx: int = 0, **kw: Any) -> InstanceView:
    connected = tuple(BASE + j for j in range(n) if j != idx)
    base: dict[str, Any] = {
        "server_uuid": U[idx],
        "executed_gtid": gtid,
        "read_only": False,
        "super_read_only": False,
        "semisync_source_enabled": n > 1,
        "semisync_wait_count": n // 2 if n > 1 else 1,
        "replica_server_ids": connected,
    }
    base.update(kw)
    return InstanceView(**base)


def replica(
    i: int,
    of: int = 0,
    gtid: str = f"{U[0]}:1-10",
    io: bool = True,
    sql: bool = True,
    lag: int | None = 0,
    retrieved: str | None = None,
    **kw: Any,
) -> InstanceView:
    base: dict[str, Any] = {
        "server_uuid": U[i],
        "executed_gtid": gtid,
        "read_only": True,
        "super_read_only": True,
        "semisync_replica_enabled": True,
        "replica": ReplicaView(
            source_host="127.0.0.1",
            source_port=4000 + of,
            io_running=io,
            sql_running=sql,
            retrieved_gtid=gtid if retrieved is None else retrieved,
            lag_seconds=lag,
        ),
    }
    base.update(kw)
    return InstanceView(**base)


def healthy(n: int = 3, labelled: bool = True, **spec: Any) -> StatusSet:
    """A Healthy cluster of n instances with 0 as the primary."""
    c = ClusterSpecView(name="c", namespace="ns", replicas=n, server_id_base=BASE, **spec)
    pods = tuple(
        pod(i, role=(constants.ROLE_PRIMARY if i == 0 else constants.ROLE_REPLICA) if labelled else None)
        for i in range(n)
    )
    insts = tuple(primary(n=n) if i == 0 else replica(i) for i in range(n))
    return StatusSet(cluster=c, pods=pods, instances=insts)


def with_instance(ss: StatusSet, i: int, inst: InstanceView | None) -> StatusSet:
    insts = list(ss.instances)
    insts[i] = inst
    return replace(ss, instances=tuple(insts))


def with_pod(ss: StatusSet, i: int, p: PodInfo | None) -> StatusSet:
    pods = list(ss.pods)
    pods[i] = p
    return replace(ss, pods=tuple(pods))


def with_spec(ss: StatusSet, **kw: Any) -> StatusSet:
    return replace(ss, cluster=replace(ss.cluster, **kw))
