"""The StatefulSet of a cluster (pure rendering), with the decisions about how a change rolls out.

Rendering: :func:`pod_template` and :func:`statefulset` shape MOCO's StatefulSet: ``Parallel``
Pod management, the headless Service, the cluster's volume claim templates (owned by the
cluster, so garbage collection removes the claims with it), MOCO's volumes, the agent's
certificate Secret and (reconcile version 3) mysqld's certificate Secret mounted (never their
content, so a renewal restarts nothing), a Pod security
context at the ``restricted`` level (:mod:`~moco.controllers.podsecurity`; fsGroup 10000) and
a preferred anti-affinity across hosts when the user gave no affinity,
``terminationGracePeriodSeconds`` 300 unless set, and 0 replicas when ``offline``.

Decisions (pure, over the live object):

* :func:`decide_partition`: a changed Pod template starts a partitioned rolling update
  (``partition = replicas``: no Pod is replaced until the partition controller lowers it one
  step at a time while the cluster is healthy); an unchanged one keeps the live partition; the
  ``moco.cybozu.com/force-rolling-update`` annotation rolls every Pod at once (partition 0).
  The rendered template's hash is kept in :data:`ANN_TEMPLATE_HASH` on the StatefulSet.
* which images: those configured, or at reconcile version 1 the agent image the cluster runs
  (:mod:`~moco.controllers.reconcileversion`: a cluster keeps its rendering until its spec
  changes, so an operator upgrade restarts no mysqld).
* :func:`needs_recreate`: volume claim templates are immutable in a StatefulSet; when they
  change, the StatefulSet is deleted with ``propagationPolicy: Orphan`` (Pods and claims stay)
  and created again. Their hash is kept in :data:`ANN_CLAIMS_HASH`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Final

from moco import constants
from moco.api import MySQLCluster, names
from moco.controllers import reconcileversion
from moco.controllers.common import Obj, is_true, labels, object_meta, owner_reference
from moco.controllers.containers import DEFAULT_SECURITY, Images, containers
from moco.controllers.podsecurity import SecurityDefaults, pod_context

DEFAULT_TERMINATION_GRACE_SECONDS: Final = 300
ANN_TEMPLATE_HASH: Final = "moco.cybozu.com/pod-template-hash"
ANN_CLAIMS_HASH: Final = "moco.cybozu.com/volume-claims-hash"
FILE_MODE: Final = 0o644
#: the agent's certificate and key: readable by the Pod's fsGroup (moco's 10000), no one else
PRIVATE_FILE_MODE: Final = 0o440


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _empty_dir(name: str) -> Obj:
    return {"name": name, "emptyDir": {}}


def volumes(
    cluster: MySQLCluster, mycnf_name: str, slow_log_name: str | None, *, moco_tls: bool = False
) -> list[Obj]:
    """The user's volumes, then moco's (MOCO's names; with ``moco_tls``, mysqld's certificate)."""
    out = [copy.deepcopy(v) for v in cluster.spec.pod_template.spec.get("volumes") or []]
    out += [
        _empty_dir(constants.TMP_VOLUME),
        _empty_dir(constants.RUN_VOLUME),
        _empty_dir(constants.VAR_LOG_VOLUME),
        _empty_dir(constants.INIT_CONF_VOLUME),
        _empty_dir(constants.SHARED_VOLUME),
        {"name": constants.CONF_VOLUME, "configMap": {"name": mycnf_name, "defaultMode": FILE_MODE}},
        {
            "name": constants.MYCNF_SECRET_VOLUME,
            "secret": {"secretName": cluster.mycnf_secret_name(), "defaultMode": FILE_MODE},
        },
        # the agent API's certificate (moco.controllers.certs): the Secret's name, never its
        # content, is in the template, so a renewed certificate restarts nothing
        {
            "name": constants.GRPC_SECRET_VOLUME,
            "secret": {"secretName": names.grpc_secret_name(cluster.name), "defaultMode": PRIVATE_FILE_MODE},
        },
    ]
    if moco_tls:
        # mysqld's certificate (moco.controllers.mysqlcert): a whole-Secret volume, no subPath,
        # so the kubelet swaps renewed files in place and the agent has mysqld reload them
        out.append(
            {
                "name": constants.MYSQL_TLS_VOLUME,
                "secret": {
                    "secretName": names.mysql_tls_secret_name(cluster.name),
                    "defaultMode": PRIVATE_FILE_MODE,
                },
            }
        )
    if slow_log_name is not None:
        out.append(
            {
                "name": constants.SLOW_LOG_CONFIG_VOLUME,
                "configMap": {"name": slow_log_name, "defaultMode": FILE_MODE},
            }
        )
    return out


def default_affinity(cluster: MySQLCluster) -> Obj:
    """Prefer one mysqld of a cluster per host (MOCO's default)."""

    def expr(key: str, value: str) -> Obj:
        return {"key": key, "operator": "In", "values": [value]}

    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {
                            "matchExpressions": [
                                expr(constants.LABEL_APP_NAME, constants.APP_NAME_MYSQL),
                                expr(constants.LABEL_APP_INSTANCE, cluster.name),
                                expr(constants.LABEL_APP_CREATED_BY, constants.APP_CREATOR),
                            ]
                        },
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    }


