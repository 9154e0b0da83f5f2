"""The NetworkPolicy of manifests/networkpolicy, read with the API's semantics: who reaches which
port of a mysqld Pod. (The local provider's CNI, bridge + host-local, does not enforce
NetworkPolicies: this table, and the apiserver's acceptance of the object in
test_networkpolicy_apiserver.py, are what is proven here.)

Semantics (networking.k8s.io/v1): the rules of ``ingress`` are ORed; a rule without ``from``
admits every source, without ``ports`` every port; the peers of ``from`` are ORed; a peer with
``namespaceSelector`` and ``podSelector`` needs both; a ``podSelector`` alone means Pods of the
policy's own namespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from moco import constants
from moco.controllers.common import labels
from unit_tests.controllers.render_helpers import load_example

POLICY_DIR = Path(__file__).parents[2] / "manifests" / "networkpolicy"
NS = "app"  # where the policy is applied (the MySQLClusters' namespace)


@dataclass(frozen=True)
class Peer:
    namespace: str
    pod_labels: dict[str, str]
    namespace_labels: dict[str, str] = field(default_factory=dict)


def _matches(selector: dict[str, Any], have: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels is read here"
    return all(have.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _peer_admitted(peer_rule: dict[str, Any], peer: Peer) -> bool:
    ns_sel, pod_sel = peer_rule.get("namespaceSelector"), peer_rule.get("podSelector")
    ns_labels = {"kubernetes.io/metadata.name": peer.namespace, **peer.namespace_labels}
    ns_ok = _matches(ns_sel, ns_labels) if ns_sel is not None else peer.namespace == NS
    pod_ok = _matches(pod_sel, peer.pod_labels) if pod_sel is not None else True
    return ns_ok and pod_ok


def allowed(policy: dict[str, Any], peer: Peer, port: int) -> bool:
    for rule in policy["spec"]["ingress"]:
        ports = rule.get("ports")
        if ports is not None and port not in {p["port"] for p in ports}:
            continue
        peers = rule.get("from")
        if peers is None or any(_peer_admitted(p, peer) for p in peers):
            return True
    return False


def load() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((POLICY_DIR / "mysqld.yaml").read_text()) if d]
    assert [d["kind"] for d in docs] == ["NetworkPolicy"]
    policy: dict[str, Any] = docs[0]
    return policy


CONTROLLER = Peer(
    "moco-system", {"app.kubernetes.io/name": "moco", "app.kubernetes.io/component": "moco-controller"}
)
INSTANCE = Peer(
    NS,
    {
        "app.kubernetes.io/name": "mysql",
        "app.kubernetes.io/instance": "db",
        "app.kubernetes.io/created-by": "moco",
    },
)
BACKUP_JOB = Peer(NS, {"app.kubernetes.io/name": "mysql-backup", "app.kubernetes.io/created-by": "moco"})
APP = Peer(NS, {"app": "shop"})
OTHER_NS_MOCO = Peer("other", dict(INSTANCE.pod_labels))
OTHER_NS_CONTROLLER_LOOKALIKE = Peer("other", dict(CONTROLLER.pod_labels))
PROMETHEUS = Peer("monitoring", {"app": "prometheus"}, {"moco.cybozu.com/metrics-scraper": "true"})
AGENT, ADMIN, MYSQL, X, HEALTH, AGENT_METRICS, EXPORTER = 9080, 33062, 3306, 33060, 9081, 8080, 9104


@pytest.mark.parametrize(
    ("peer", "port", "ok"),
    [
        (CONTROLLER, AGENT, True),
        (INSTANCE, AGENT, False),
        (APP, AGENT, False),
        (OTHER_NS_CONTROLLER_LOOKALIKE, AGENT, False),
        (CONTROLLER, ADMIN, True),
        (INSTANCE, ADMIN, True),
        (BACKUP_JOB, ADMIN, True),
        (APP, ADMIN, False),
        (OTHER_NS_MOCO, ADMIN, False),
        (APP, MYSQL, True),
        (OTHER_NS_MOCO, MYSQL, True),
        (APP, X, True),
        (APP, HEALTH, True),
        (PROMETHEUS, AGENT_METRICS, True),
        (PROMETHEUS, EXPORTER, True),
        (APP, AGENT_METRICS, False),
        (APP, EXPORTER, False),
        (PROMETHEUS, AGENT, False),
        (PROMETHEUS, ADMIN, False),
    ],
)
def test_who_reaches_which_port(peer: Peer, port: int, ok: bool) -> None:
    assert allowed(load(), peer, port) is ok


def test_the_policy_selects_every_mysqld_pod_moco_makes_and_only_ingress() -> None:
    cluster, _ = load_example("guaranteed.yaml")
    policy = load()
    assert _matches(policy["spec"]["podSelector"], labels(cluster))
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert "namespace" not in policy["metadata"]  # set by whoever applies it


def test_the_ports_are_mocos() -> None:
    assert (AGENT, ADMIN, MYSQL, X, HEALTH, AGENT_METRICS, EXPORTER) == (
        constants.AGENT_PORT,
        constants.MYSQL_ADMIN_PORT,
        constants.MYSQL_PORT,
        constants.MYSQLX_PORT,
        constants.MYSQL_HEALTH_PORT,
        constants.AGENT_METRICS_PORT,
        constants.EXPORTER_PORT,
    )
