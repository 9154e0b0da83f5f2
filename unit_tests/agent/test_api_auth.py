"""The agent API refuses requests without the token before touching mysqld.

The mysqld endpoint points at a closed loopback port: any request that got past the checks would
fail differently (503), so these answers prove the checks come first.
"""

from __future__ import annotations

import aiohttp
import pytest

from moco.agent.config import AgentConfig
from moco.agent.server import Agent
from moco.constants import PASSWORD_KEYS

PASSWORDS = {user: f"pw-{user}" for user in PASSWORD_KEYS}


def make_agent(token: str) -> Agent:
    cfg = AgentConfig(
        pod_name="moco-db-0",
        cluster_name="db",
        namespace="ns",
        token=token,
        passwords=PASSWORDS,
        mysqld_host="127.0.0.1",
        mysqld_port=9,  # discard: nothing listens
        listen_host="127.0.0.1",
        agent_port=0,
        probe_port=0,
        metrics_port=0,
    )
    return Agent(cfg)


@pytest.mark.parametrize(
    ("token", "header", "status"),
    [
        ("right", None, 401),
        ("right", "Bearer wrong", 401),
        ("right", "right", 401),  # no Bearer scheme
        ("", "Bearer ", 401),  # no token configured: refuse everything
        ("right", "Bearer right", 400),  # past auth, the body is checked
    ],
)
async def test_clone_auth(token: str, header: str | None, status: int) -> None:
    agent = make_agent(token)
    await agent.start_listeners()
    try:
        url = f"http://127.0.0.1:{agent.bound_ports['agent']}/clone"
        headers = {"Authorization": header} if header is not None else {}
        async with aiohttp.ClientSession() as s:
            async with s.post(url, json={"donor_port": 1}, headers=headers) as r:
                assert r.status == status
            async with s.get(url, headers=headers) as r:
                assert r.status == (200 if status != 401 else 401)
    finally:
        await agent.close()


async def test_probes_answer_503_without_mysqld_and_metrics_serve() -> None:
    agent = make_agent("t")
    await agent.start_listeners()
    try:
        async with aiohttp.ClientSession() as s:
            for path in ("/healthz", "/readyz"):
                async with s.get(f"http://127.0.0.1:{agent.bound_ports['probe']}{path}") as r:
                    assert r.status == 503
            async with s.get(f"http://127.0.0.1:{agent.bound_ports['metrics']}/metrics") as r:
                text = await r.text()
                assert r.status == 200
                assert 'moco_instance_clone_count{name="db",index="0"} 0.0' in text
    finally:
        await agent.close()
