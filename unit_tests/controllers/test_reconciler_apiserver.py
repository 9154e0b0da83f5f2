"""The reconciler against a real kube-apiserver (+ kube-controller-manager for garbage collection).

The controller runs in-process (manager, informers, work queue, SSA) as the operator would;
the clustering loops are replaced by a recorder (no mysqld in this tier).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from moco import constants
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.controllers.statefulset import ANN_TEMPLATE_HASH
from moco.kube.client import Client
from moco.kube.metrics import RECONCILE_TOTAL
from moco.kube.resource import (
    CONFIGMAPS,
    EVENTS,
    PERSISTENTVOLUMECLAIMS,
    PODDISRUPTIONBUDGETS,
    SECRETS,
    SERVICEACCOUNTS,
    SERVICES,
    STATEFULSETS,
)
from moco.testing.envtest import Envtest
from unit_tests.clustering.test_metrics import series
from unit_tests.controllers.harness import (
    Recorder,
    cluster_manifest,
    condition,
    eventually,
    get_or_none,
    running_controller,
)

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(300)]

SELECTOR = f"{constants.LABEL_APP_INSTANCE}=test,{constants.LABEL_APP_CREATED_BY}=moco"


async def owned_names(kube: Client, ns: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for res in (STATEFULSETS, SERVICES, SECRETS, CONFIGMAPS, SERVICEACCOUNTS, PODDISRUPTIONBUDGETS):
        items, _ = await kube.list_all(res, ns, label_selector=SELECTOR)
        out[res.plural] = {i["metadata"]["name"] for i in items}
    return out


async def reconciled(kube: Client, ns: str, name: str = "test") -> dict[str, Any] | None:
    obj = await kube.get(MYSQLCLUSTERS, name, ns)
    info = (obj.get("status") or {}).get("reconcileInfo") or {}
    ok = condition(obj, "ReconcileSuccess")
    if info.get("generation") == obj["metadata"]["generation"] and ok and ok["status"] == "True":
        return obj
    return None


async def test_create_update_delete(
    controller_manager: Envtest, kube: Client, namespace: str, sysns: str
) -> None:
    ns = namespace
    await kube.create(
        CONFIGMAPS,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "mycnf", "namespace": ns},
            "data": {"long_query_time": "5"},
        },
    )
    registry = Recorder()
    async with running_controller(
        controller_manager.kubeconfig, sysns, watch_namespace=ns, registry=registry
    ):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, mysqlConfigMapName="mycnf"))
        cluster = await eventually(lambda: reconciled(kube, ns), "first reconcile")
        uid = cluster["metadata"]["uid"]

        # defaults written back once: a server ID base and the finalizer
        assert cluster["spec"]["serverIDBase"] > 0
        assert constants.FINALIZER in cluster["metadata"]["finalizers"]
        for t in ("ReconcileSuccess", "ReconciliationActive"):
            assert condition(cluster, t)["status"] == "True"  # type: ignore[index]
        assert condition(cluster, "StatefulSetReady") is not None

        # exactly MOCO's objects, each owned by the cluster
        names = await owned_names(kube, ns)
        mycnf = next(n for n in names["configmaps"] if n.startswith("moco-test.") and "slow" not in n)
        assert names == {
            "statefulsets": {"moco-test"},
            "services": {"moco-test", "moco-test-primary", "moco-test-replica"},
            "secrets": {"moco-test", "moco-my-cnf-test", "moco-test-grpc", "moco-test-mysql-tls"},
            "configmaps": {mycnf, next(n for n in names["configmaps"] if n.startswith("moco-slow-log-"))},
            "serviceaccounts": {"moco-test"},
            "poddisruptionbudgets": {"moco-test"},
        }
        for res, items in names.items():
            for n in items:
                obj = await kube.get(
                    next(
                        r
                        for r in (
                            STATEFULSETS,
                            SERVICES,
                            SECRETS,
                            CONFIGMAPS,
                            SERVICEACCOUNTS,
                            PODDISRUPTIONBUDGETS,
                        )
                        if r.plural == res
                    ),
                    n,
                    ns,
                )
                refs = obj["metadata"]["ownerReferences"]
                assert [(r["uid"], r["controller"]) for r in refs] == [(uid, True)], (res, n)
        pdb = await kube.get(PODDISRUPTIONBUDGETS, "moco-test", ns)
        assert pdb["spec"]["maxUnavailable"] == 1
        cm = await kube.get(CONFIGMAPS, mycnf, ns)
        assert "long_query_time = 5" in cm["data"]["my.cnf"]

        # the source of truth in the controller's namespace; the user copy equals it
        src = await kube.get(SECRETS, f"mysql-{ns}.test", sysns)
        user = await kube.get(SECRETS, "moco-test", ns)
        assert "ownerReferences" not in src["metadata"]
        for key in ("ADMIN_PASSWORD", "REPLICATION_PASSWORD", "BACKUP_PASSWORD", "MOCO_AGENT_TOKEN"):
            assert user["data"][key] == src["data"][key]
            assert len(base64.b64decode(src["data"][key])) == 32
        sts = await kube.get(STATEFULSETS, "moco-test", ns)
        assert sts["spec"]["podManagementPolicy"] == "Parallel"
        assert sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == 0
        first_hash = sts["metadata"]["annotations"][ANN_TEMPLATE_HASH]
        assert "test" in {n for _, n in registry.updates}

        # a my.cnf change: new ConfigMap name, the template names it, a partitioned rollout starts
        await kube.patch(CONFIGMAPS, "mycnf", {"data": {"long_query_time": "7"}}, ns)

        async def rolled() -> dict[str, Any] | None:
            s = await kube.get(STATEFULSETS, "moco-test", ns)
            vols = {v["name"]: v for v in s["spec"]["template"]["spec"]["volumes"]}
            return s if vols["mysql-conf"]["configMap"]["name"] != mycnf else None

        sts = await eventually(rolled, "template names the new my.cnf")
        new_cm = sts["spec"]["template"]["spec"]["volumes"]
        new_name = next(v for v in new_cm if v["name"] == "mysql-conf")["configMap"]["name"]
        assert "long_query_time = 7" in (await kube.get(CONFIGMAPS, new_name, ns))["data"]["my.cnf"]
        assert sts["metadata"]["annotations"][ANN_TEMPLATE_HASH] != first_hash
        assert sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == 3
        assert await get_or_none(kube, CONFIGMAPS, mycnf, ns) is not None  # kept: history

        # offline: no Pods, so no PDB
        await kube.patch(MYSQLCLUSTERS, "test", {"spec": {"offline": True}}, ns)
        await eventually(
            lambda: _none(get_or_none(kube, PODDISRUPTIONBUDGETS, "moco-test", ns)), "PDB removed"
        )
        assert (await kube.get(STATEFULSETS, "moco-test", ns))["spec"]["replicas"] == 0

        # deletion: the finalizer removes the Secret outside the namespace, GC the rest
        await kube.delete(MYSQLCLUSTERS, "test", ns)
        await eventually(lambda: _none(get_or_none(kube, MYSQLCLUSTERS, "test", ns)), "cluster gone")
        assert await get_or_none(kube, SECRETS, f"mysql-{ns}.test", sysns) is None
        assert (ns, "test") in registry.stops

        async def all_gone() -> bool:
            names = await owned_names(kube, ns)
            pvcs, _ = await kube.list_all(PERSISTENTVOLUMECLAIMS, ns)
            return not any(names.values()) and not pvcs

        await eventually(all_gone, "garbage collected", within=60)


async def _none(aw: Any) -> bool:
    return (await aw) is None


async def test_reconciliation_stopped_freezes_objects(
    apiserver: Envtest, kube: Client, namespace: str, sysns: str
) -> None:
    ns = namespace
    async with running_controller(apiserver.kubeconfig, sysns, watch_namespace=ns):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=3))
        await eventually(lambda: reconciled(kube, ns), "first reconcile")
        before = await kube.get(STATEFULSETS, "moco-test", ns)

        ann = {"metadata": {"annotations": {constants.ANN_RECONCILIATION_STOPPED: "true"}}}
        await kube.patch(MYSQLCLUSTERS, "test", ann, ns)
        await kube.patch(MYSQLCLUSTERS, "test", {"spec": {"replicas": 5}}, ns)

        async def inactive() -> dict[str, Any] | None:
            obj = await kube.get(MYSQLCLUSTERS, "test", ns)
            c = condition(obj, "ReconciliationActive")
            return obj if c and c["status"] == "False" else None

        await eventually(inactive, "ReconciliationActive=False")
        assert series("test", ns)["moco_cluster_reconciliation_stopped"] == 1
        after = await kube.get(STATEFULSETS, "moco-test", ns)
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert after["spec"]["replicas"] == 3

        await kube.patch(
            MYSQLCLUSTERS,
            "test",
            {"metadata": {"annotations": {constants.ANN_RECONCILIATION_STOPPED: None}}},
            ns,
        )

        async def resumed() -> bool:
            s = await kube.get(STATEFULSETS, "moco-test", ns)
            return bool(s["spec"]["replicas"] == 5)

        await eventually(resumed, "reconciliation resumed")
        obj = await eventually(lambda: reconciled(kube, ns), "reconciled again")
        assert condition(obj, "ReconciliationActive")["status"] == "True"  # type: ignore[index]
        assert series("test", ns)["moco_cluster_reconciliation_stopped"] == 0


async def test_claim_template_change_recreates_statefulset(
    controller_manager: Envtest, kube: Client, namespace: str, sysns: str
) -> None:
    # an orphaning delete needs the garbage collector to drop its "orphan" finalizer
    ns = namespace
    async with running_controller(controller_manager.kubeconfig, sysns, watch_namespace=ns):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=3, offline=True))
        await eventually(lambda: reconciled(kube, ns), "first reconcile")
        sts = await kube.get(STATEFULSETS, "moco-test", ns)
        assert sts["spec"]["replicas"] == 0  # offline: no Pods, claims kept
        vct = cluster_manifest(ns)["spec"]["volumeClaimTemplates"]
        vct[0]["spec"]["resources"]["requests"]["storage"] = "2Gi"
        await kube.patch(MYSQLCLUSTERS, "test", {"spec": {"volumeClaimTemplates": vct}}, ns)

        async def recreated() -> dict[str, Any] | None:
            s = await get_or_none(kube, STATEFULSETS, "moco-test", ns)
            return s if s and s["metadata"]["uid"] != sts["metadata"]["uid"] else None

        new = await eventually(recreated, "StatefulSet re-created")
        assert new["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi"
        events, _ = await kube.list_all(EVENTS, ns)
        assert "StatefulSetRecreated" in {e["reason"] for e in events}
        got = series("test", ns)
        assert got["moco_cluster_statefulset_recreate_total"] == 1
        assert got["moco_cluster_statefulset_recreate_errors_total"] == 0

        # back online: replicas come back, data claims untouched by offline
        await kube.patch(MYSQLCLUSTERS, "test", {"spec": {"offline": False}}, ns)

        async def online() -> bool:
            return bool((await kube.get(STATEFULSETS, "moco-test", ns))["spec"]["replicas"] == 3)

        await eventually(online, "back online")

        # the StatefulSet controller made claims of 2Gi; growing them needs an expandable class
        async def claims() -> bool:
            pvcs, _ = await kube.list_all(PERSISTENTVOLUMECLAIMS, ns)
            return len(pvcs) == 3

        await eventually(claims, "claims made", within=60)

        async def ok_with_template(size: str) -> dict[str, Any] | None:
            obj = await reconciled(kube, ns)
            s = await get_or_none(kube, STATEFULSETS, "moco-test", ns)
            if obj is None or s is None:
                return None
            got = s["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
            return s if got == size else None

        # a shrink is accepted as in MOCO: the StatefulSet is re-created with the smaller
        # template, the claims keep their size, and the rest of the reconcile runs
        await kube.delete(PODDISRUPTIONBUDGETS, "moco-test", ns)
        vct[0]["spec"]["resources"]["requests"]["storage"] = "1Gi"
        await kube.patch(MYSQLCLUSTERS, "test", {"spec": {"volumeClaimTemplates": vct}}, ns)
        current = await eventually(lambda: ok_with_template("1Gi"), "shrink accepted")
        assert await get_or_none(kube, PODDISRUPTIONBUDGETS, "moco-test", ns) is not None
        pvcs, _ = await kube.list_all(PERSISTENTVOLUMECLAIMS, ns)
        assert {p["spec"]["resources"]["requests"]["storage"] for p in pvcs} == {"2Gi"}
        events, _ = await kube.list_all(EVENTS, ns)
        kept = [e["message"] for e in events if e["reason"] == "VolumeClaimKept"]
        assert len(kept) == 3
        assert all("keeps 2Gi" in m for m in kept)

        # growth on a class that cannot expand: the StatefulSet still follows the spec (new
        # claims get the new size, as MOCO), the claims keep theirs, and the reconcile says why
        vct[0]["spec"]["resources"]["requests"]["storage"] = "3Gi"
        await kube.patch(MYSQLCLUSTERS, "test", {"spec": {"volumeClaimTemplates": vct}}, ns)

        async def refused() -> dict[str, Any] | None:
            obj = await kube.get(MYSQLCLUSTERS, "test", ns)
            c = condition(obj, "ReconcileSuccess")
            s = await get_or_none(kube, STATEFULSETS, "moco-test", ns)
            grown = s is not None and s["metadata"]["uid"] != current["metadata"]["uid"]
            return c if grown and c and c["status"] == "False" else None

        c = await eventually(refused, "growth refused")
        assert series("test", ns)["moco_cluster_volume_resized_errors_total"] >= 1
        assert c["reason"] == "Refused"
        assert "does not allow volume expansion" in c["message"]
        assert "allowVolumeExpansion: true" in c["message"]
        after = await kube.get(STATEFULSETS, "moco-test", ns)
        assert after["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "3Gi"
        pvcs, _ = await kube.list_all(PERSISTENTVOLUMECLAIMS, ns)
        assert {p["spec"]["resources"]["requests"]["storage"] for p in pvcs} == {"2Gi"}


async def test_invalid_spec_is_reported(apiserver: Envtest, kube: Client, namespace: str, sysns: str) -> None:
    ns = namespace
    async with running_controller(apiserver.kubeconfig, sysns, watch_namespace=ns):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, mysqlConfigMapName="absent"))

        async def failed() -> dict[str, Any] | None:
            obj = await kube.get(MYSQLCLUSTERS, "test", ns)
            c = condition(obj, "ReconcileSuccess")
            return obj if c and c["status"] == "False" else None

        obj = await eventually(failed, "ReconcileSuccess=False")
        c = condition(obj, "ReconcileSuccess")
        assert c is not None
        assert c["reason"] == "InvalidSpec"
        assert "absent" in c["message"]

        async def warned() -> bool:
            # the Event follows the status write (the reconcile writes its status first)
            events, _ = await kube.list_all(EVENTS, ns)
            return any(e["reason"] == "InvalidSpec" and e["type"] == "Warning" for e in events)

        await eventually(warned, "an InvalidSpec Warning Event")
        # creating the ConfigMap lets the reconcile through (the ConfigMap event requeues it)
        await kube.create(
            CONFIGMAPS,
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "absent", "namespace": ns}},
        )
        await eventually(lambda: reconciled(kube, ns), "reconciled once the ConfigMap exists")


def _reconciles() -> float:
    return sum(
        m.value
        for metric in RECONCILE_TOTAL.collect()
        for m in metric.samples
        if m.name.endswith("_total") and m.labels.get("controller") == "mysqlcluster"
    )


async def _settled(within: float = 60.0) -> None:
    """Until no reconcile has run for 2 s (the events of the objects just written are handled)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last, since = _reconciles(), loop.time()
    while loop.time() - since < 2.0:
        assert loop.time() < deadline, "reconciles never settled"
        await asyncio.sleep(0.2)
        if (now := _reconciles()) != last:
            last, since = now, loop.time()


