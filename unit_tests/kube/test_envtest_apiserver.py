"""The apiserver ground itself: a start that loses a port race is retried on new ports."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from moco.testing import envtest
from moco.testing.envtest import Envtest

pytestmark = pytest.mark.apiserver


def test_a_port_taken_between_choice_and_bind_is_retried_on_new_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    real = envtest.free_port
    ports: Iterator[int] = iter([taken])

    def racy_free_port() -> int:
        return next(ports, None) or real()

    monkeypatch.setattr(envtest, "free_port", racy_free_port)
    env = Envtest(crd_dirs=())
    try:
        env.start()
        status, _ = env.http("GET", "/readyz")
        assert status == 200
        assert env.etcd_url != f"http://127.0.0.1:{taken}"
    finally:
        env.stop()
        squatter.close()