def pod_template(
    cluster: MySQLCluster,
    mycnf_name: str,
    slow_log_name: str | None,
    images: Images,
    security: SecurityDefaults = DEFAULT_SECURITY,
    *,
    moco_tls: bool = False,
    startup_period: int = 10,
) -> Obj:
    """The StatefulSet's Pod template (``moco_tls``: mysqld serves moco's certificate;
    ``startup_period``: the startup probe's default period)."""
    tmpl = cluster.spec.pod_template
    meta_in = tmpl.metadata
    meta: Obj = {"labels": {**((meta_in.labels if meta_in else None) or {}), **labels(cluster)}}
    if meta_in is not None and meta_in.annotations:
        meta["annotations"] = dict(meta_in.annotations)
    spec = copy.deepcopy(tmpl.spec)
    spec["serviceAccountName"] = cluster.prefixed_name()
    spec.setdefault("terminationGracePeriodSeconds", DEFAULT_TERMINATION_GRACE_SECONDS)
    spec["volumes"] = volumes(cluster, mycnf_name, slow_log_name, moco_tls=moco_tls)
    spec["containers"], spec["initContainers"] = containers(
        cluster, images, security, moco_tls=moco_tls, startup_period=startup_period
    )
    spec["securityContext"] = pod_context(spec.get("securityContext"), security)
    if not spec.get("affinity"):
        spec["affinity"] = default_affinity(cluster)
    return {"metadata": meta, "spec": spec}


def volume_claim_templates(cluster: MySQLCluster) -> list[Obj]:
    out = []
    for vct in cluster.spec.volume_claim_templates:
        meta: Obj = {"name": vct.metadata.name}
        if vct.metadata.labels:
            meta["labels"] = dict(vct.metadata.labels)
        if vct.metadata.annotations:
            meta["annotations"] = dict(vct.metadata.annotations)
        meta["ownerReferences"] = [owner_reference(cluster)]
        out.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": meta,
                "spec": copy.deepcopy(vct.spec),
            }
        )
    return out


def template_hash(template: Obj) -> str:
    return _hash(template)


def statefulset(
    cluster: MySQLCluster,
    mycnf_name: str,
    slow_log_name: str | None,
    images: Images,
    *,
    partition: int = 0,
    security: SecurityDefaults = DEFAULT_SECURITY,
    live: Obj | None = None,
) -> Obj:
    """The StatefulSet to apply (``partition`` from :func:`decide_partition`), rendered at the
    cluster's reconcile version (``live``: the StatefulSet as it is, which version 1 keeps the
    agent image of)."""
    version = reconcileversion.for_cluster(cluster)
    images = reconcileversion.agent_images(version, images, live)
    template = pod_template(
        cluster,
        mycnf_name,
        slow_log_name,
        images,
        security,
        moco_tls=reconcileversion.serves_moco_tls(version),
        startup_period=reconcileversion.startup_probe_period(version),
    )
    claims = volume_claim_templates(cluster)
    annotations = {ANN_TEMPLATE_HASH: template_hash(template), ANN_CLAIMS_HASH: _hash(claims)}
    if is_true(cluster, constants.ANN_FORCE_ROLLING_UPDATE):
        annotations[constants.ANN_FORCE_ROLLING_UPDATE] = "true"
    replicas = 0 if cluster.spec.offline else (cluster.spec.replicas or 1)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_meta(cluster, cluster.prefixed_name(), annotations=annotations),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels(cluster)},
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}},
            "serviceName": cluster.headless_service_name(),
            "volumeClaimTemplates": claims,
            "template": template,
        },
    }


def _annotation(obj: Obj | None, key: str) -> str | None:
    if obj is None:
        return None
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(key)
    return None if value is None else str(value)


def live_partition(live: Obj) -> int:
    ru = ((live.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    return int(ru.get("partition") or 0)


def decide_partition(live: Obj | None, desired: Obj, *, force: bool) -> int:
    """The partition to apply with ``desired`` (see the module docstring)."""
    if force or live is None:
        return 0
    if _annotation(live, ANN_TEMPLATE_HASH) != _annotation(desired, ANN_TEMPLATE_HASH):
        return int(desired["spec"]["replicas"])
    return live_partition(live)


def _claims_subset(claims: list[Obj]) -> list[Any]:
    """What moco sets in claim templates, in a form the apiserver's defaulting does not change."""
    out = []
    for c in claims:
        spec = c.get("spec") or {}
        out.append(
            (
                (c.get("metadata") or {}).get("name"),
                sorted(spec.get("accessModes") or []),
                spec.get("storageClassName"),
                str(((spec.get("resources") or {}).get("requests") or {}).get("storage")),
            )
        )
    return sorted(out, key=repr)


def needs_recreate(live: Obj | None, desired: Obj) -> bool:
    """True when the live StatefulSet's volume claim templates differ from the desired ones."""
    if live is None:
        return False
    recorded = _annotation(live, ANN_CLAIMS_HASH)
    if recorded is not None:
        return recorded != _annotation(desired, ANN_CLAIMS_HASH)
    live_claims = (live.get("spec") or {}).get("volumeClaimTemplates") or []
    return _claims_subset(live_claims) != _claims_subset(desired["spec"]["volumeClaimTemplates"])
