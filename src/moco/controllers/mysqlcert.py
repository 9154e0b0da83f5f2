"""The certificate a cluster's mysqld serves, issued by moco's CA and kept in a Secret.

mysqld generates a self-signed certificate at its first start; nobody can verify it, so a
replica or a client that checks its source would have to trust whatever answers. moco issues
each cluster a server certificate from the CA it already keeps for the agent channel
(:mod:`moco.controllers.certs`: one CA, one rotation, no second authority):

* Secret :func:`moco.api.names.mysql_tls_secret_name` (``moco-<name>-mysql-tls``) in the
  cluster's namespace, owned by the cluster, type ``kubernetes.io/tls``: ``tls.crt``,
  ``tls.key`` and ``ca.crt`` (the trust bundle: current, staged and unexpired previous CAs,
  so a rotation never breaks a handshake).
* Its names (:func:`mysql_dns_names`): every instance's Pod DNS name
  ``moco-<c>-<i>.moco-<c>.<ns>.svc`` (what the operator checks, :func:`instance_tls_name`;
  replicas connect by Pod IP and check the chain only, :mod:`moco.clustering.sourcetls`), and
  the Services' names (``moco-<c>-primary``, ``moco-<c>-replica``, the headless ``moco-<c>``;
  short, namespaced, ``.svc`` and ``.svc.cluster.local``) that applications connect to. No IP
  address: Pod IPs change with every re-created Pod, names do not.
* It is reissued when :func:`moco.pki.decide_leaf` says so: before expiry, after a CA
  promotion, when the names change (a scale-up adds an instance); the trust bundle is
  rewritten when it changes. The reconciler looks again at the returned delay without any event.
* The Pod template names the Secret, never its content (:mod:`~moco.controllers.statefulset`):
  a renewal changes no template and restarts nothing. The kubelet updates a Secret volume in
  place (no ``subPath``), and the agent, which mounts it too, has mysqld reload it
  (``ALTER INSTANCE RELOAD TLS``, :mod:`moco.agent.mysqltls`).

Only clusters rendered at reconcile version 3 or later mount it and name it in my.cnf
(:func:`moco.controllers.reconcileversion.serves_moco_tls`); the Secret is issued for every
cluster, so a cluster moving to version 3 finds it in place before its Pods need it.
"""

from __future__ import annotations

from typing import Final

from moco import constants
from moco.agentapi import tls
from moco.api import MySQLCluster, names
from moco.controllers.certs import AgentCertificates, Applier, Getter, encode_data
from moco.controllers.common import Obj, object_meta
from moco.pki import KeyPair, LeafSpec, Usage

#: the server certificate's subject
MYSQL_NAME: Final = "moco-mysqld"
#: Event reason when the certificate is (re)issued
EV_ISSUED: Final = "MySQLCertificateIssued"
#: the cluster domain added to the Services' names (Kubernetes' default; the Pod names use the
#: domain-free ``.svc`` form, which resolves in every cluster)
CLUSTER_DOMAIN: Final = "cluster.local"


def instance_tls_name(namespace: str, cluster: str, index: int) -> str:
    """The name an instance's certificate is checked for: its Pod's DNS name in the headless
    Service (MOCO's ``PodHostname``), which replicas use as ``SOURCE_HOST``."""
    return names.pod_hostname(namespace, cluster, index)


def pod_tls_name(pod: Obj, cluster: str) -> str:
    """The name a Pod's mysqld is verified for: :func:`instance_tls_name` when the Pod mounts the
    certificate (the ``mysql-tls`` Secret volume: reconcile version 3), else ``""`` (mysqld
    serves its own certificate, which nobody can verify)."""
    meta = pod.get("metadata") or {}
    volumes = (pod.get("spec") or {}).get("volumes") or []
    if not any(v.get("name") == constants.MYSQL_TLS_VOLUME and v.get("secret") for v in volumes):
        return ""
    name = str(meta.get("name", ""))
    ordinal = name.rpartition("-")[2]
    if not ordinal.isdigit():
        return ""
    return instance_tls_name(str(meta.get("namespace", "")), cluster, int(ordinal))


def mysql_dns_names(namespace: str, cluster: str, replicas: int) -> tuple[str, ...]:
    """The SANs of a cluster's mysqld certificate (see the module docstring), sorted."""
    out = {instance_tls_name(namespace, cluster, i) for i in range(max(replicas, 1))}
    for svc in (
        names.primary_service_name(cluster),
        names.replica_service_name(cluster),
        names.headless_service_name(cluster),
    ):
        out |= {
            svc,
            f"{svc}.{namespace}",
            f"{svc}.{namespace}.svc",
            f"{svc}.{namespace}.svc.{CLUSTER_DOMAIN}",
        }
    return tuple(sorted(out))


def mysql_spec(cluster: MySQLCluster) -> LeafSpec:
    """The certificate a cluster's mysqld needs (serverAuth: it serves it to clients only)."""
    return LeafSpec(
        common_name=MYSQL_NAME,
        usages=frozenset({Usage.SERVER}),
        dns_names=mysql_dns_names(cluster.namespace, cluster.name, cluster.spec.replicas or 1),
    )


def mysql_secret(cluster: MySQLCluster, pair: KeyPair, trust: bytes) -> Obj:
    """``moco-<name>-mysql-tls``: the certificate, its key and the trust bundle."""
    data = {tls.CERT_FILE: pair.cert_pem, tls.KEY_FILE: pair.key_pem, tls.CA_FILE: trust}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": object_meta(cluster, names.mysql_tls_secret_name(cluster.name)),
        "data": encode_data(data),
    }


async def reconcile(
    certificates: AgentCertificates,
    cluster: MySQLCluster,
    get: Getter,
    apply: Applier,
    events: list[tuple[str, str, str]],
) -> float:
    """Issue or renew the Secret; the seconds until it must be looked at again."""
    return await certificates.reconcile_leaf(
        names.mysql_tls_secret_name(cluster.name),
        mysql_spec(cluster),
        lambda pair, trust: mysql_secret(cluster, pair, trust),
        cluster=cluster,
        get=get,
        apply=apply,
        events=events,
        reason=EV_ISSUED,
        what="mysqld certificate",
    )
