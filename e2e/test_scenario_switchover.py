"""Switchover: the primary's Pod is annotated ``moco.cybozu.com/demote: "true"``; the primary
moves to another instance, the annotation is removed, the cluster is Healthy and every
acknowledged write is on every instance. The primary Service has no selector: its one
EndpointSlice (moco's) routes to the new primary alone, and no slice of Kubernetes' is left.

Recorded: ``switchover_unavailable_s`` (from the last write acknowledged by the old primary to
the first acknowledged by the new one), as a junit suite property for ``e2e/summary.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl
from e2e.mysql_access import access
from e2e.writes import assert_nothing_lost, through_primary_change

#: cluster creation (up to 10 minutes on a loaded machine) + the scenario.
pytestmark = pytest.mark.timeout(1500)

NAME = "switchover"
DEMOTE = "moco.cybozu.com/demote"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"


@pytest.fixture(scope="module")
def k(kube: Kubectl) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "switchover") as k:
        mc.apply(k, mc.minimal(NAME, str(k.namespace), replicas=3))
        mc.wait_healthy(k, NAME)
        yield k


async def test_demoted_primary_hands_over_without_losing_writes(
    k: Kubectl, record_testsuite_property: Callable[[str, object], None]
) -> None:
    def demote(primary: int) -> None:
        k("annotate", "pod", f"moco-{NAME}-{primary}", f"{DEMOTE}=true")

    with access(k, NAME) as acc:
        out = await through_primary_change(k, NAME, acc, demote)
        record_testsuite_property("switchover_route", acc.route)
    record_testsuite_property("switchover_unavailable_s", out.unavailable_s)
    record_testsuite_property("switchover_healthy_after_s", out.healthy_after_s)
    record_testsuite_property("switchover_acknowledged", out.acknowledged)
    assert out.new_primary != out.old_primary
    assert_nothing_lost(k, NAME, out)
    old_pod = k.get("pod", f"moco-{NAME}-{out.old_primary}")
    assert DEMOTE not in (old_pod["metadata"].get("annotations") or {}), "the demote annotation stayed"
    roles = mc.roles(k, NAME)
    assert roles[f"moco-{NAME}-{out.new_primary}"] == "primary", roles
    assert roles[f"moco-{NAME}-{out.old_primary}"] == "replica", roles
    svc = f"moco-{NAME}-primary"
    assert "selector" not in k.get("service", svc)["spec"]
    slices = k.get("endpointslices", "-l", f"kubernetes.io/service-name={svc}")["items"]
    routed = [
        (s["metadata"]["labels"][MANAGED_BY], e["targetRef"]["name"])
        for s in slices
        for e in s["endpoints"] or []
    ]
    assert routed == [("moco.cybozu.com", f"moco-{NAME}-{out.new_primary}")], routed
