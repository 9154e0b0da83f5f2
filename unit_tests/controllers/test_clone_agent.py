"""The clone agent's side of the agent API, against a stand-in agent HTTP server on loopback;
the replication-source Secret's keys.

The stand-in implements only the protocol (``POST /clone`` answers 202, ``GET /clone`` reports
the state, both behind the Bearer token); the real agent's server is tested in the agent tier.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from aiohttp import web

from moco.clustering.interfaces import CloneRequest, ReplicationSource
from moco.clustering.types import PodInfo
from moco.controllers.kubeside import AgentCloneAgent, CloneFailed, SourceProblem, parse_source_secret
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


class Frozen(StandIn):
    """A clone that stays at the same stage and byte count."""

    async def get(self, request: web.Request) -> web.Response:
        self.polls += 1
        return web.json_response({"state": "running", "stage": "FILE COPY", "bytes_done": 42})


async def test_a_clone_without_progress_fails(unused_tcp_port: int) -> None:
    runner = await _serve(Frozen("never"), unused_tcp_port)
    try:
        agent = AgentCloneAgent(
            FakeSide(),  # type: ignore[arg-type]
            port=unused_tcp_port,
            poll=0.05,
            request_timeout=0.2,
            stall_timeout=0.2,
            boot_timeout=0.2,
        )
        pod = PodInfo(name="moco-test-1", index=1, host="127.0.0.1")
        with pytest.raises(CloneFailed, match="no progress"):
            await asyncio.wait_for(agent.clone(pod, CloneRequest("donor", 3306, "u", "pw")), 10)
    finally:
        await runner.cleanup()


async def test_an_agent_gone_for_good_fails_the_clone(unused_tcp_port: int) -> None:
    stand_in = StandIn("never")
    runner = await _serve(stand_in, unused_tcp_port)
    agent = AgentCloneAgent(
        FakeSide(),  # type: ignore[arg-type]
        port=unused_tcp_port,
        poll=0.05,
        request_timeout=0.2,
        unreachable_timeout=0.5,
    )
    pod = PodInfo(name="moco-test-1", index=1, host="127.0.0.1")
    task = asyncio.create_task(agent.clone(pod, CloneRequest("donor", 3306, "u", "pw")))
    for _ in range(250):
        if stand_in.body:
            break
        await asyncio.sleep(0.02)
    await runner.cleanup()  # the Pod is gone
    with pytest.raises(CloneFailed, match="unreachable"):
        await asyncio.wait_for(task, 10)


def _secret(**data: str) -> dict[str, Any]:
    return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


MOCO_KEYS = {
    "HOST": "src.example",
    "PORT": "3307",
    "USER": "u",
    "PASSWORD": "p",
    "INIT_USER": "iu",
    "INIT_PASSWORD": "",
}


def test_source_secret_with_mocos_keys() -> None:
    src = parse_source_secret(_secret(**MOCO_KEYS), "ns/s")
    assert isinstance(src, ReplicationSource)
    assert (src.host, src.port, src.user, src.password) == ("src.example", 3307, "u", "p")
    assert (src.clone_user, src.clone_password) == ("u", "p")
    assert (src.init_after_clone_user, src.init_after_clone_password) == ("iu", "")
    assert "password" not in repr(src)


@pytest.mark.parametrize(
    ("data", "reason", "says"),
    [
        ({k: v for k, v in MOCO_KEYS.items() if k != "INIT_USER"}, "KeyMissing", "no INIT_USER"),
        ({**MOCO_KEYS, "HOST": ""}, "KeyMissing", "no HOST"),
        ({**MOCO_KEYS, "PORT": "mysql"}, "InvalidPort", "PORT"),
        ({**MOCO_KEYS, "PORT": "70000"}, "InvalidPort", "PORT"),
        (
            {"PRIMARY_HOST": "h", "PRIMARY_PORT": "3306", "PRIMARY_USER": "u", "PRIMARY_PASSWORD": "p"},
            "KeyMissing",
            "no HOST, PORT, USER, PASSWORD, INIT_USER, INIT_PASSWORD",
        ),
    ],
)
def test_source_secret_problems(data: dict[str, str], reason: str, says: str) -> None:
    problem = parse_source_secret(_secret(**data), "ns/s")
    assert isinstance(problem, SourceProblem)
    assert problem.reason == reason
    assert says in problem.message


class Busy(StandIn):
    """An agent already cloning (asked by a controller before it restarted)."""

    async def post(self, request: web.Request) -> web.Response:
        self.body = await request.json()
        return web.json_response({"error": "a clone is already running"}, status=409)

    async def get(self, request: web.Request) -> web.Response:
        self.polls += 1
        state = "running" if self.polls < 3 else self.outcome
        return web.json_response(
            {"state": state, "instance_id": "i1", "clone_id": "c1", "bytes_done": self.polls}
        )


async def test_a_running_clone_is_followed(unused_tcp_port: int) -> None:
    stand_in = Busy("succeeded")
    runner = await _serve(stand_in, unused_tcp_port)
    try:
        agent = AgentCloneAgent(FakeSide(), port=unused_tcp_port, poll=0.05)  # type: ignore[arg-type]
        pod = PodInfo(name="moco-test-1", index=1, host="127.0.0.1")
        await asyncio.wait_for(agent.clone(pod, CloneRequest("donor", 3306, "u", "pw")), 10)
        assert stand_in.polls >= 3
    finally:
        await runner.cleanup()
