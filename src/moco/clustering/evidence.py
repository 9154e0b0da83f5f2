"""The evidence that the primary's mysqld is gone: failed tries counted over time (pure).

A failover costs a few seconds of writes and the old primary's unacknowledged transactions; a
failover that was not needed costs the same. So one failed try is never enough. The tries come
from two places: every pass's status reads (``ProcessConfig.status_retries`` per pass) and the
primary watch between passes (:mod:`moco.clustering.watch`, one try every
``ProcessConfig.watch_interval``). Both feed one :class:`DownTally`.

Rules, in order (the first that holds confirms; ``cfg`` is :class:`ProcessConfig`):

1. **Refused**: every try since the first failure was *refused* (the Pod's network namespace
   answered at once that nothing listens on mysqld's port: mysqld died or is shutting down, as
   after ``kill 1`` or an OOM kill), at least two of them, spread over ``refused_after`` s.
   A network blip never refuses a connection; it drops packets.
2. **Silence**: at least ``failover_tries`` failed tries of any kind spread over
   ``failover_after`` s (a dead, frozen or cut-off machine: connects time out). A blip shorter
   than ``failover_after`` never fails over.

Invariants: the tally belongs to one primary index (a failure of another index starts it over);
an answer from the primary (read by a pass or the watch) clears it; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from moco.clustering.config import ProcessConfig


@dataclass(frozen=True)
class DownTally:
    """Failed tries to reach primary ``index`` since ``since`` (monotonic seconds)."""

    index: int
    since: float
    tries: int
    #: every try counted so far was refused (rule 1).
    refused_only: bool


def count_failure(
    tally: DownTally | None, index: int, at: float, *, tries: int = 1, refused: bool = False
) -> DownTally:
    """The tally after ``tries`` more failed tries of primary ``index`` at time ``at``."""
    if tally is None or tally.index != index:
        return DownTally(index=index, since=at, tries=tries, refused_only=refused)
    return replace(tally, tries=tally.tries + tries, refused_only=tally.refused_only and refused)


def confirmed(tally: DownTally | None, index: int, now: float, cfg: ProcessConfig) -> bool:
    """Whether the tally proves primary ``index`` gone at time ``now`` (rules above)."""
    if tally is None or tally.index != index:
        return False
    span = now - tally.since
    if tally.refused_only and tally.tries >= 2 and span >= cfg.refused_after:
        return True
    return tally.tries >= cfg.failover_tries and span >= cfg.failover_after


def why(tally: DownTally | None) -> str:
    """The failover's reason as the status shows it."""
    if tally is not None and tally.refused_only:
        return "the primary's mysqld refuses connections (it is not running)"
    return "the primary does not answer"
