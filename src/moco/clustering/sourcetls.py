"""How a replica reaches its in-cluster source, and how the operator reaches a mysqld (pure).

An instance whose Pod mounts moco's certificate (reconcile version 3:
:mod:`moco.controllers.mysqlcert`) serves a certificate of the cluster's CA that names its Pod's
DNS name (:attr:`PodInfo.tls_name`), and holds the CA at :attr:`PodInfo.tls_ca_file`
(:data:`POD_CA_FILE` in a Pod). Rules, for a replica ``r`` of a source ``s`` (:func:`source_address`):

1. ``s`` and ``r`` both serve moco's certificate: ``r`` names ``s`` by its Pod IP and verifies
   that ``s``'s certificate chains to the CA (``SOURCE_SSL_CA`` = its own CA file,
   ``SOURCE_SSL_VERIFY_SERVER_CERT = 0``: MySQL's VERIFY_CA): only a mysqld holding a
   certificate of moco's CA can be its source, and the address is the one the API server gives
   for the Pod. The name in the certificate is not checked: checking it needs the Pod's DNS
   name as the address, and that put the cluster's DNS on the failover path (a node loss that
   took the only CoreDNS left the surviving replica unable to resolve the new primary, so
   nothing was acknowledged until DNS came back; measured on three local nodes);
2. otherwise (one of them was rendered before version 3: a rollout in progress, or a cluster not
   yet moved to version 3): ``r`` names ``s`` by its Pod IP, encrypted and unverified, as
   before. Verifying there would fail (the source serves mysqld's self-signed certificate, or the
   replica has no CA file) and stop replication: a half-rolled cluster must keep replicating.

A replica is in sync with its source (:func:`replicates_from`) only when it is set up exactly
so; one set up otherwise (under the other rule, or by name as moco did before) is pointed again
by ``configure``.

The operator's own connections (:func:`moco.clustering.gather.admin_endpoint`) follow the same
line: to an instance with a ``tls_name``, TLS verified against the CA for that name; to one
without, as before. A Pod IP is the connect address in every case (no DNS in the failover path):
the name is checked, never resolved, by the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from moco import constants
from moco.clustering.types import PodInfo, ReplicaView

#: the CA a replica checks its source against, in a Pod: ``ca.crt`` of its mounted Secret
POD_CA_FILE: Final = f"{constants.MYSQL_TLS_PATH}/ca.crt"


@dataclass(frozen=True)
class SourceAddress:
    """What ``CHANGE REPLICATION SOURCE`` names, and whether the replica verifies the source."""

    host: str
    port: int
    #: the CA file the replica verifies the source's certificate chain with (rule 1), None when
    #: it does not (rule 2)
    verify_ca: str | None


def source_address(source: PodInfo, replica: PodInfo | None) -> SourceAddress:
    """How ``replica`` replicates from ``source`` (rules 1-2 of the module docstring)."""
    if source.tls_name and replica is not None and replica.tls_name and replica.tls_ca_file:
        return SourceAddress(source.host, source.port, replica.tls_ca_file)
    return SourceAddress(source.host, source.port, None)


def replicates_from(r: ReplicaView, address: SourceAddress) -> bool:
    """``r`` is set up as :func:`source_address` says: same host and port, always TLS, the
    chain verified with the address's CA file exactly when it names one, the name never."""
    if (r.source_host, r.source_port) != (address.host, address.port) or not r.tls or r.verified:
        return False
    return r.ca_file == (address.verify_ca or "")
