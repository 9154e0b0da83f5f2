"""The clustering loop's timings for real mysqlds on loopback (tests, ``make soak``, benchmarks).

The operator's defaults (:mod:`moco.clustering.config`) are chosen for Pods across a network,
where a second of silence can be a blip. On loopback a mysqld that does not answer within a
second is gone, so the loop may decide sooner; each value differs from the default only where
that makes a test or a benchmark measure the loop rather than its waiting.
"""

from __future__ import annotations

from typing import Final

from moco.clustering.config import ProcessConfig

LOOPBACK: Final = ProcessConfig(
    interval=1.0,
    connect_timeout=1.0,  # loopback answers in microseconds
    query_timeout=5.0,
    status_retries=2,
    status_retry_interval=0.2,
    role_change_wait=0.05,
    switchover_kill_after=2.0,  # a test's long statement need not hold a switchover for 10 s
    switchover_wait=30.0,
    failover_wait=60.0,
    clone_timeout=120.0,  # a clone of a test's few megabytes takes seconds; 120 s means stuck
    pass_timeout=120.0,
)
