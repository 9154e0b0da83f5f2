"""``moco-controller --metrics-secure`` as deployed: the real program with nothing but the rights
of ``manifests/rbac/cluster-wide`` (``metrics-auth.yaml`` included), its scrapers holding
ServiceAccount tokens, one of them bound to ``moco-metrics-reader`` (``metrics-reader.yaml``).

/metrics is HTTPS with a certificate from moco's CA (verified here with the CA Secret's
certificate and the metrics Service's name): no token 401, a token without the role 403, with it
200; the probes stay plain HTTP on their own port. Without ``--metrics-secure`` the same
program serves /metrics to anyone on MOCO's port layout (probes 8081, metrics 8080 by default)."""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from moco.controllers.certs import CA_SECRET_NAME
from moco.controllers.metricscert import metrics_dns_names
from moco.kube.client import Client
from moco.kube.resource import CLUSTERROLEBINDINGS, NAMESPACES, SECRETS
from moco.pki import Authority
from moco.testing import ground
from moco.testing.envtest import Envtest, free_port
from moco.testing.rbac import KINDS, controller_kubeconfig, rbac_docs, service_account_token
from unit_tests.controllers.harness import eventually

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(240)]


@pytest.fixture
async def system_namespace(kube: Client) -> AsyncIterator[str]:
    name = f"metrics-{os.urandom(3).hex()}"
    await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    docs = rbac_docs("cluster-wide", name)
    for doc in docs:
        await kube.create(KINDS[doc["kind"]], doc)
    try:
        yield name
    finally:
        for doc in docs:
            if doc["kind"].startswith("Cluster"):
                await kube.delete(KINDS[doc["kind"]], doc["metadata"]["name"])
        await kube.delete(NAMESPACES, name)


def _start(
    env_test: Envtest, ns: str, log: Path, *flags: str
) -> tuple[subprocess.Popen[bytes], ground.Recorded]:
    env = {**os.environ, "POD_NAMESPACE": ns, "MOCO_LOG_LEVEL": "INFO"}
    for var in ("KUBECONFIG", "MOCO_WATCH_NAMESPACE", "MOCO_HTTP_BIND_ADDRESS", "MOCO_METRICS_SECURE"):
        env.pop(var, None)
    return ground.spawn(
        [
            sys.executable,
            "-m",
            "moco.cli.controller",
            f"--kubeconfig={controller_kubeconfig(env_test, ns)}",
            "--no-leader-elect",
            "--no-clustering",
            "--no-validate-mycnf",
            *flags,
        ],
        "moco-controller (metrics test)",
        log=log,
        env=env,
    )


async def _status(url: str, token: str | None, tls: ssl.SSLContext | None, name: str | None) -> int:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers=headers, ssl=tls if tls is not None else False, server_hostname=name) as r,
    ):
        await r.read()
        return r.status


async def test_secure_metrics_with_the_manifests_rbac(
    apiserver: Envtest, kube: Client, system_namespace: str, tmp_path: Path
) -> None:
    ns = system_namespace
    reader = rbac_docs("cluster-wide", ns)
    (role,) = [
        d["metadata"]["name"] for d in reader if d["metadata"]["name"].startswith("moco-metrics-reader")
    ]
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"scraper-{ns}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": ns}],
    }
    await kube.create(CLUSTERROLEBINDINGS, binding)
    tokens = {who: await service_account_token(kube, ns, who) for who in ("prometheus", "stranger")}
    probes, metrics = free_port(), free_port()
    log = tmp_path / "controller.log"
    proc, rec = _start(
        apiserver,
        ns,
        log,
        f"--health-probe-bind-address=127.0.0.1:{probes}",
        f"--metrics-bind-address=127.0.0.1:{metrics}",
        "--metrics-secure",
    )
    try:

        async def ready() -> bool:
            try:
                return await _status(f"http://127.0.0.1:{probes}/readyz", None, None, None) == 200
            except aiohttp.ClientError:
                return False

        await eventually(ready, "controller ready", within=60)
        secret = await kube.get(SECRETS, CA_SECRET_NAME, ns)
        authority = Authority.from_data({k: base64.b64decode(v) for k, v in secret["data"].items()})
        assert authority is not None
        tls = ssl.create_default_context(cadata=authority.current.cert_pem.decode())
        url = f"https://127.0.0.1:{metrics}/metrics"
        name = metrics_dns_names(ns)[2]  # moco-controller-metrics.<ns>.svc
        assert await _status(url, None, tls, name) == 401
        assert await _status(url, tokens["stranger"], tls, name) == 403
        assert await _status(url, tokens["prometheus"], tls, name) == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await _status(url, tokens["prometheus"], tls, "someone-else.example")
        assert await _status(f"http://127.0.0.1:{probes}/metrics", tokens["prometheus"], None, None) == 404
    finally:
        await asyncio.to_thread(ground.stop, rec, proc, 30.0)
        await kube.delete(CLUSTERROLEBINDINGS, binding["metadata"]["name"])
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert "forbidden: User" not in text, text[-3000:]
    for token in tokens.values():
        assert token not in text  # tokens are never logged


async def test_plain_metrics_on_their_own_port(
    apiserver: Envtest, system_namespace: str, tmp_path: Path
) -> None:
    probes, metrics = free_port(), free_port()
    proc, rec = _start(
        apiserver,
        system_namespace,
        tmp_path / "controller.log",
        f"--health-probe-bind-address=127.0.0.1:{probes}",
        f"--metrics-addr=127.0.0.1:{metrics}",  # MOCO's name of the flag
    )
    try:

        async def ready() -> bool:
            try:
                return await _status(f"http://127.0.0.1:{probes}/readyz", None, None, None) == 200
            except aiohttp.ClientError:
                return False

        await eventually(ready, "controller ready", within=60)
        assert await _status(f"http://127.0.0.1:{metrics}/metrics", None, None, None) == 200
        assert await _status(f"http://127.0.0.1:{probes}/metrics", None, None, None) == 404
    finally:
        await asyncio.to_thread(ground.stop, rec, proc, 30.0)
