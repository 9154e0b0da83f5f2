"""How a replica names and checks its in-cluster source (moco.clustering.sourcetls), rule by rule."""

from __future__ import annotations

import pytest

from moco.clustering.sourcetls import SourceAddress, replicates_from, source_address
from moco.clustering.types import PodInfo, ReplicaView

CA = "/mysql-tls/ca.crt"
NAME0 = "moco-c-0.moco-c.ns.svc"
NAME1 = "moco-c-1.moco-c.ns.svc"


def pod(i: int, tls_name: str = "", ca: str | None = None) -> PodInfo:
    ca_file = (CA if tls_name else "") if ca is None else ca
    return PodInfo(
        name=f"moco-c-{i}", index=i, host=f"10.0.0.{i + 1}", tls_name=tls_name, tls_ca_file=ca_file
    )


@pytest.mark.parametrize(
    ("source", "replica", "want"),
    [
        # rule 1: both serve moco's certificate: by IP (no DNS), the chain verified with the
        # replica's mounted CA
        (pod(0, NAME0), pod(1, NAME1), SourceAddress("10.0.0.1", 3306, CA)),
        # rule 2: the source was rendered before version 3 (it serves its own certificate)
        (pod(0), pod(1, NAME1), SourceAddress("10.0.0.1", 3306, None)),
        # rule 2: the replica has no CA file to verify with
        (pod(0, NAME0), pod(1), SourceAddress("10.0.0.1", 3306, None)),
        (pod(0, NAME0), None, SourceAddress("10.0.0.1", 3306, None)),
        (pod(0, NAME0), pod(1, NAME1, ca=""), SourceAddress("10.0.0.1", 3306, None)),
        # the CA file is the replica's own
        (pod(0, NAME0, ca="/a"), pod(1, NAME1, ca="/b"), SourceAddress("10.0.0.1", 3306, "/b")),
        (pod(0), pod(1), SourceAddress("10.0.0.1", 3306, None)),
    ],
    ids=["both", "old-source", "old-replica", "no-replica-pod", "no-ca-file", "replica-ca", "neither"],
)
def test_source_address(source: PodInfo, replica: PodInfo | None, want: SourceAddress) -> None:
    assert source_address(source, replica) == want


VERIFIED = SourceAddress("10.0.0.1", 3306, CA)
PLAIN = SourceAddress("10.0.0.1", 3306, None)


def view(host: str, *, tls: bool = True, verified: bool = False, ca_file: str = "") -> ReplicaView:
    return ReplicaView(
        source_host=host,
        source_port=3306,
        io_running=True,
        sql_running=True,
        tls=tls,
        verified=verified,
        ca_file=ca_file,
    )


@pytest.mark.parametrize(
    ("replica", "address", "want"),
    [
        (view("10.0.0.1", ca_file=CA), VERIFIED, True),
        # set up before the rollout finished: encrypted by IP, no CA: pointed again with it
        (view("10.0.0.1"), VERIFIED, False),
        # by name with the name verified (as moco did before): pointed again by IP, so that
        # no DNS look-up is on the failover path
        (view(NAME0, verified=True, ca_file=CA), VERIFIED, False),
        # by IP but checking the name (a certificate without the IP would be refused), or
        # with another CA file
        (view("10.0.0.1", verified=True, ca_file=CA), VERIFIED, False),
        (view("10.0.0.1", ca_file="/elsewhere/ca.crt"), VERIFIED, False),
        (view("10.0.0.1"), PLAIN, True),
        # a verifying replica whose source lost moco's certificate (rolled back): pointed again
        (view("10.0.0.1", ca_file=CA), PLAIN, False),
        (view("10.0.0.1", verified=True, ca_file=CA), PLAIN, False),
        # never without TLS between instances
        (view("10.0.0.1", tls=False), PLAIN, False),
        (view("10.0.0.2"), PLAIN, False),
    ],
)
def test_replicates_from(replica: ReplicaView, address: SourceAddress, want: bool) -> None:
    assert replicates_from(replica, address) is want
