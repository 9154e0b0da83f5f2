"""The agent API over mutual TLS: real handshakes between the agent server and AgentClient.

The agent's certificate files are written as the kubelet writes a mounted Secret; the CA and
every certificate come from :mod:`moco.pki` as the controller makes them. The mysqld endpoint
is a closed port: a request that gets through TLS and the name check is answered 200 (``GET
/clone`` needs no mysqld), one refused by a check never reaches a handler.
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from moco.agent.config import AgentConfig
from moco.agent.server import Agent
from moco.agentapi import AgentClient, AgentRefused, AgentUnreachable, tls
from moco.api import names
from moco.cli import agent as agent_cli
from moco.constants import PASSWORD_KEYS
from moco.pki import Authority, KeyPair, LeafSpec, Policy, Usage, certs, settle

NS, CLUSTER = "ns", "db"
TOKEN = "tok"
NOW = datetime.datetime.now(datetime.UTC)
P = Policy()
SERVER_NAME = tls.agent_server_name(NS, CLUSTER, 0)


def authority(now: datetime.datetime = NOW) -> Authority:
    step = settle(now, None, P)
    assert step is not None
    return step[0]


def agent_pair(a: Authority, cluster: str = CLUSTER) -> KeyPair:
    spec = LeafSpec(tls.AGENT_NAME, frozenset({Usage.SERVER}), tls.agent_dns_names(NS, cluster))
    return a.leaf(NOW, None, spec, P)[0]


def client_pair(
    a: Authority,
    cn: str = tls.CONTROLLER_NAME,
    usage: Usage = Usage.CLIENT,
    *,
    now: datetime.datetime = NOW,
    validity: datetime.timedelta = P.leaf_validity,
) -> KeyPair:
    return certs.issue(a.current, cn, [usage], now=now, validity=validity)


def write_secret(d: Path, pair: KeyPair, trust: bytes) -> None:
    """As the kubelet updates a Secret volume: new files, then one atomic switch."""
    for name, data in ((tls.CERT_FILE, pair.cert_pem), (tls.KEY_FILE, pair.key_pem), (tls.CA_FILE, trust)):
        tmp = d / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(d / name)


class Setup:
    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        self.ca = authority()
        write_secret(tmp, agent_pair(self.ca), self.ca.trust_bundle(NOW))
        self.tls = tls.ReloadingServerContext(tmp, poll=0.05)
        cfg = AgentConfig(
            pod_name=names.pod_name(CLUSTER, 0),
            cluster_name=CLUSTER,
            namespace=NS,
            token=TOKEN,
            passwords={u: f"pw-{u}" for u in PASSWORD_KEYS},
            mysqld_port=9,
            listen_host="127.0.0.1",
            agent_port=0,
            probe_port=0,
            metrics_port=0,
        )
        self.agent = Agent(cfg, tls=self.tls)

    @property
    def port(self) -> int:
        return self.agent.bound_ports["agent"]

    def client(
        self, pair: KeyPair, trust: bytes | None = None, server_name: str = SERVER_NAME
    ) -> AgentClient:
        ctx = tls.client_context(pair.cert_pem, pair.key_pem, trust or self.ca.trust_bundle(NOW))
        return AgentClient("127.0.0.1", TOKEN, port=self.port, timeout=5.0, tls=ctx, server_name=server_name)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    s = Setup(tmp_path)
    await s.agent.start_listeners()
    try:
        yield s
    finally:
        await s.agent.close()


async def test_the_controller_certificate_is_served(setup: Setup) -> None:
    progress = await setup.client(client_pair(setup.ca)).clone_progress()
    assert progress.state.value == "idle"


async def test_plain_http_gets_no_answer(setup: Setup) -> None:
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientError):
            async with s.get(f"http://127.0.0.1:{setup.port}/clone") as r:
                await r.read()


async def test_a_client_without_a_certificate_is_refused_in_the_handshake(setup: Setup) -> None:
    ctx = ssl.create_default_context(cadata=setup.ca.trust_bundle(NOW).decode())
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientError):
            async with s.get(
                f"https://127.0.0.1:{setup.port}/clone", ssl=ctx, server_hostname=SERVER_NAME
            ) as r:
                await r.read()


async def test_a_certificate_of_another_ca_is_refused(setup: Setup) -> None:
    other = authority()
    with pytest.raises(AgentUnreachable):
        await setup.client(client_pair(other), trust=setup.ca.trust_bundle(NOW)).clone_progress()


async def test_an_expired_controller_certificate_is_refused(setup: Setup) -> None:
    expired = client_pair(setup.ca, now=NOW - 10 * P.leaf_validity, validity=datetime.timedelta(days=1))
    assert certs.read(expired.cert_pem).not_after < NOW
    with pytest.raises(AgentUnreachable):
        await setup.client(expired).clone_progress()


async def test_another_agents_serving_certificate_is_refused_as_a_client(setup: Setup) -> None:
    """Same CA, but a serving certificate (no clientAuth): OpenSSL refuses it as a client."""
    with pytest.raises(AgentUnreachable):
        await setup.client(agent_pair(setup.ca, "other")).clone_progress()


async def test_a_client_certificate_for_another_name_is_forbidden(setup: Setup) -> None:
    with pytest.raises(AgentRefused) as e:
        await setup.client(client_pair(setup.ca, cn="someone")).clone_progress()
    assert e.value.status == 403
    assert "not moco-controller" in e.value.message


async def test_the_controller_refuses_an_agent_certificate_for_another_cluster(setup: Setup) -> None:
    with pytest.raises(AgentUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
        await setup.client(
            client_pair(setup.ca), server_name=tls.agent_server_name(NS, "other", 0)
        ).clone_progress()


async def test_a_rotated_ca_is_picked_up_without_a_restart(setup: Setup) -> None:
    """The agent's Secret moves to a new CA: new clients work, the old CA's clients stop."""
    old = setup.ca
    new = authority()
    old_client = client_pair(old)
    assert (await setup.client(old_client).clone_progress()).state.value == "idle"

    write_secret(setup.dir, agent_pair(new), new.trust_bundle(NOW))
    assert setup.tls.reload_if_changed()
    # the new serving certificate is presented, a new-CA client is accepted
    await setup.client(client_pair(new), trust=new.trust_bundle(NOW)).clone_progress()
    with pytest.raises(AgentUnreachable):
        await setup.client(client_pair(new), trust=old.trust_bundle(NOW)).clone_progress()
    # the old CA left the agent's bundle: its client certificates are refused
    with pytest.raises(AgentUnreachable):
        await setup.client(old_client, trust=new.trust_bundle(NOW)).clone_progress()


async def test_the_watch_reloads_changed_files_and_keeps_the_last_good_ones(setup: Setup) -> None:
    stop = asyncio.Event()
    watcher = asyncio.create_task(setup.tls.watch(stop))
    try:
        # a half-written Secret (a key of another certificate) is not taken
        (setup.dir / tls.KEY_FILE).write_bytes(agent_pair(setup.ca).key_pem)
        await asyncio.sleep(0.3)
        assert setup.tls.reloads == 0
        await setup.client(client_pair(setup.ca)).clone_progress()
        # a renewed certificate is
        renewed = agent_pair(setup.ca)
        write_secret(setup.dir, renewed, setup.ca.trust_bundle(NOW))
        for _ in range(50):
            if setup.tls.reloads:
                break
            await asyncio.sleep(0.05)
        assert setup.tls.reloads == 1
        me = client_pair(setup.ca)
        ctx = tls.client_context(me.cert_pem, me.key_pem, setup.ca.trust_bundle(NOW))
        _, writer = await asyncio.open_connection(
            "127.0.0.1", setup.port, ssl=ctx, server_hostname=SERVER_NAME
        )
        served = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        assert served == certs.load(renewed.cert_pem).public_bytes(Encoding.DER)
    finally:
        stop.set()
        await watcher


def test_the_agent_refuses_to_start_without_its_certificate(tmp_path: Path) -> None:
    from moco.agent.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"--grpc-cert-dir=.*tls.crt, tls.key and ca.crt.*moco-<cluster>-grpc"
    ):
        agent_cli.server_tls(str(tmp_path))


def test_the_cli_default_cert_dir_is_the_mount_path() -> None:
    assert agent_cli._DEFAULT_CERT_DIR == tls.DEFAULT_CERT_DIR


@pytest.mark.parametrize(
    ("peercert", "refusal"),
    [
        (None, "no client certificate"),
        ({}, "no client certificate"),
        ({"subject": ((("commonName", "moco-controller"),),)}, None),
        ({"subject": ((("commonName", "moco-agent"),),)}, "for ['moco-agent'], not moco-controller"),
        ({"subject": ((("organizationName", "x"),),)}, "for no name"),
        (
            {"subject": ((("commonName", "moco-controller"),), (("commonName", "x"),))},
            "not moco-controller",
        ),
    ],
)
def test_peer_refusal(peercert: dict[str, object] | None, refusal: str | None) -> None:
    got = tls.peer_refusal(peercert)
    if refusal is None:
        assert got is None
    else:
        assert got is not None
        assert refusal in got
