"""Guards of the loop against views it must not act on (unit tier, in-memory Kubernetes side).

The Pods point at a loopback port where nothing listens, as in test_loop.py.
"""

from __future__ import annotations

from moco.clustering.interfaces import COND_AVAILABLE, COND_HEALTHY
from moco.clustering.memory import SQLCloneAgent
from moco.clustering.process import ClusterProcess

from .test_loop import CFG, CREDS, kube


async def test_out_of_range_primary_index_is_refused_with_a_condition_and_an_event() -> None:
    k = kube(n=3)
    k.status.current_primary_index = 5
    proc = ClusterProcess("ns", "c", k, SQLCloneAgent(CREDS), CFG)
    for _ in range(2):
        assert await proc.run_once() is False
    # no decision is made from a primary index that names no instance (it is not read as 0)
    assert proc.last.decision is None
    cond = k.condition(COND_HEALTHY)
    assert cond is not None
    assert not cond.status
    assert cond.reason == "InvalidPrimaryIndex"
    assert "5" in cond.message
    avail = k.condition(COND_AVAILABLE)
    assert avail is not None
    assert not avail.status
    assert k.reasons() == ["InvalidPrimaryIndex"], "one Event, not one per pass"
    assert k.status.current_primary_index == 5
