"""The controller's CA for the agent channel, kept in a Secret; agent and controller certificates.

* The CA Secret :data:`CA_SECRET_NAME` in the controller's namespace holds the
  :class:`moco.pki.Authority` (current CA and key, a staged successor, previous certificates).
  It is created once with create-if-absent semantics and changed only by a resourceVersion-checked
  update: two controller replicas racing at start (or a leader and a former leader) both end
  up with the one CA that won, never with two. Its rotation follows :mod:`moco.pki.decide`.
* Each cluster's agents serve the certificate of Secret ``moco-<name>-grpc`` (MOCO's name) in
  the cluster's namespace, owned by the cluster: ``tls.crt``/``tls.key`` and ``ca.crt`` (the
  trust bundle). Its SANs name every Pod of the cluster (:func:`moco.agentapi.tls.agent_dns_names`);
  it is reissued when :func:`moco.pki.decide_leaf` says so and rewritten when the trust bundle
  changes. The Pod mounts it; the agent reloads it (nothing restarts).
* The controller's client certificate (CN :data:`moco.agentapi.tls.CONTROLLER_NAME`, clientAuth)
  is issued in memory by the process that uses it: it never lands in a Secret or on disk.

The CA is read with a GET at most every ``refresh`` s per process (600 clusters reconciling do
not each read it). No key material is ever logged; Events name Secrets and rules only.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Final

from moco import constants
from moco.agentapi import tls
from moco.api import MySQLCluster, names
from moco.controllers.common import Obj, object_meta
from moco.controllers.errors import ControllerError
from moco.kube import errors as kerr
from moco.kube.client import Client
from moco.kube.resource import SECRETS, Resource
from moco.log import get_logger
from moco.mysql.conn import ServerTrust
from moco.pki import Authority, KeyPair, LeafSpec, Policy, Usage, certs, settle
from moco.pki.decide import next_due

log = get_logger("moco.controllers.certs")

#: the CA Secret in the controller's namespace
CA_SECRET_NAME: Final = "moco-agent-ca"
#: Event reason when an agent certificate is (re)issued
EV_ISSUED: Final = "AgentCertificateIssued"
#: the soonest a cluster is looked at again for its certificates (a step due "now" was just
#: taken; this only bounds a clock that disagrees with the certificates)
MIN_RECHECK_SECONDS: Final = 60.0
_CA_LABELS: Final = {
    constants.LABEL_APP_CREATED_BY: constants.APP_CREATOR,
    "app.kubernetes.io/component": "agent-ca",
}

Getter = Callable[[Resource, str, str | None], Awaitable[Obj | None]]
Applier = Callable[[Resource, Obj], Awaitable[Obj]]
Clock = Callable[[], datetime.datetime]


class CAUnavailable(ControllerError):
    """The CA Secret could not be read, created or updated."""

    reason = "AgentCAUnavailable"


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _decode(secret: Obj | None) -> dict[str, bytes]:
    if secret is None:
        return {}
    try:
        return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    except ValueError:
        return {}


def encode_data(data: dict[str, bytes]) -> dict[str, str]:
    """A Secret's ``data``: each value base64, keys sorted (equal data renders equal)."""
    return {k: base64.b64encode(v).decode() for k, v in sorted(data.items())}


def ca_secret(namespace: str, authority: Authority) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": CA_SECRET_NAME, "namespace": namespace, "labels": dict(_CA_LABELS)},
        "data": encode_data(authority.to_data()),
    }


def agent_spec(cluster: MySQLCluster) -> LeafSpec:
    """The agent certificate a cluster needs."""
    return LeafSpec(
        common_name=tls.AGENT_NAME,
        usages=frozenset({Usage.SERVER}),
        dns_names=tls.agent_dns_names(cluster.namespace, cluster.name),
    )


def controller_spec() -> LeafSpec:
    return LeafSpec(common_name=tls.CONTROLLER_NAME, usages=frozenset({Usage.CLIENT}))


def agent_secret_name(cluster: MySQLCluster) -> str:
    return names.grpc_secret_name(cluster.name)


def agent_secret(cluster: MySQLCluster, pair: KeyPair, trust: bytes) -> Obj:
    """``moco-<name>-grpc``: the agents' serving certificate, its key and the trust bundle."""
    data = {tls.CERT_FILE: pair.cert_pem, tls.KEY_FILE: pair.key_pem, tls.CA_FILE: trust}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": object_meta(cluster, agent_secret_name(cluster)),
        "data": encode_data(data),
    }


def _pair(data: dict[str, bytes]) -> KeyPair | None:
    cert, key = data.get(tls.CERT_FILE), data.get(tls.KEY_FILE)
    return KeyPair(cert, key) if cert and key else None


