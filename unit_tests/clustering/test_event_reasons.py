"""The clustering loop's Event reasons are MOCO's (its ``pkg/event``), so that alerts and
dashboards written for MOCO match them unchanged."""

from __future__ import annotations

import pytest

from moco.clustering import interfaces as ev

#: our constant -> MOCO's reason for the same event
MOCO_REASONS = [
    (ev.EV_SET_WRITABLE, "Writable"),
    (ev.EV_CLONE_SUCCEEDED, "Cloned"),
    (ev.EV_CLONE_FAILED, "CloneFailed"),
    (ev.EV_INIT_CLONE_SUCCEEDED, "InitCloned"),
    (ev.EV_INIT_CLONE_FAILED, "InitCloneFailed"),
    (ev.EV_SWITCHOVER_SUCCEEDED, "SwitchOver"),
    (ev.EV_SWITCHOVER_FAILED, "SwitchOverFailed"),
    (ev.EV_FAILOVER_SUCCEEDED, "FailOver"),
    (ev.EV_FAILOVER_FAILED, "FailOverFailed"),
]


@pytest.mark.parametrize(("ours", "moco"), MOCO_REASONS, ids=[m for _, m in MOCO_REASONS])
def test_reason_is_mocos(ours: str, moco: str) -> None:
    assert ours == moco


def test_our_own_reasons_do_not_take_a_moco_name() -> None:
    mocos = {m for _, m in MOCO_REASONS} | {"BackupCreated", "BackupNoBinlog", "Restored"}
    ours_only = {
        ev.EV_ERRANT_FENCED,
        ev.EV_REPLICA_UNRECOVERABLE,
        ev.EV_STATE_CHANGED,
        ev.EV_CLUSTERING_STOPPED,
    }
    assert not ours_only & mocos
