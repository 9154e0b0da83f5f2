"""The loop's view of the MySQLCluster: the informer cache, or fresh from the API server (apiserver tier).

An informer cache can still hold the status from before a switchover; routine passes read it
(a GET per pass would spend the client's rate limit), and the loop asks for a fresh read before
it acts (``moco.clustering.process``): that read must answer with what the API server holds now.
"""

from __future__ import annotations

import copy

import pytest

from moco.controllers.kubeside import ClusterKubeSide
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube.client import Client
from moco.kube.store import Store
from unit_tests.controllers.harness import cluster_manifest

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(120)]


async def test_a_fresh_read_is_not_answered_from_a_stale_cache(kube: Client, namespace: str) -> None:
    ns = namespace
    created = await kube.create(MYSQLCLUSTERS, cluster_manifest(ns))
    stale = copy.deepcopy(created)
    stale.setdefault("status", {})["currentPrimaryIndex"] = 0
    cache = Store()
    cache.add(stale)  # what a lagging informer still holds

    def move(o: dict[str, object]) -> bool:
        status = o.setdefault("status", {})
        assert isinstance(status, dict)
        status["currentPrimaryIndex"] = 2
        return True

    await kube.update_status_with_retry(MYSQLCLUSTERS, "test", ns, move)
    side = ClusterKubeSide(kube, cache, Store(), ns, "test", ns, timeout=5.0)
    cached = await side.get_cluster()
    assert cached is not None
    assert cached.current_primary_index == 0
    view = await side.get_cluster(fresh=True)
    assert view is not None
    assert view.current_primary_index == 2
    # a cluster the cache does not hold yet is read from the API server
    empty = ClusterKubeSide(kube, Store(), Store(), ns, "test", ns, timeout=5.0)
    missing = await empty.get_cluster()
    assert missing is not None
    assert missing.current_primary_index == 2
    await kube.delete(MYSQLCLUSTERS, "test", ns)
    # deleting or gone: a fresh read never answers with the copy the cache still holds
    assert await side.get_cluster(fresh=True) is None
