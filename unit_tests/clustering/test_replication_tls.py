"""A replica replicating without TLS (configured by an older moco) is not in sync: the cluster is
not Healthy until the loop points it again, over TLS (decision table rows)."""

from __future__ import annotations

from dataclasses import replace

from moco.clustering.decide import decide, replica_in_sync
from moco.clustering.types import ClusterState, InstanceView, Operation, StatusSet

from .builders import healthy, with_instance


def _without_tls(i: int) -> StatusSet:
    ss = healthy(3)
    inst: InstanceView | None = ss.instances[i]
    assert inst is not None
    assert inst.replica is not None
    return with_instance(ss, i, replace(inst, replica=replace(inst.replica, tls=False)))


def test_a_replica_over_tls_is_in_sync() -> None:
    ss = healthy(3)
    assert replica_in_sync(ss, 1)
    d = decide(ss)
    assert d.state is ClusterState.HEALTHY
    assert d.operation is Operation.NONE


def test_a_replica_without_tls_is_not_in_sync_and_gets_configured() -> None:
    ss = _without_tls(1)
    assert not replica_in_sync(ss, 1)
    assert replica_in_sync(ss, 2)
    d = decide(ss)
    assert d.state is ClusterState.DEGRADED
    assert d.operation is Operation.CONFIGURE
