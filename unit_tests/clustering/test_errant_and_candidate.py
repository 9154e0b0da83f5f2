"""Errant detection and the failover candidate choice."""

from __future__ import annotations

import pytest

from moco.clustering.decide import can_catch_up, failover_candidate, find_errants
from moco.clustering.errors import NoCandidateError
from moco.clustering.types import InstanceView

from .builders import ERRANT_UUID, U, primary, replica

OLD = "dddddddd-0000-0000-0000-000000000000"


def test_replica_with_foreign_uuid_is_errant() -> None:
    insts = [primary(), replica(1), replica(2, gtid=f"{U[0]}:1-5,{ERRANT_UUID}:1")]
    assert find_errants(0, insts) == frozenset({2})


def test_replica_ahead_in_primary_uuid_is_not_errant() -> None:
    insts = [primary(), replica(1, gtid=f"{U[0]}:1-12"), replica(2, gtid=f"{U[0]}:1-3")]
    assert find_errants(0, insts) == frozenset()


def test_history_of_old_primaries_is_not_errant() -> None:
    hist = f"{OLD}:1-100,{U[0]}:1-10"
    insts = [primary(gtid=hist), replica(1, gtid=hist), replica(2, gtid=f"{OLD}:1-90")]
    assert find_errants(0, insts) == frozenset()


def test_old_primary_with_unreplicated_tail_is_errant() -> None:
    insts = [primary(gtid=f"{OLD}:1-100,{U[0]}:1-10"), replica(1, gtid=f"{OLD}:1-101")]
    assert find_errants(0, insts) == frozenset({1})


def test_unreachable_primary_uses_remembered_list() -> None:
    insts = [None, replica(1), replica(2, gtid=f"{ERRANT_UUID}:1")]
    assert find_errants(0, insts, (2,)) == frozenset({2})
    assert find_errants(0, insts, ()) == frozenset()


def fresh(i: int, executed: str, retrieved: str) -> InstanceView:
    return replica(i, gtid=executed, retrieved=retrieved, io=False)


def test_candidate_is_most_advanced_by_retrieved() -> None:
    got = {
        1: fresh(1, f"{U[0]}:1-5", f"{U[0]}:1-8"),
        2: fresh(2, f"{U[0]}:1-7", f"{U[0]}:1-9"),
        3: fresh(3, f"{U[0]}:1-9", f"{U[0]}:1-9"),
    }
    assert failover_candidate(0, got, frozenset()) == 2


def test_candidate_counts_executed_as_well() -> None:
    got = {1: fresh(1, f"{U[0]}:1-10", ""), 2: fresh(2, f"{U[0]}:1-3", f"{U[0]}:1-9")}
    assert failover_candidate(0, got, frozenset()) == 1


def test_candidate_ties_go_to_lowest_index() -> None:
    got = {2: fresh(2, f"{U[0]}:1-5", ""), 1: fresh(1, f"{U[0]}:1-5", "")}
    assert failover_candidate(0, got, frozenset()) == 1


def test_errant_replica_never_candidate_even_when_ahead() -> None:
    got = {
        1: fresh(1, f"{U[0]}:1-10,{ERRANT_UUID}:1", f"{U[0]}:1-10"),
        2: fresh(2, f"{U[0]}:1-9", f"{U[0]}:1-9"),
    }
    assert failover_candidate(0, got, frozenset({1})) == 2


def test_no_candidate_when_only_errant() -> None:
    got = {1: fresh(1, f"{U[0]}:1-10", "")}
    with pytest.raises(NoCandidateError):
        failover_candidate(0, got, frozenset({1}))


def test_diverging_replicas_raise() -> None:
    got = {1: fresh(1, f"{U[0]}:1-5,{U[0]}:7", ""), 2: fresh(2, f"{U[0]}:1-6", "")}
    with pytest.raises(NoCandidateError):
        failover_candidate(0, got, frozenset())


def test_replica_without_replication_status_is_excluded() -> None:
    got = {1: InstanceView(server_uuid=U[1], executed_gtid=f"{U[0]}:1-99"), 2: fresh(2, f"{U[0]}:1-3", "")}
    assert failover_candidate(0, got, frozenset()) == 2


def test_primary_itself_is_excluded() -> None:
    got = {0: fresh(0, f"{U[0]}:1-99", ""), 2: fresh(2, f"{U[0]}:1-3", "")}
    assert failover_candidate(0, got, frozenset()) == 2


def test_replica_can_catch_up_only_when_nothing_it_needs_was_purged() -> None:
    p = primary(gtid=f"{U[0]}:1-100", purged_gtid=f"{U[0]}:1-50")
    assert can_catch_up(replica(1, gtid=f"{U[0]}:1-60"), p)
    assert can_catch_up(replica(1, gtid=f"{U[0]}:1-50"), p)
    assert not can_catch_up(replica(1, gtid=f"{U[0]}:1-40", retrieved=""), p)
    assert not can_catch_up(InstanceView(server_uuid=U[1]), p)
    assert can_catch_up(InstanceView(server_uuid=U[1]), primary())


def test_relay_log_does_not_count_as_held_against_purged_binlogs() -> None:
    # CHANGE REPLICATION SOURCE discards the relay log: what was only retrieved is gone once
    # the replica is repointed, so only gtid_executed counts (MOCO issue #731).
    p = primary(gtid=f"{U[0]}:1-100", purged_gtid=f"{U[0]}:1-50")
    assert not can_catch_up(replica(1, gtid=f"{U[0]}:1-40", retrieved=f"{U[0]}:41-55"), p)
    assert can_catch_up(replica(1, gtid=f"{U[0]}:1-50", retrieved=f"{U[0]}:1-55"), p)


def test_every_replica_that_holds_everything_is_a_candidate_in_order() -> None:
    from moco.clustering.decide import failover_candidates

    g = f"{U[0]}:1-10"
    fresh = {
        1: replica(1, gtid=g),
        2: replica(2, gtid=f"{U[0]}:1-8", retrieved=g),
        3: replica(3, gtid=f"{U[0]}:1-5"),
    }
    assert failover_candidates(0, fresh, frozenset()) == (1, 2)
    assert failover_candidates(0, fresh, frozenset({1})) == (2,)
