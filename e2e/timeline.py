"""Where the time to a Healthy new MySQLCluster goes, read back from the API after the fact.

Kubernetes keeps the moments that matter on the objects themselves (second resolution): the
cluster's and each Pod's creation, each claim's creation, the Pod conditions (scheduled — which
with a ``WaitForFirstConsumer`` class includes provisioning the volume —, sandbox ready, init
containers done, containers ready), each init container's start and end, each container's
start, and the cluster's own conditions. :func:`startup` turns them into seconds since the
cluster was created, per instance, plus the namespace's Events that carry a reason worth seeing
(image pulls, probes failing). Nothing is sampled while the cluster starts: the figures come
from the objects' own clocks (the control plane's, one host).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from e2e.kubectl import Kubectl

SELECTOR = "app.kubernetes.io/name=mysql,app.kubernetes.io/instance={name}"
CONDITIONS = ("PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _rel(value: str | None, t0: float) -> float | None:
    t = _ts(value)
    return None if t is None else round(t - t0, 1)


def pod_phases(pod: dict[str, Any], t0: float) -> dict[str, Any]:
    """Seconds since ``t0`` of each step of one Pod's start (pure)."""
    st = pod.get("status") or {}
    out: dict[str, Any] = {"created": _rel(pod["metadata"].get("creationTimestamp"), t0)}
    conds = {c["type"]: c for c in st.get("conditions") or []}
    for name in CONDITIONS:
        c = conds.get(name)
        out[name] = _rel(c.get("lastTransitionTime"), t0) if c and c.get("status") == "True" else None
    for cs in st.get("initContainerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated") or (cs.get("lastState") or {}).get("terminated")
        if term:
            out[f"init {cs['name']}"] = [_rel(term.get("startedAt"), t0), _rel(term.get("finishedAt"), t0)]
    for cs in st.get("containerStatuses") or []:
        run = (cs.get("state") or {}).get("running")
        out[f"start {cs['name']}"] = _rel(run.get("startedAt"), t0) if run else None
        if cs.get("restartCount"):
            out[f"restarts {cs['name']}"] = cs["restartCount"]
    return out


def startup(k: Kubectl, name: str) -> dict[str, Any]:
    """The start of MySQLCluster ``name``: per Pod and claim, seconds since its creation."""
    cluster = k.get("mysqlcluster", name)
    t0 = _ts(cluster["metadata"]["creationTimestamp"])
    assert t0 is not None
    out: dict[str, Any] = {}
    for c in (cluster.get("status") or {}).get("conditions") or []:
        if c.get("status") == "True":
            out[f"cluster {c['type']}"] = _rel(c.get("lastTransitionTime"), t0)
    for pod in sorted(
        k.get("pods", "-l", SELECTOR.format(name=name))["items"], key=lambda p: p["metadata"]["name"]
    ):
        out[pod["metadata"]["name"]] = pod_phases(pod, t0)
    for pvc in k.get("pvc")["items"]:
        if name in pvc["metadata"]["name"]:
            out[f"pvc {pvc['metadata']['name']}"] = _rel(pvc["metadata"].get("creationTimestamp"), t0)
    notable = []
    for ev in k.get("events")["items"]:
        reason = ev.get("reason", "")
        if reason in (
            "Pulling",
            "Pulled",
            "Unhealthy",
            "BackOff",
            "FailedScheduling",
            "ProvisioningSucceeded",
        ):
            when = ev.get("eventTime") or ev.get("firstTimestamp") or ev["metadata"].get("creationTimestamp")
            obj = ev.get("involvedObject", {}).get("name", "")
            notable.append([_rel(when, t0), obj, reason, (ev.get("message") or "")[:120], ev.get("count", 1)])
    out["events"] = sorted(notable, key=lambda e: e[0] if e[0] is not None else -1)
    return out
