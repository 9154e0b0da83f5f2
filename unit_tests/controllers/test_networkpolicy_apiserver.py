"""The apiserver accepts manifests/networkpolicy as it is (schema and field validation), in a
namespace of MySQLClusters, and keeps every rule (a field it dropped would widen the policy)."""

from __future__ import annotations

import pytest

from moco.kube.client import Client
from moco.kube.resource import Resource
from unit_tests.controllers.test_networkpolicy import load

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(60)]

NETWORKPOLICIES = Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy")


async def test_the_policy_is_accepted_unchanged(kube: Client, namespace: str) -> None:
    policy = load()
    policy["metadata"]["namespace"] = namespace
    created = await kube.create(NETWORKPOLICIES, policy)
    assert created["spec"]["podSelector"] == policy["spec"]["podSelector"]
    assert created["spec"]["ingress"] == policy["spec"]["ingress"]
    assert created["spec"]["policyTypes"] == ["Ingress"]
