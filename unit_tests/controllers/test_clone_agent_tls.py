"""The controller's clone agent over mutual TLS: it dials the Pod's IP, checks the agent's
certificate for the Pod's DNS name, and presents the controller's client certificate.

The agent side is a stand-in speaking the protocol over TLS (the real agent's TLS is tested in
unit_tests/agent/test_api_tls.py); it records the client certificate's subject it saw.
"""

from __future__ import annotations

import datetime
import ssl
from typing import Any

import pytest
from aiohttp import web

from moco.agentapi import tls
from moco.clustering.interfaces import CloneRequest
from moco.clustering.types import PodInfo
from moco.controllers.certs import agent_spec, controller_spec
from moco.controllers.kubeside import AgentCloneAgent, CloneFailed
from moco.pki import Authority, Policy, settle
from unit_tests.controllers.render_helpers import load_example

NOW = datetime.datetime.now(datetime.UTC)


class Side:
    """The loop's Kubernetes side as the clone agent uses it."""

    def __init__(self, namespace: str, name: str) -> None:
        self.namespace, self.name = namespace, name

    async def agent_token(self) -> str:
        return "tok"


class TLSStandIn:
    def __init__(self) -> None:
        self.subjects: list[Any] = []
        self.polls = 0

    async def post(self, request: web.Request) -> web.Response:
        assert request.transport is not None
        self.subjects.append(request.transport.get_extra_info("peercert")["subject"])
        return web.json_response({"state": "running", "clone_id": "c1"}, status=202)

    async def get(self, request: web.Request) -> web.Response:
        self.polls += 1
        return web.json_response({"state": "succeeded" if self.polls > 1 else "running", "clone_id": "c1"})


async def _serve(stand_in: TLSStandIn, ctx: ssl.SSLContext) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_post("/clone", stand_in.post)
    app.router.add_get("/clone", stand_in.get)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx).start()
    return runner, int(runner.addresses[0][1])


def _authority() -> Authority:
    step = settle(NOW, None, Policy())
    assert step is not None
    return step[0]


async def _clone(ca: Authority, agent_ca: Authority, cluster_ns: str) -> TLSStandIn:
    """Serve the agent certificate of ``agent_ca`` for guaranteed.yaml's cluster; clone through
    an AgentCloneAgent holding a client certificate of ``ca`` and addressing ``cluster_ns``."""
    cluster, _ = load_example("guaranteed.yaml")
    pair, _ = agent_ca.leaf(NOW, None, agent_spec(cluster), Policy())
    server_ctx = tls.server_context(pair.cert_pem, pair.key_pem, agent_ca.trust_bundle(NOW))
    me = ca.leaf(NOW, None, controller_spec(), Policy())[0]
    client_ctx = tls.client_context(me.cert_pem, me.key_pem, ca.trust_bundle(NOW))
    stand_in = TLSStandIn()
    runner, port = await _serve(stand_in, server_ctx)

    async def context() -> ssl.SSLContext:
        return client_ctx

    try:
        agent = AgentCloneAgent(Side(cluster_ns, cluster.name), tls=context, port=port, poll=0.05)  # type: ignore[arg-type]
        pod = PodInfo(name=f"moco-{cluster.name}-1", index=1, host="127.0.0.1")
        await agent.clone(pod, CloneRequest("donor", 33062, "moco-clone-donor", "pw"))
    finally:
        await runner.cleanup()
    return stand_in


async def test_the_clone_goes_over_mutual_tls() -> None:
    ca = _authority()
    cluster, _ = load_example("guaranteed.yaml")
    stand_in = await _clone(ca, ca, cluster.namespace)
    assert stand_in.subjects == [((("commonName", tls.CONTROLLER_NAME),),)]
    assert stand_in.polls >= 2


async def test_an_agent_certificate_for_another_namespace_is_refused() -> None:
    ca = _authority()
    with pytest.raises(CloneFailed, match="did not start the clone"):
        await _clone(ca, ca, "elsewhere")


async def test_an_agent_certificate_of_another_ca_is_refused() -> None:
    cluster, _ = load_example("guaranteed.yaml")
    with pytest.raises(CloneFailed, match="CERTIFICATE_VERIFY_FAILED"):
        await _clone(_authority(), _authority(), cluster.namespace)
