"""mysqld's certificate Secret on a real kube-apiserver: issued from moco's CA with the cluster's
names, mounted by the Pod template and named in my.cnf, renewed in time without any event, and
a renewal changes neither the StatefulSet nor the my.cnf ConfigMap (nothing restarts)."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest

from moco.controllers import certs as c
from moco.controllers import mysqlcert
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube.client import Client
from moco.kube.resource import CONFIGMAPS, SECRETS, STATEFULSETS
from moco.pki import Authority, KeyPair, Policy
from moco.pki import certs as pem
from moco.testing.envtest import Envtest
from unit_tests.controllers.harness import cluster_manifest, eventually, get_or_none, running_controller

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(180)]

T0 = datetime.datetime.now(datetime.UTC)
P = Policy()
SECRET = "moco-test-mysql-tls"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        return self.now


def data(secret: dict[str, Any]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def _mysqld_mounts(sts: dict[str, Any]) -> dict[str, list[str]]:
    spec = sts["spec"]["template"]["spec"]
    return {
        ct["name"]: [m["mountPath"] for m in ct.get("volumeMounts") or [] if m["name"] == "mysql-tls"]
        for ct in spec["containers"]
    }


async def test_issued_mounted_and_renewed_without_touching_the_pods(
    apiserver: Envtest, kube: Client, namespace: str
) -> None:
    ns = namespace
    clock = Clock()
    async with running_controller(apiserver.kubeconfig, ns, watch_namespace=ns) as wiring:
        wiring.reconciler.certs.clock = clock
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=3))

        async def issued() -> dict[str, Any] | None:
            return await get_or_none(kube, SECRETS, SECRET, ns)

        async def statefulset() -> dict[str, Any] | None:
            return await get_or_none(kube, STATEFULSETS, "moco-test", ns)

        secret = await eventually(issued, "mysqld certificate Secret")
        sts = await eventually(statefulset, "StatefulSet")
        cluster = await kube.get(MYSQLCLUSTERS, "test", ns)
        assert secret["metadata"]["ownerReferences"][0]["uid"] == cluster["metadata"]["uid"]
        assert secret["type"] == "kubernetes.io/tls"
        files = data(secret)
        stored = Authority.from_data(data(await kube.get(SECRETS, c.CA_SECRET_NAME, ns)))
        assert stored is not None
        facts = pem.read(files["tls.crt"])
        # one CA for the agent channel and mysqld: the Secret is signed by it and trusts it
        assert pem.signed_by(files["tls.crt"], stored.current.cert_pem)
        assert files["ca.crt"] == stored.trust_bundle(clock.now)
        assert set(facts.dns_names) == set(mysqlcert.mysql_dns_names(ns, "test", 3))
        assert {f"moco-test-{i}.moco-test.{ns}.svc" for i in range(3)} <= set(facts.dns_names)
        assert f"moco-test-primary.{ns}.svc" in facts.dns_names

        # the template mounts the Secret by name in mysqld and the agent; my.cnf names the files
        volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
        assert volumes["mysql-tls"]["secret"]["secretName"] == SECRET
        mounts = _mysqld_mounts(sts)
        assert mounts["mysqld"] == mounts["agent"] == ["/mysql-tls"]
        mycnf_name = volumes["mysql-conf"]["configMap"]["name"]
        cm = await kube.get(CONFIGMAPS, mycnf_name, ns)
        text = cm["data"]["my.cnf"]
        for line in (
            "ssl_cert = /mysql-tls/tls.crt",
            "admin_ssl_key = /mysql-tls/tls.key",
            "ssl_ca = /mysql-tls/ca.crt",
        ):
            assert line in text, line

        # renewed when due, with no event but the reconciler's own requeue
        key = f"{ns}/test"
        clock.now = facts.not_after - P.leaf_renew_before + datetime.timedelta(seconds=1)
        result = await wiring.reconciler.reconcile(key)
        assert result is not None
        renewed = data(await kube.get(SECRETS, SECRET, ns))
        new_facts = pem.read(renewed["tls.crt"])
        assert new_facts.fingerprint != facts.fingerprint
        assert new_facts.not_after > facts.not_after
        assert pem.key_matches(KeyPair(renewed["tls.crt"], renewed["tls.key"]))
        after = await kube.get(STATEFULSETS, "moco-test", ns)
        # the Pods are not touched: same template, same my.cnf ConfigMap, no new revision
        assert after["spec"]["template"] == sts["spec"]["template"]
        assert after["metadata"]["annotations"] == sts["metadata"]["annotations"]
