"""The metrics server's certificate: issued by moco's CA for the metrics Service's names, renewed
in place after a CA rotation (a new handshake sees the new certificate, the server keeps its
context), and no client certificate asked."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from typing import cast

import pytest

from moco.controllers import metricscert
from moco.controllers.certs import AgentCertificates, CAUnavailable
from moco.controllers.metricscert import METRICS_NAME, MetricsCertificate, metrics_dns_names
from moco.kube.client import Client
from moco.pki import Authority, Policy, certs

NOW = datetime.datetime.now(datetime.UTC)


class FixedCA(AgentCertificates):
    """The CA held in memory (the Secret's round trip is tested in test_certs_apiserver)."""

    def __init__(self, authority: Authority, now: datetime.datetime) -> None:
        super().__init__(cast(Client, None), "moco-system", clock=lambda: self.now)
        self.held, self.now = authority, now

    async def authority(self) -> Authority:
        return self.held


def _new_authority(now: datetime.datetime) -> Authority:
    return Authority(certs.new_ca("moco agent CA", now=now, validity=Policy().ca_validity))


async def _handshake(ctx: ssl.SSLContext, trust: bytes, name: str) -> dict[str, object]:
    """A TLS handshake with a server using ``ctx``; the server certificate's facts."""
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    client = ssl.create_default_context(cadata=trust.decode())
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname=name)
        peer = writer.get_extra_info("peercert")
        writer.close()
        return dict(peer)
    finally:
        server.close()
        await server.wait_closed()


async def test_issued_for_the_metrics_service_and_verified_by_the_ca() -> None:
    authority = _new_authority(NOW)
    mc = MetricsCertificate(FixedCA(authority, NOW))
    wait = await mc.renew()
    assert wait == Policy().recheck.total_seconds()  # nothing due before the next recheck
    names = metrics_dns_names("moco-system")
    assert "moco-controller-metrics.moco-system.svc" in names
    peer = await _handshake(mc.context, authority.current.cert_pem, names[2])
    assert peer["subject"] == ((("commonName", METRICS_NAME),),)
    assert mc.context.verify_mode == ssl.CERT_NONE  # bearer tokens, not client certificates


async def test_renewed_in_place_after_the_ca_is_replaced() -> None:
    old = _new_authority(NOW)
    ca = FixedCA(old, NOW)
    mc = MetricsCertificate(ca)
    await mc.renew()
    served = mc.context
    assert await mc.renew()
    assert mc.issued == 1
    new = _new_authority(NOW)
    ca.held = new
    await mc.renew()
    assert mc.issued == 2
    assert mc.context is served  # the server keeps its context; new handshakes get the new leaf
    peer = await _handshake(served, new.current.cert_pem, metrics_dns_names("moco-system")[2])
    assert peer["subject"] == ((("commonName", METRICS_NAME),),)


async def test_a_failed_renewal_keeps_the_certificate_and_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    ca = FixedCA(_new_authority(NOW), NOW)
    mc = MetricsCertificate(ca)
    await mc.renew()
    served = mc.context
    calls: list[str] = []

    async def unavailable() -> Authority:
        calls.append("authority")
        raise CAUnavailable("cannot read Secret moco-system/moco-agent-ca: apiserver down")

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            raise asyncio.CancelledError

    monkeypatch.setattr(ca, "authority", unavailable)
    monkeypatch.setattr(asyncio, "sleep", sleep)  # the loop waits through it
    with pytest.raises(asyncio.CancelledError):
        await mc.run()
    assert waits == [metricscert.RETRY_SECONDS, metricscert.RETRY_SECONDS]
    assert len(calls) == 2
    assert mc.context is served
    assert mc.issued == 1
