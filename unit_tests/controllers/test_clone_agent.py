"""The clone agent's side of the agent API, against a stand-in agent HTTP server on loopback.

The stand-in implements only the protocol (``POST /clone`` answers 202, ``GET /clone`` reports
the state, both behind the Bearer token); the real agent's server is tested in the agent tier.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from moco.clustering.interfaces import CloneRequest
from moco.clustering.types import PodInfo
from moco.controllers.kubeside import AgentCloneAgent, CloneFailed
from moco.controllers.setup import _pod_matters


class FakeSide:
    async def agent_token(self) -> str:
        return "tok"


class StandIn:
    def __init__(self, outcome: str) -> None:
        self.outcome = outcome
        self.polls = 0
        self.body: dict[str, Any] = {}

    async def post(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer tok":
            return web.json_response({"error": "unauthorized"}, status=401)
        self.body = await request.json()
        return web.json_response({"state": "running"}, status=202)

    async def get(self, request: web.Request) -> web.Response:
        self.polls += 1
        state = "running" if self.polls < 2 else self.outcome
        return web.json_response({"state": state, "error": "donor gone" if state == "failed" else ""})


async def _serve(stand_in: StandIn, port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/clone", stand_in.post)
    app.router.add_get("/clone", stand_in.get)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
async def test_clone_through_the_agent_api(outcome: str, unused_tcp_port: int) -> None:
    stand_in = StandIn(outcome)
    runner = await _serve(stand_in, unused_tcp_port)
    try:
        agent = AgentCloneAgent(FakeSide(), port=unused_tcp_port, poll=0.05)  # type: ignore[arg-type]
        pod = PodInfo(name="moco-test-1", index=1, host="127.0.0.1")
        req = CloneRequest("moco-test-0.moco-test.ns.svc", 33062, "moco-clone-donor", "pw", timeout=10)
        if outcome == "succeeded":
            await agent.clone(pod, req)
        else:
            with pytest.raises(CloneFailed, match="donor gone"):
                await agent.clone(pod, req)
        assert stand_in.body["donor_host"] == "moco-test-0.moco-test.ns.svc"
        assert stand_in.body["donor_port"] == 33062
        assert stand_in.polls >= 2
    finally:
        await runner.cleanup()


def test_pod_events_that_wake_the_loop() -> None:
    base: dict[str, Any] = {
        "metadata": {"name": "moco-test-0", "labels": {}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    same = {**base, "metadata": {**base["metadata"], "resourceVersion": "2"}}
    unready = {**base, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    demoted = {**base, "metadata": {**base["metadata"], "annotations": {"moco.cybozu.com/demote": "true"}}}
    assert not _pod_matters(base, same)
    assert _pod_matters(base, unready)
    assert _pod_matters(base, demoted)
