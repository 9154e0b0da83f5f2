"""When the loop counts the primary's mysqld as crashed, and what it reads from a Pod (unit tier).

The loop remembers the primary's (Pod, uid, mysqld restartCount) while it sees it writable; the
same Pod with a restarted or stopped mysqld container and a primary that does not answer or is
read-only is evidence at once. A missing Pod, a re-created Pod (another uid), a not-ready Pod
and an unreadable primary are not.
"""

from __future__ import annotations

from dataclasses import replace

from moco.clustering.interfaces import Credentials
from moco.clustering.memory import MemoryKube, SQLCloneAgent
from moco.clustering.process import ClusterProcess
from moco.clustering.types import StatusSet
from moco.controllers.kubeside import pod_info

from .builders import healthy, pod, primary, with_instance, with_pod

CREDS = Credentials(admin="a", replication="r", clone_donor="d")


def process(ss: StatusSet) -> ClusterProcess:
    kube = MemoryKube(ss.cluster, [p for p in ss.pods if p is not None], CREDS)
    return ClusterProcess("default", "c", kube, SQLCloneAgent(CREDS))


def writable(restarts: int = 0, uid: str = "u1") -> StatusSet:
    return with_pod(healthy(3), 0, pod(0, role="primary", uid=uid, mysqld_restarts=restarts))


def read_only(ss: StatusSet) -> StatusSet:
    return with_instance(ss, 0, primary(read_only=True, super_read_only=True, replica_server_ids=()))


def restarted(ss: StatusSet, restarts: int = 1, uid: str = "u1", **kw: object) -> StatusSet:
    return with_pod(ss, 0, pod(0, role="primary", uid=uid, mysqld_restarts=restarts, **kw))


def test_a_restarted_container_with_a_read_only_primary_is_a_crash() -> None:
    p = process(writable())
    assert not p._primary_crashed(writable())
    assert p._primary_crashed(restarted(read_only(writable())))
    # and it stays evidence until the primary is seen writable again
    assert p._primary_crashed(restarted(read_only(writable())))
    assert not p._primary_crashed(writable(restarts=1))
    assert not p._primary_crashed(restarted(read_only(writable())))


def test_a_stopped_container_with_an_unreachable_primary_is_a_crash() -> None:
    p = process(writable())
    assert not p._primary_crashed(writable())
    down = with_instance(writable(), 0, None)
    assert not p._primary_crashed(down), "unreachable alone is for the tries over time"
    assert p._primary_crashed(restarted(down, restarts=0, mysqld_running=False, ready=False))


def test_a_restore_restarting_the_primary_is_no_crash() -> None:
    """The restore Job makes the primary writable (read_only=0) and may restart its mysqld; once
    status.restoredTime is set the primary is read-only until the loop configures it."""

    def restoring(ss: StatusSet) -> StatusSet:
        return replace(ss, cluster=replace(ss.cluster, restoring=True))

    p = process(writable())
    assert not p._primary_crashed(restoring(writable()))
    assert not p._primary_crashed(restoring(restarted(read_only(writable()))))
    assert not p._primary_crashed(restarted(read_only(writable())))  # restored: restoredTime set
    # a primary seen writable before the restore is forgotten as well
    q = process(writable())
    assert not q._primary_crashed(writable())
    assert not q._primary_crashed(restoring(read_only(writable())))
    assert not q._primary_crashed(restarted(read_only(writable())))


def test_what_is_no_evidence() -> None:
    p = process(writable())
    assert not p._primary_crashed(read_only(writable())), "nothing was seen writable yet"
    assert not p._primary_crashed(writable())
    # a restart that kubelet did not see (connections dropped): the primary is made writable again
    assert not p._primary_crashed(read_only(writable()))
    # a missing Pod, then a re-created one (another uid, count back to 0)
    assert not p._primary_crashed(with_pod(with_instance(writable(), 0, None), 0, None))
    assert not p._primary_crashed(
        restarted(read_only(writable()), restarts=0, uid="u2", mysqld_running=False)
    )
    # a Pod being deleted (a force rolling update, offline) stops its containers
    assert not p._primary_crashed(
        restarted(with_instance(writable(), 0, None), restarts=0, mysqld_running=False, deleting=True)
    )
    # a not-ready Pod whose mysqld answers writable
    p = process(writable())
    assert not p._primary_crashed(writable())
    assert not p._primary_crashed(restarted(writable(), restarts=0, ready=False))
    # an unreadable primary is unknown, not crashed
    ss = restarted(with_instance(writable(), 0, None))
    assert not p._primary_crashed(replace(ss, unreadable=frozenset({0})))
    # another primary index
    ss = restarted(read_only(writable()))
    assert not p._primary_crashed(replace(ss, cluster=replace(ss.cluster, current_primary_index=1)))


def test_pod_info_reads_the_mysqld_container() -> None:
    obj = {
        "metadata": {"name": "moco-c-0", "namespace": "ns", "uid": "abc"},
        "status": {
            "podIP": "10.0.0.1",
            "containerStatuses": [
                {"name": "agent", "restartCount": 7, "state": {"running": {}}},
                {"name": "mysqld", "restartCount": 2, "state": {"running": {"startedAt": "x"}}},
            ],
        },
    }
    info = pod_info(obj, "c")
    assert info is not None
    assert (info.uid, info.mysqld_restarts, info.mysqld_running) == ("abc", 2, True)
    obj["status"]["containerStatuses"][1]["state"] = {"terminated": {"exitCode": 137}}  # type: ignore[index]
    info = pod_info(obj, "c")
    assert info is not None
    assert (info.mysqld_restarts, info.mysqld_running) == (2, False)
    info = pod_info({"metadata": {"name": "moco-c-1"}}, "c")
    assert info is not None
    assert (info.uid, info.mysqld_restarts, info.mysqld_running) == ("", 0, False)