async def test_a_reconcile_that_changes_nothing_writes_nothing(
    apiserver: Envtest, kube: Client, namespace: str, sysns: str
) -> None:
    ns = namespace
    async with running_controller(apiserver.kubeconfig, sysns, watch_namespace=ns) as w:
        writes: list[str] = []
        client = w.reconciler.client
        apply, replace = client.apply, client.replace

        async def counted_apply(res: Any, obj: Any, *a: Any, **kw: Any) -> Any:
            writes.append(f"apply {res.plural}/{obj['metadata']['name']}")
            return await apply(res, obj, *a, **kw)

        async def counted_replace(res: Any, obj: Any, *a: Any, **kw: Any) -> Any:
            writes.append(f"replace {res.plural}/{obj['metadata']['name']}")
            return await replace(res, obj, *a, **kw)

        client.apply = counted_apply  # type: ignore[method-assign]
        client.replace = counted_replace  # type: ignore[method-assign]
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns))
        await eventually(lambda: reconciled(kube, ns), "first reconcile")
        await _settled()
        assert writes, "the first reconcile applied nothing?"

        # an event that changes nothing moco renders: a reconcile runs and sends no write
        writes.clear()
        before = _reconciles()
        await kube.patch(MYSQLCLUSTERS, "test", {"metadata": {"annotations": {"example.com/x": "1"}}}, ns)
        await eventually(lambda: _async(_reconciles() > before), "a reconcile")
        await _settled()
        assert writes == []

        # a field added to the spec reaches the StatefulSet, and so does its removal (the
        # fingerprint: a cached object that still holds a field moco no longer sets is applied)
        def template_labels(sts: dict[str, Any]) -> dict[str, str]:
            return dict(sts["spec"]["template"]["metadata"].get("labels") or {})

        await kube.patch(
            MYSQLCLUSTERS, "test", {"spec": {"podTemplate": {"metadata": {"labels": {"team": "a"}}}}}, ns
        )

        async def labelled(want: bool) -> bool:
            sts = await kube.get(STATEFULSETS, "moco-test", ns)
            return ("team" in template_labels(sts)) is want

        await eventually(lambda: labelled(True), "label applied")
        await kube.patch(MYSQLCLUSTERS, "test", {"spec": {"podTemplate": {"metadata": {"labels": None}}}}, ns)
        await eventually(lambda: labelled(False), "label removed")

        # a field moco owns changed by hand is put back
        label = constants.LABEL_APP_NAME
        svc = await kube.get(SERVICES, "moco-test-primary", ns)
        assert svc["metadata"]["labels"][label] == constants.APP_NAME_MYSQL
        await kube.patch(SERVICES, "moco-test-primary", {"metadata": {"labels": {label: "edited"}}}, ns)

        async def restored() -> bool:
            s = await kube.get(SERVICES, "moco-test-primary", ns)
            return bool(s["metadata"]["labels"][label] == constants.APP_NAME_MYSQL)

        await eventually(restored, "Service label put back")


async def _async(value: bool) -> bool:
    return value
