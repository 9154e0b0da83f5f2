"""The metrics server's certificate (``--metrics-secure``), issued by moco's own CA.

controller-runtime serves secure metrics with a certificate from ``--metrics-cert-path`` or, by
default, a self-signed one that no scraper can verify. moco issues it from the CA it already
keeps for the agent channel (:mod:`moco.controllers.certs`), in memory (never in a Secret nor on
disk), so a scraper verifies the server against moco's CA certificate (``ca.crt`` of Secret
``moco-agent-ca``: public, copied into the scraper's configuration; never give a scraper that
Secret, it holds the CA's key) instead of skipping verification.

* Subject :data:`METRICS_NAME`, serverAuth, SANs :func:`metrics_dns_names`: the names of a Service
  :data:`METRICS_SERVICE` in the controller's namespace, short and fully qualified (a scraper
  that reaches a Pod by its IP, as Prometheus does, names it with ``tls_config.server_name``).
* :class:`MetricsCertificate` hands the server one :class:`ssl.SSLContext` whose SNI callback
  switches every new handshake to the newest certificate: :meth:`MetricsCertificate.renew`
  (run by :meth:`MetricsCertificate.run` at :func:`moco.pki.decide.next_due`, at least every
  ``recheck``) reissues it when :func:`moco.pki.decide_leaf` says so (expiry, a promoted CA),
  without restarting the server. A failed renewal keeps the certificate in force and is retried.
* Clients are not asked for a certificate: bearer tokens authenticate them
  (:mod:`moco.kube.metricsauth`).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Final

from moco.agentapi import tls
from moco.controllers.certs import AgentCertificates, CAUnavailable
from moco.log import get_logger
from moco.pki import KeyPair, LeafSpec, Usage, certs
from moco.pki.decide import next_due

log = get_logger("moco.controllers.metricscert")

#: the metrics server certificate's subject
METRICS_NAME: Final = "moco-controller-metrics"
#: the name of the Service in front of the controller's metrics port (kubebuilder's
#: ``controller-manager-metrics-service``, named after moco; ``manifests/overlays/cluster-wide``)
METRICS_SERVICE: Final = "moco-controller-metrics"
#: the soonest a failed renewal is tried again
RETRY_SECONDS: Final = 30.0


def metrics_dns_names(system_namespace: str) -> tuple[str, ...]:
    """The names a scraper may check the metrics certificate for."""
    svc = f"{METRICS_SERVICE}.{system_namespace}"
    return (METRICS_SERVICE, svc, f"{svc}.svc", f"{svc}.svc.cluster.local")


def metrics_spec(system_namespace: str) -> LeafSpec:
    return LeafSpec(
        common_name=METRICS_NAME,
        usages=frozenset({Usage.SERVER}),
        dns_names=metrics_dns_names(system_namespace),
    )


def _context(pair: KeyPair, trust: bytes) -> ssl.SSLContext:
    ctx = tls.server_context(pair.cert_pem, pair.key_pem, trust)
    ctx.verify_mode = ssl.CERT_NONE  # scrapers present bearer tokens, not certificates
    return ctx


class MetricsCertificate:
    """The metrics server's SSL context and its renewal (see the module docstring)."""

    def __init__(self, authority: AgentCertificates) -> None:
        self.authority = authority
        self._pair: KeyPair | None = None
        self._current: ssl.SSLContext | None = None
        self._context: ssl.SSLContext | None = None
        #: certificates issued by this process (tests read it)
        self.issued = 0

    @property
    def context(self) -> ssl.SSLContext:
        """The context to serve with (after :meth:`renew` succeeded once)."""
        if self._context is None:
            raise RuntimeError("MetricsCertificate.context before a successful renew()")
        return self._context

    def _select(self, sock: ssl.SSLObject | ssl.SSLSocket, _name: str | None, _ctx: ssl.SSLContext) -> None:
        if self._current is not None:
            sock.context = self._current

    async def renew(self) -> float:
        """Issue the certificate when due; the seconds until it must be looked at again.
        Raises :class:`moco.controllers.certs.CAUnavailable` when the CA cannot be read."""
        ca = await self.authority.authority()
        policy, now = self.authority.policy, self.authority.clock()
        if next_due(now, ca.view(), None, policy) <= now:
            self.authority.forget()  # the cached CA has a step due: read it again (and take it)
            ca = await self.authority.authority()
        pair, verdict = ca.leaf(now, self._pair, metrics_spec(self.authority.namespace), policy)
        if verdict.issue or self._current is None:
            ctx = _context(pair, ca.trust_bundle(now))
            self._pair, self._current = pair, ctx
            if self._context is None:
                self._context = _context(pair, ca.trust_bundle(now))
                self._context.sni_callback = self._select
            self.issued += 1
            log.info("metrics certificate issued", why=verdict.reason)
        due = next_due(now, ca.view(), certs.read(pair.cert_pem), policy)
        return max(RETRY_SECONDS, (due - now).total_seconds())

    async def run(self) -> None:
        """Renew for ever (a manager runnable of every replica: each serves its own metrics)."""
        while True:
            try:
                wait = await self.renew()
            except CAUnavailable as e:
                log.warning("metrics certificate not renewed: keeping the current one", error=str(e))
                wait = RETRY_SECONDS
            await asyncio.sleep(wait)
