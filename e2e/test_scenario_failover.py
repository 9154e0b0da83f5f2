"""Failover: mysqld of the primary dies; another instance becomes the primary, the cluster is
Healthy again and every acknowledged write is on every instance.

The primary's mysqld is stopped as MOCO's own e2e does it: ``kill 1`` in the mysqld container
(mysqld is the container's PID 1, MOCO's images run it as the entrypoint; a PID 1 ignores
SIGKILL sent from inside its own PID namespace, so the portable signal is SIGTERM). The
container then restarts; moco must not wait for it but fail over to a replica that holds every
acknowledged transaction (loss-less semi-synchronous replication).

On the local provider the same cluster then loses its primary's mysqld to a SIGKILL sent from
the host to the process in the container (:func:`e2e.local.faults.kill_container_process`): a
crash, with no shutdown at all, ``failover_sigkill_unavailable_s``.

Recorded: ``time_to_healthy_s`` of the new 3-instance cluster (and ``startup_timeline``, where
that time went, from :mod:`e2e.timeline`), ``failover_unavailable_s`` (from the last write
acknowledged by the old primary to the first acknowledged by the new one) and the time to
Healthy, as junit suite properties that ``e2e/summary.py`` puts on the summary line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl
from e2e.local import faults
from e2e.local import spec as local_spec
from e2e.mysql_access import access
from e2e.timeline import startup
from e2e.writes import assert_nothing_lost, through_primary_change

#: cluster creation (up to 10 minutes on a loaded machine) + the scenario.
pytestmark = pytest.mark.timeout(1500)

NAME = "failover"


@pytest.fixture(scope="module")
def k(kube: Kubectl, record_testsuite_property: Callable[[str, object], None]) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "failover") as k:
        mc.apply(k, mc.minimal(NAME, str(k.namespace), replicas=3))
        record_testsuite_property("time_to_healthy_s", round(mc.wait_healthy(k, NAME), 1))
        record_testsuite_property("startup_timeline", json.dumps(startup(k, NAME)))
        yield k


async def test_killed_primary_fails_over_without_losing_writes(
    k: Kubectl, record_testsuite_property: Callable[[str, object], None]
) -> None:
    def kill_mysqld(primary: int) -> None:
        k("exec", f"moco-{NAME}-{primary}", "-c", "mysqld", "--", "sh", "-c", "kill 1")

    with access(k, NAME) as acc:
        out = await through_primary_change(k, NAME, acc, kill_mysqld)
        record_testsuite_property("failover_route", acc.route)
    record_testsuite_property("failover_unavailable_s", out.unavailable_s)
    record_testsuite_property("failover_healthy_after_s", out.healthy_after_s)
    record_testsuite_property("failover_acknowledged", out.acknowledged)
    assert out.new_primary != out.old_primary
    assert_nothing_lost(k, NAME, out)
    roles = mc.roles(k, NAME)
    assert roles[f"moco-{NAME}-{out.new_primary}"] == "primary", roles
    assert sorted(roles.values()) == ["primary", "replica", "replica"], roles


@pytest.mark.local_provider
async def test_mysqld_crash_from_the_host_fails_over_without_losing_writes(
    k: Kubectl, record_testsuite_property: Callable[[str, object], None]
) -> None:
    spec = local_spec.current()

    def sigkill_mysqld(primary: int) -> None:
        faults.kill_container_process(spec, k.get("pod", f"moco-{NAME}-{primary}"), "mysqld", "mysqld")

    mc.wait_healthy(k, NAME)
    with access(k, NAME) as acc:
        out = await through_primary_change(k, NAME, acc, sigkill_mysqld, errant_old_primary=True)
    record_testsuite_property("failover_sigkill_unavailable_s", out.unavailable_s)
    record_testsuite_property("failover_sigkill_old_primary_reinitialized", out.reinitialized)
    record_testsuite_property("failover_sigkill_healthy_after_s", out.healthy_after_s)
    assert out.new_primary != out.old_primary
    assert_nothing_lost(k, NAME, out)
    roles = mc.roles(k, NAME)
    assert sorted(roles.values()) == ["primary", "replica", "replica"], roles
