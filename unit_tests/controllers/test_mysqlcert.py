"""mysqld's certificate Secret (moco.controllers.mysqlcert): its names, its shape."""

from __future__ import annotations

import base64
import datetime
from typing import Any

from moco.api import names
from moco.controllers import mysqlcert
from moco.controllers.kubeside import pod_info
from moco.pki import Usage, certs
from unit_tests.controllers.render_helpers import load_example

NOW = datetime.datetime.now(datetime.UTC)


def test_names_every_instance_and_every_service() -> None:
    got = set(mysqlcert.mysql_dns_names("ns", "c", 3))
    pods = {f"moco-c-{i}.moco-c.ns.svc" for i in range(3)}
    assert pods <= got
    for svc in ("moco-c-primary", "moco-c-replica", "moco-c"):
        assert {svc, f"{svc}.ns", f"{svc}.ns.svc", f"{svc}.ns.svc.cluster.local"} <= got
    assert "moco-c-3.moco-c.ns.svc" not in got
    # the names the operator and replicas check are among them
    assert {mysqlcert.instance_tls_name("ns", "c", i) for i in range(3)} == pods
    assert len(got) == 3 + 3 * 4


def test_scale_up_changes_the_names() -> None:
    one = set(mysqlcert.mysql_dns_names("ns", "c", 1))
    three = set(mysqlcert.mysql_dns_names("ns", "c", 3))
    assert one < three


def test_secret_holds_certificate_key_and_trust_bundle() -> None:
    cluster, _ = load_example("anti-affinity.yaml")
    spec = mysqlcert.mysql_spec(cluster)
    assert spec.usages == frozenset({Usage.SERVER})
    ca = certs.new_ca("ca", now=NOW, validity=datetime.timedelta(days=3650))
    pair = certs.issue(
        ca,
        spec.common_name,
        list(spec.usages),
        now=NOW,
        validity=datetime.timedelta(days=90),
        dns_names=spec.dns_names,
    )
    secret = mysqlcert.mysql_secret(cluster, pair, ca.cert_pem)
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["name"] == names.mysql_tls_secret_name(cluster.name) == "moco-test-mysql-tls"
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "MySQLCluster"
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert data == {"tls.crt": pair.cert_pem, "tls.key": pair.key_pem, "ca.crt": ca.cert_pem}
    assert certs.signed_by(data["tls.crt"], data["ca.crt"])


def test_the_loop_checks_a_pod_by_its_name_only_when_it_mounts_the_certificate() -> None:
    """kubeside.pod_info: a Pod of reconcile version 3 (the ``mysql-tls`` volume) is verified for
    its DNS name with its mounted CA; one of an earlier rendering is not."""
    pod: dict[str, Any] = {
        "metadata": {"name": "moco-c-1", "namespace": "ns", "uid": "u"},
        "spec": {"volumes": [{"name": "grpc-cert", "secret": {"secretName": "moco-c-grpc"}}]},
        "status": {"podIP": "10.0.0.2"},
    }
    before = pod_info(pod, "c")
    assert before is not None
    assert (before.host, before.tls_name, before.tls_ca_file) == ("10.0.0.2", "", "")
    pod["spec"]["volumes"].append({"name": "mysql-tls", "secret": {"secretName": "moco-c-mysql-tls"}})
    after = pod_info(pod, "c")
    assert after is not None
    assert (after.host, after.tls_name, after.tls_ca_file) == (
        "10.0.0.2",
        "moco-c-1.moco-c.ns.svc",
        "/mysql-tls/ca.crt",
    )
