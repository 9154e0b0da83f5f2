"""The controller's own connections to mysqld outside the clustering loop (the credential
rotation's PodDialer, whose statements carry the new passwords) verify a Pod that serves moco's
certificate for its DNS name, over its Pod IP (mysql tier)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from moco.controllers.rotator import PodDialer
from moco.mysql.conn import Connection, ServerTrust
from moco.mysql.errors import UntrustedServer
from moco.testing import mysqltls
from moco.testing.mysqld import ADMIN_PASSWORD
from unit_tests.controllers.render_helpers import load_example
from unit_tests.fixtures.mysqld import MysqldFactory

pytestmark = pytest.mark.mysql


async def _tls_version(c: Connection) -> str:
    row = await c.query_one("SHOW SESSION STATUS LIKE 'Ssl_version'")
    assert row is not None
    return str(row["Value"])


async def test_the_rotation_dialer_verifies_a_pod_that_mounts_the_certificate(
    mysqld_factory: MysqldFactory, tmp_path: Path
) -> None:
    cluster, _ = load_example("anti-affinity.yaml")
    name = f"moco-{cluster.name}-0.moco-{cluster.name}.{cluster.namespace}.svc"
    ca, other = mysqltls.new_ca(), mysqltls.new_ca("another CA")
    directory = tmp_path / "tls"
    mysqltls.mount(directory, mysqltls.leaf(ca, ips=(), dns=(name,)), ca.cert_pem)
    (m,) = await mysqld_factory(1, extra_args=mysqltls.mysqld_args(directory))
    old: dict[str, Any] = {
        "metadata": {"name": cluster.pod_name(0), "namespace": cluster.namespace},
        "spec": {"volumes": []},
        "status": {"podIP": m.host},
    }
    new = copy.deepcopy(old)
    new["spec"]["volumes"] = [
        {"name": "mysql-tls", "secret": {"secretName": f"moco-{cluster.name}-mysql-tls"}}
    ]

    def dialer(pod: dict[str, Any], trust: ServerTrust) -> PodDialer:
        async def get_pod(_name: str, _ns: str) -> dict[str, Any]:
            return pod

        async def get_trust() -> ServerTrust:
            return trust

        return PodDialer(get_pod, connect_timeout=5, query_timeout=5, trust=get_trust, port=m.admin_port)

    async with await dialer(new, ServerTrust(ca.cert_pem))(cluster, 0, ADMIN_PASSWORD) as c:
        assert (await _tls_version(c)).startswith("TLSv1.")
    with pytest.raises(UntrustedServer, match="certificate"):
        await dialer(new, ServerTrust(other.cert_pem))(cluster, 0, ADMIN_PASSWORD)
    # a Pod of an earlier rendering (mysqld's own certificate): as before, not verified
    async with await dialer(old, ServerTrust(other.cert_pem))(cluster, 0, ADMIN_PASSWORD) as c:
        assert await _tls_version(c) == ""
