"""The metrics server behind the apiserver's TokenReview and SubjectAccessReview, on a real
kube-apiserver, with ServiceAccount tokens from its TokenRequest API.

The manager's identity holds only ``create`` on the two reviews; the scraper's ServiceAccount is
bound to a ClusterRole granting ``get`` on ``/metrics``, the stranger's to nothing. Served over
HTTPS with a certificate the client verifies."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from moco.kube.client import Client
from moco.kube.manager import Manager, ManagerOptions, MetricsServing
from moco.kube.metricsauth import GuardConfig, MetricsGuard
from moco.kube.resource import CLUSTERROLEBINDINGS, CLUSTERROLES
from moco.pki import Usage, certs
from moco.testing.envtest import Envtest
from moco.testing.rbac import service_account_token

pytestmark = pytest.mark.apiserver

RBAC = "rbac.authorization.k8s.io"


def _role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules}


def _binding(name: str, role: str, subject: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    }


class Ground:
    def __init__(
        self, url: str, probes: str, client_ssl: ssl.SSLContext, tokens: dict[str, str], guard: MetricsGuard
    ):
        self.url, self.probes, self.client_ssl, self.tokens, self.guard = (
            url,
            probes,
            client_ssl,
            tokens,
            guard,
        )

    async def get(self, token: str | None, path: str = "/metrics") -> tuple[int, str]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.url + path, headers=headers, ssl=self.client_ssl, server_hostname="localhost") as r,
        ):
            return r.status, await r.text()


def _tls(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    now = datetime.datetime.now(datetime.UTC)
    ca = certs.new_ca("test metrics CA", now=now, validity=datetime.timedelta(days=1))
    leaf = certs.issue(
        ca, "metrics", [Usage.SERVER], now=now, validity=datetime.timedelta(hours=1), dns_names=["localhost"]
    )
    (tmp / "tls.crt").write_bytes(leaf.cert_pem)
    (tmp / "tls.key").write_bytes(leaf.key_pem)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp / "tls.crt", tmp / "tls.key")
    client = ssl.create_default_context(cadata=ca.cert_pem.decode())
    return server, client


@pytest.fixture
async def ground(apiserver: Envtest, kube: Client, namespace: str, tmp_path: Path) -> AsyncIterator[Ground]:
    ns = namespace
    manager_user = f"metrics-manager-{ns}"
    docs = [
        _role(
            f"reviews-{ns}",
            [
                {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
                {
                    "apiGroups": ["authorization.k8s.io"],
                    "resources": ["subjectaccessreviews"],
                    "verbs": ["create"],
                },
            ],
        ),
        _binding(f"reviews-{ns}", f"reviews-{ns}", {"apiGroup": RBAC, "kind": "User", "name": manager_user}),
        _role(f"reader-{ns}", [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]),
        _binding(
            f"reader-{ns}", f"reader-{ns}", {"kind": "ServiceAccount", "name": "scraper", "namespace": ns}
        ),
    ]
    for d in docs:
        await kube.create(CLUSTERROLES if d["kind"] == "ClusterRole" else CLUSTERROLEBINDINGS, d)
    tokens = {who: await service_account_token(kube, ns, who) for who in ("scraper", "stranger")}
    server_ssl, client_ssl = _tls(tmp_path)
    async with await Client.from_kubeconfig(apiserver.mint_kubeconfig(manager_user)) as identity:
        guard = MetricsGuard(identity, GuardConfig(deny_ttl=0.5))
        mgr = Manager(
            identity,
            ManagerOptions(
                http_address=("127.0.0.1", 0),
                metrics=MetricsServing(("127.0.0.1", 0), tls=server_ssl, guard=guard),
                handle_signals=False,
            ),
        )
        run = asyncio.create_task(mgr.run())
        try:
            for _ in range(100):
                if mgr.synced:
                    break
                await asyncio.sleep(0.05)
            assert mgr.metrics_port
            assert mgr.metrics_port != mgr.http_port
            yield Ground(
                f"https://127.0.0.1:{mgr.metrics_port}",
                f"http://127.0.0.1:{mgr.http_port}",
                client_ssl,
                tokens,
                guard,
            )
        finally:
            mgr.stop()
            await asyncio.wait_for(run, 10)
            for d in docs:
                await kube.delete(
                    CLUSTERROLES if d["kind"] == "ClusterRole" else CLUSTERROLEBINDINGS, d["metadata"]["name"]
                )


async def test_no_token_is_401(ground: Ground) -> None:
    assert await ground.get(None) == (401, "Unauthorized\n")


async def test_a_token_the_apiserver_rejects_is_401(ground: Ground) -> None:
    status, _ = await ground.get("not-a-token")
    assert status == 401
    forged = ground.tokens["scraper"][:-4] + "AAAA"  # a signature that does not verify
    status, _ = await ground.get(forged)
    assert status == 401


async def test_a_service_account_without_the_role_is_403(ground: Ground, namespace: str) -> None:
    status, text = await ground.get(ground.tokens["stranger"])
    assert status == 403
    assert text.strip() == f"Authorization denied for user system:serviceaccount:{namespace}:stranger"


async def test_a_service_account_with_the_role_reads_the_metrics(ground: Ground) -> None:
    status, text = await ground.get(ground.tokens["scraper"])
    assert status == 200
    assert "workqueue_depth" in text or "python_info" in text
    before = ground.guard.reviews
    assert (await ground.get(ground.tokens["scraper"]))[0] == 200
    assert ground.guard.reviews == before  # answered from the caches


async def test_a_new_binding_takes_effect_after_the_deny_ttl(
    ground: Ground, kube: Client, namespace: str
) -> None:
    assert (await ground.get(ground.tokens["stranger"]))[0] == 403
    name = f"reader-{namespace}-late"
    await kube.create(
        CLUSTERROLEBINDINGS,
        _binding(
            name,
            f"reader-{namespace}",
            {"kind": "ServiceAccount", "name": "stranger", "namespace": namespace},
        ),
    )
    try:
        await asyncio.sleep(0.6)  # deny_ttl 0.5 s in this ground
        assert (await ground.get(ground.tokens["stranger"]))[0] == 200
    finally:
        await kube.delete(CLUSTERROLEBINDINGS, name)


async def test_the_probes_stay_open_and_plain(ground: Ground) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/healthz", "/readyz"):
            async with http.get(ground.probes + path) as r:
                assert r.status == 200, path
        async with http.get(ground.probes + "/metrics") as r:
            assert r.status == 404  # metrics are on their own, secured server only


async def test_plain_http_to_the_metrics_port_gets_no_metrics(ground: Ground) -> None:
    async with aiohttp.ClientSession() as http:
        try:
            async with http.get(ground.url.replace("https", "http") + "/metrics") as r:
                status = r.status
        except aiohttp.ClientError:
            status = 0  # the TLS server hangs up on a plain request
    assert status != 200


async def test_an_identity_that_may_not_review_answers_500(apiserver: Envtest, ground: Ground) -> None:
    async with await Client.from_kubeconfig(apiserver.mint_kubeconfig("nobody-in-particular")) as nobody:
        guard = MetricsGuard(nobody)
        verdict = await guard.check("GET", "/metrics", f"Bearer {ground.tokens['scraper']}")
    assert (verdict.status, verdict.message) == (500, "Authentication failed")
