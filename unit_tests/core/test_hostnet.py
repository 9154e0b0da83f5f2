"""A network namespace of the ground's own: reached from the host at its addresses, reaching
nothing past its veth, and gone once closed or cleaned (rules of :mod:`moco.testing.hostnet`)."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from moco.testing import ground, hostnet

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

_SERVER = (
    "import socket, sys\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind((sys.argv[1], 3306)); s.listen(); print('up', flush=True)\n"
    "c, _ = s.accept(); c.sendall(b'hello from the namespace'); c.close()\n"
)


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCO_STATE_DIR", str(tmp_path / "state"))


def test_rule_1_2_4_a_server_in_it_is_reached_at_its_address_and_reaches_nothing_else() -> None:
    net = hostnet.create(2)
    try:
        assert all(ipaddress.ip_address(ip) in hostnet.NETWORK for ip in (net.host_ip, *net.ips))
        proc, rec = ground.spawn([*net.enter, sys.executable, "-c", _SERVER, net.ips[1]], "ns server")
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection((net.ips[1], 3306), timeout=2) as c:
                        assert c.recv(100) == b"hello from the namespace"
                    break
                except ConnectionRefusedError:
                    assert time.monotonic() < deadline, "the server in the namespace never answered"
                    time.sleep(0.05)
        finally:
            ground.stop(rec, proc)
        routes = subprocess.run(
            ["ip", "-n", net.name, "-4", "route", "show"], capture_output=True, text=True, check=True
        ).stdout
        assert "default" not in routes
        assert routes.strip().splitlines() == [line for line in routes.strip().splitlines() if "/24" in line]
    finally:
        net.close()
    assert not Path(f"/run/netns/{net.name}").exists()
    assert (
        net.host_ip
        not in subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    )


def test_rule_3_clean_deletes_a_namespace_left_behind() -> None:
    net = hostnet.create(1)
    assert Path(f"/run/netns/{net.name}").exists()
    ground.clean(verbose=False)
    assert not Path(f"/run/netns/{net.name}").exists()
    assert not list((ground.state_dir() / "netns").iterdir())


def test_only_recorded_namespaces_are_deleted() -> None:
    with pytest.raises(ValueError, match="not a network namespace the ground recorded"):
        ground.delete_netns("somebody-elses")
