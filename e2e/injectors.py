"""The machine failures of ``make e2e-chaos``, each as an injector acting on a primary's Pod and
its node, with the way to undo it.

Every injector acts from the host through :mod:`e2e.local.faults` (the local provider's nodes
are processes and namespaces of this machine), except ``kill_1``, which is MOCO's own e2e fault:
``kill 1`` in the mysqld container (mysqld is PID 1 there; from inside its own PID namespace it
can only be asked to stop, so this is a graceful shutdown, kept to compare with MOCO).

``inject`` returns an undo callable; ``hold_s`` is how long the fault stays after writes resumed
(a frozen or cut-off former primary must outlive the failover to wake up believing it is the
primary), and ``node_level`` says whether the whole node is hit. The leading moco-controller
must then not run there (the chaos run moves the primary away from the leader's node first),
except for ``operator_loss``: the primary is moved *onto* the leader's node (``on_leader``) and
that node is lost, so the failover it needs can only be done by the standby controller once the
leader's Lease has expired (``moco.kube.leaderelection``: 15 s).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from e2e.kubectl import Kubectl
from e2e.local import faults
from e2e.local.spec import ClusterSpec

Undo = Callable[[], None]


@dataclass(frozen=True)
class Injector:
    name: str
    node_level: bool
    hold_s: float
    _inject: Callable[[ClusterSpec, Kubectl, dict[str, Any]], Undo]
    #: the primary shares the leading controller's node when the fault strikes (else, for a
    #: node-level fault, it must not).
    on_leader: bool = False

    def inject(self, spec: ClusterSpec, k: Kubectl, pod: dict[str, Any]) -> Undo:
        return self._inject(spec, k, pod)


def _nothing() -> None:
    return None


def _sigkill_mysqld(spec: ClusterSpec, k: Kubectl, pod: dict[str, Any]) -> Undo:
    faults.kill_container_process(spec, pod, "mysqld", "mysqld")
    return _nothing  # kubelet restarts the container


def _kill_1(spec: ClusterSpec, k: Kubectl, pod: dict[str, Any]) -> Undo:
    # Returns once the signal is sent: the graceful stop goes on in the container.
    k("exec", pod["metadata"]["name"], "-c", "mysqld", "--", "sh", "-c", "kill 1", timeout=30)
    return _nothing


def _node_loss(spec: ClusterSpec, k: Kubectl, pod: dict[str, Any]) -> Undo:
    name = pod["spec"]["nodeName"]
    faults.lose_node(spec, name)
    return lambda: faults.restore_node(spec, name)


def _partition(spec: ClusterSpec, k: Kubectl, pod: dict[str, Any]) -> Undo:
    name = pod["spec"]["nodeName"]
    faults.partition(spec, name)
    return lambda: faults.heal(spec, name)


def _freeze(spec: ClusterSpec, k: Kubectl, pod: dict[str, Any]) -> Undo:
    name = pod["spec"]["nodeName"]
    frozen = faults.freeze(spec, name)
    return lambda: faults.thaw(spec, name, frozen)


INJECTORS: dict[str, Injector] = {
    i.name: i
    for i in (
        Injector("mysqld_sigkill", node_level=False, hold_s=0.0, _inject=_sigkill_mysqld),
        Injector("node_loss", node_level=True, hold_s=3.0, _inject=_node_loss),
        Injector("partition", node_level=True, hold_s=3.0, _inject=_partition),
        Injector("freeze", node_level=True, hold_s=3.0, _inject=_freeze),
        Injector("kill_1", node_level=False, hold_s=0.0, _inject=_kill_1),
        Injector("operator_loss", node_level=True, hold_s=3.0, _inject=_node_loss, on_leader=True),
    )
}


def run_undo(undo: Undo) -> None:
    """Undo a fault; a failure to undo is fatal to the run (the cluster would stay broken)."""
    try:
        undo()
    except (faults.FaultError, subprocess.SubprocessError, OSError) as e:
        raise AssertionError(f"undoing the fault failed: {e}") from e