class AgentCertificates:
    """The CA Secret, the agents' certificate Secrets and the controller's client context."""

    def __init__(
        self,
        client: Client,
        namespace: str,
        *,
        policy: Policy | None = None,
        timeout: float = 10.0,
        refresh: float = 60.0,
        clock: Clock = _utcnow,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.policy = policy or Policy()
        self.timeout = timeout
        #: seconds a read CA is used before it is read again
        self.refresh = refresh
        self.clock = clock
        self._authority: Authority | None = None
        self._read_at = -float("inf")
        self._lock = asyncio.Lock()
        self._client_pair: KeyPair | None = None
        self._client_ctx: ssl.SSLContext | None = None
        self._client_key: tuple[bytes, bytes] | None = None
        self._mysql_trust: ServerTrust | None = None

    # --- the CA ------------------------------------------------------------------------------
    async def authority(self) -> Authority:
        """The CA, created or advanced when due (raises :class:`CAUnavailable`)."""
        async with self._lock:
            if self._authority is not None and time.monotonic() - self._read_at < self.refresh:
                return self._authority
            self._authority = await self._ensure()
            self._read_at = time.monotonic()
            return self._authority

    def forget(self) -> None:
        """Read the CA again at the next use."""
        self._read_at = -float("inf")

    async def _ensure(self) -> Authority:
        last: Exception | None = None
        for _ in range(5):
            try:
                live: Obj | None = await self.client.get(
                    SECRETS, CA_SECRET_NAME, self.namespace, request_timeout=self.timeout
                )
            except kerr.NotFound:
                live = None
            except kerr.KubeError as e:
                raise CAUnavailable(f"cannot read Secret {self.namespace}/{CA_SECRET_NAME}: {e}") from e
            stored = Authority.from_data(_decode(live))
            step = settle(self.clock(), stored, self.policy)
            if step is None:
                assert stored is not None  # settle creates a CA when there is none
                return stored
            authority, reasons = step
            desired = ca_secret(self.namespace, authority)
            try:
                if live is None:
                    await self.client.create(SECRETS, desired, request_timeout=self.timeout)
                else:
                    desired["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
                    await self.client.replace(SECRETS, desired, request_timeout=self.timeout)
            except kerr.Conflict as e:  # AlreadyExists too: another replica wrote first; read its CA
                last = e
                continue
            except kerr.KubeError as e:
                raise CAUnavailable(f"cannot write Secret {self.namespace}/{CA_SECRET_NAME}: {e}") from e
            log.info("agent CA updated", secret=f"{self.namespace}/{CA_SECRET_NAME}", steps=reasons)
            return authority
        raise CAUnavailable(f"Secret {self.namespace}/{CA_SECRET_NAME} kept changing under us: {last}")

    # --- leaf Secrets of a cluster ------------------------------------------------------------
    async def reconcile_leaf(
        self,
        secret: str,
        spec: LeafSpec,
        render: Callable[[KeyPair, bytes], Obj],
        *,
        cluster: MySQLCluster,
        get: Getter,
        apply: Applier,
        events: list[tuple[str, str, str]],
        reason: str,
        what: str,
    ) -> float:
        """Make Secret ``secret`` of ``cluster`` (``render(pair, trust)``) hold a certificate for
        ``spec`` and the current trust bundle; the seconds until it must be looked at again
        (:func:`moco.pki.decide.next_due`): without any event, the certificate is renewed and the
        CA rotated in time. A (re)issue is an Event ``reason`` naming ``what`` and the rule."""
        authority = await self.authority()
        now = self.clock()
        if next_due(now, authority.view(), None, self.policy) <= now:
            self.forget()  # the cached CA has a step due: read it again (and take the step)
            authority = await self.authority()
        live = _decode(await get(SECRETS, secret, cluster.namespace))
        pair, verdict = authority.leaf(now, _pair(live), spec, self.policy)
        trust = authority.trust_bundle(now)
        due = next_due(now, authority.view(), certs.read(pair.cert_pem), self.policy)
        after = max(MIN_RECHECK_SECONDS, (due - now).total_seconds())
        if not verdict.issue and live.get(tls.CA_FILE) == trust:
            return after
        await apply(SECRETS, render(pair, trust))
        if verdict.issue:
            events.append(("Normal", reason, f"{what} Secret {secret} issued ({verdict.reason})"))
            log.info(
                f"{what} issued",
                cluster=cluster.name,
                namespace=cluster.namespace,
                secret=secret,
                why=verdict.reason,
            )
        return after

    async def reconcile_agent(
        self, cluster: MySQLCluster, get: Getter, apply: Applier, events: list[tuple[str, str, str]]
    ) -> float:
        """Make ``moco-<name>-grpc`` hold a good certificate and the current trust bundle
        (:meth:`reconcile_leaf`)."""
        return await self.reconcile_leaf(
            agent_secret_name(cluster),
            agent_spec(cluster),
            lambda pair, trust: agent_secret(cluster, pair, trust),
            cluster=cluster,
            get=get,
            apply=apply,
            events=events,
            reason=EV_ISSUED,
            what="agent certificate",
        )

    # --- verifying mysqld ---------------------------------------------------------------------
    async def mysql_trust(self) -> ServerTrust:
        """What the operator verifies the certificates of mysqld with (:mod:`.mysqlcert`): the
        trust bundle, one :class:`moco.mysql.conn.ServerTrust` while it does not change (its
        contexts are reused by every connection)."""
        authority = await self.authority()
        trust = authority.trust_bundle(self.clock())
        if self._mysql_trust is None or self._mysql_trust.ca_pem != trust:
            self._mysql_trust = ServerTrust(trust)
        return self._mysql_trust

    # --- the controller's own client certificate ---------------------------------------------
    async def client_context(self) -> ssl.SSLContext:
        """The SSL context the controller calls agents with (renewed in memory when due)."""
        authority = await self.authority()
        now = self.clock()
        pair, verdict = authority.leaf(now, self._client_pair, controller_spec(), self.policy)
        trust = authority.trust_bundle(now)
        key = (pair.cert_pem, trust)
        if self._client_ctx is None or key != self._client_key:
            self._client_ctx = tls.client_context(pair.cert_pem, pair.key_pem, trust)
            self._client_pair, self._client_key = pair, key
            if verdict.issue:
                log.info("controller client certificate issued", why=verdict.reason)
        return self._client_ctx
