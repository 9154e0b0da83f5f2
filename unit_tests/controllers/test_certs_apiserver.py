"""The agent channel's CA Secret and the agents' certificate Secrets on a real kube-apiserver.

Two controller processes racing over the CA (at start and at a rotation) end with one CA; the
reconciler issues ``moco-<name>-grpc`` for a cluster, leaves it alone while it is good, and
moves it to a promoted CA with both CAs in its bundle. Time is a clock the test moves.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
from collections.abc import AsyncIterator
from typing import Any

import pytest

from moco.agentapi import tls
from moco.controllers import certs as c
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube.client import Client
from moco.kube.resource import SECRETS
from moco.pki import Authority, Policy
from moco.pki import certs as pem
from moco.testing.envtest import Envtest
from unit_tests.controllers.harness import cluster_manifest, eventually, get_or_none, running_controller

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(180)]

T0 = datetime.datetime.now(datetime.UTC)
P = Policy()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        return self.now


def data(secret: dict[str, Any]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


async def stored(kube: Client, ns: str) -> Authority:
    a = Authority.from_data(data(await kube.get(SECRETS, c.CA_SECRET_NAME, ns)))
    assert a is not None
    return a


@pytest.fixture
async def clients(apiserver: Envtest) -> AsyncIterator[list[Client]]:
    """Two clients: two controller processes."""
    out = [await Client.from_kubeconfig(apiserver.kubeconfig) for _ in range(2)]
    try:
        yield out
    finally:
        for cl in out:
            await cl.close()


async def test_two_replicas_racing_at_start_share_one_ca(
    kube: Client, namespace: str, clients: list[Client]
) -> None:
    replicas = [c.AgentCertificates(cl, namespace) for cl in clients]
    first, second = await asyncio.gather(*(r.authority() for r in replicas))
    assert first == second
    assert (await stored(kube, namespace)) == first
    secret = await kube.get(SECRETS, c.CA_SECRET_NAME, namespace)
    assert set(data(secret)) == {"ca.crt", "ca.key"}
    # read again: the stored CA, never a new one
    again = c.AgentCertificates(clients[0], namespace)
    assert await again.authority() == first


async def test_rotation_through_the_apiserver_with_two_replicas(
    kube: Client, namespace: str, clients: list[Client]
) -> None:
    clock = Clock()
    replicas = [c.AgentCertificates(cl, namespace, clock=clock, refresh=0.0) for cl in clients]
    created = await replicas[0].authority()

    clock.now = T0 + P.ca_validity - P.ca_renew_before
    staged = await asyncio.gather(*(r.authority() for r in replicas))
    assert staged[0] == staged[1] == await stored(kube, namespace)
    assert staged[0].next is not None
    assert staged[0].current == created.current

    clock.now += P.propagation
    promoted = await asyncio.gather(*(r.authority() for r in replicas))
    assert promoted[0] == promoted[1] == await stored(kube, namespace)
    assert promoted[0].current == staged[0].next
    assert promoted[0].previous == (created.current.cert_pem,)


async def test_the_ca_is_read_at_most_once_per_refresh(namespace: str, clients: list[Client]) -> None:
    gets = 0
    client = clients[0]
    orig = client.get

    async def counted(*a: Any, **kw: Any) -> Any:
        nonlocal gets
        gets += 1
        return await orig(*a, **kw)

    client.get = counted  # type: ignore[method-assign]
    r = c.AgentCertificates(client, namespace, refresh=3600.0)
    for _ in range(20):
        await r.authority()
        await r.client_context()
    assert gets == 1


async def test_the_reconciler_issues_keeps_and_rotates_the_agent_certificate(
    apiserver: Envtest, kube: Client, namespace: str
) -> None:
    ns = namespace
    clock = Clock()
    async with running_controller(apiserver.kubeconfig, ns, watch_namespace=ns) as wiring:
        wiring.reconciler.certs.clock = clock
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns))

        async def issued() -> dict[str, Any] | None:
            return await get_or_none(kube, SECRETS, "moco-test-grpc", ns)

        secret = await eventually(issued, "agent certificate Secret")
        cluster = await kube.get(MYSQLCLUSTERS, "test", ns)
        assert secret["metadata"]["ownerReferences"][0]["uid"] == cluster["metadata"]["uid"]
        assert secret["type"] == "kubernetes.io/tls"
        files = data(secret)
        ca = await stored(kube, ns)
        facts = pem.read(files["tls.crt"])
        assert facts.dns_names == (f"*.moco-test.{ns}.svc",)
        assert facts.common_name == tls.AGENT_NAME
        assert pem.signed_by(files["tls.crt"], ca.current.cert_pem)
        assert files["ca.crt"] == ca.trust_bundle(clock.now)

        # without any event the cluster is looked at again when its certificate is due
        key = f"{ns}/test"
        result = await wiring.reconciler.reconcile(key)
        assert result is not None
        assert result.requeue_after == P.recheck.total_seconds()
        clock.now = facts.not_after - P.leaf_renew_before - datetime.timedelta(seconds=300)
        result = await wiring.reconciler.reconcile(key)
        assert result is not None
        assert result.requeue_after == 300.0
        clock.now = T0

        # reconciled again (an annotation change): the Secret is not rewritten
        rv = secret["metadata"]["resourceVersion"]
        await kube.patch(MYSQLCLUSTERS, "test", {"metadata": {"annotations": {"x": "1"}}}, ns)
        await asyncio.sleep(2.0)
        assert (await kube.get(SECRETS, "moco-test-grpc", ns))["metadata"]["resourceVersion"] == rv

        # the CA is staged: the agents get the bundle of both before any leaf of the new one
        clock.now = T0 + P.ca_validity - P.ca_renew_before
        wiring.reconciler.certs.forget()
        await kube.patch(MYSQLCLUSTERS, "test", {"metadata": {"annotations": {"x": "2"}}}, ns)

        async def bundle_of_two() -> dict[str, bytes] | None:
            d = data(await kube.get(SECRETS, "moco-test-grpc", ns))
            return d if len(pem.load_all(d["ca.crt"])) == 2 else None

        staged = await eventually(bundle_of_two, "agent Secret trusting the staged CA")
        # (years later the leaf itself was due, rule 5): still signed by the old CA until promotion
        assert pem.signed_by(staged["tls.crt"], ca.current.cert_pem)

        # promoted: the leaf is reissued by the new CA, the old one still trusted
        clock.now += P.propagation
        wiring.reconciler.certs.forget()
        await kube.patch(MYSQLCLUSTERS, "test", {"metadata": {"annotations": {"x": "3"}}}, ns)
        new_ca = None

        async def reissued() -> dict[str, bytes] | None:
            nonlocal new_ca
            new_ca = await stored(kube, ns)
            if new_ca.current == ca.current:
                return None  # not promoted yet
            d = data(await kube.get(SECRETS, "moco-test-grpc", ns))
            return d if pem.signed_by(d["tls.crt"], new_ca.current.cert_pem) else None

        rotated = await eventually(reissued, "agent certificate reissued by the promoted CA")
        assert new_ca is not None
        assert new_ca.previous == (ca.current.cert_pem,)
        assert len(pem.load_all(rotated["ca.crt"])) == 2
