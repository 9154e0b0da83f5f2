"""The restore step's condition and Events when the restore program said why it failed."""

from __future__ import annotations

from moco import constants
from moco.controllers import backupjobs
from unit_tests.controllers.test_backup import _job, _restore_cluster


def test_a_failed_restore_says_why_from_its_jobs_annotation() -> None:
    # the program writes its error on its Job (moco.backup.kubeside.record_failure): the
    # condition and the RestoreFailed Event carry it, not only the Job's "BackoffLimitExceeded"
    why = "spec.restore.restorePoint 2026-01-02T15:04:05Z is past what the bucket holds for sns/src"
    job = _job(("Failed", "True"))
    job["metadata"] = {"annotations": {constants.ANN_RESTORE_ERROR: why}}
    cluster = _restore_cluster()
    cond = backupjobs.restore_condition(cluster, job)
    assert cond is not None
    assert cond.reason == backupjobs.REASON_FAILED
    assert why in cond.message
    assert "boom" in cond.message, "the Job's own reason is kept"
    assert "delete the Job" in cond.message
    assert backupjobs.transition_events(cluster, cond, job) == [("Warning", "RestoreFailed", cond.message)]
    # a new Job (after a delete) has no note: the old error is not shown again
    running = backupjobs.restore_condition(cluster, {"metadata": {}})
    assert running is not None
    assert running.reason == backupjobs.REASON_RUNNING
    assert why not in running.message
