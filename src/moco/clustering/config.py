"""Timing and bounds of the clustering loop, with their defaults.

MOCO's values where MOCO has one (status retries, switchover wait, role-change wait); shorter
bounds where a long wait would only delay a failover on loopback-fast networks. Tests and the
benchmark shrink the ticker interval.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessConfig:
    """Bounds of one cluster's loop (seconds)."""

    #: A pass runs at least this often even without events.
    interval: float = 30.0
    #: the first retry of a failed pass; each further failure doubles it up to ``retry_max``
    #: (MOCO leaves a failed pass to its ticker; a pass that failed midway through a failover
    #: must not wait that long).
    retry_min: float = 1.0
    retry_max: float = 10.0
    #: connect + authenticate to a mysqld.
    connect_timeout: float = 3.0
    #: one SQL statement (waits take their own bounds below).
    query_timeout: float = 10.0
    #: tries to read a mysqld's status in one pass, ``status_retry_interval`` apart (whatever
    #: its Pod says: a not-ready or terminating Pod is no evidence that mysqld is gone).
    status_retries: int = 3
    status_retry_interval: float = 0.5
    #: A failover needs evidence that the primary is gone: at least ``failover_tries`` failed
    #: tries (``status_retries`` per pass) spread over at least ``failover_after`` seconds from
    #: the first one, its Pod present and every other Pod too. Until then the loop passes again
    #: every ``failover_recheck`` seconds and the status says it waits. (MOCO: 3 tries 3 s
    #: apart; a shorter span here, as a restarting mysqld refuses connections at once on
    #: loopback-fast networks and a hung one costs ``connect_timeout`` per try.) A crash of
    #: the primary's mysqld container needs no such wait: the same Pod whose mysqld container
    #: restarted (or stopped) since the primary was last seen writable, with a primary that is
    #: unreachable or came back read-only, is evidence at once (``kill 1`` in the container:
    #: kubelet restarts it and mysqld answers again sooner than ``failover_after``).
    failover_tries: int = 3
    failover_after: float = 2.0
    failover_recheck: float = 0.5
    #: tries that were all *refused* (the Pod answers, no mysqld listens: it died or is shutting
    #: down) confirm sooner: two of them this far apart (``moco.clustering.evidence``, rule 1).
    refused_after: float = 0.5
    #: Between passes the primary last seen writable is asked ``SELECT 1`` this often, each
    #: try bounded by ``watch_timeout`` (connect included): a failure wakes the loop and counts
    #: as a try of the evidence above, so a dead machine is noticed within about
    #: ``watch_interval + watch_timeout`` instead of at the next tick of ``interval``
    #: (Kubernetes marks the Pod of a dead node not ready only after about 40 s).
    watch_interval: float = 1.0
    watch_timeout: float = 1.0
    #: An instance that did not answer the last pass (and the primary while the watch sees it
    #: fail) gets one try of this long instead of ``status_retries`` tries of
    #: ``connect_timeout``: a dead or cut-off machine must not hold every pass for about 10 s
    #: (after a failover that pass is the one that makes the new primary writable). Once it
    #: answers again it gets its full tries. A live mysqld accepts a connection in milliseconds.
    silent_connect_timeout: float = 1.0
    #: while the Pod of another instance is there but its mysqld does not answer (a frozen or
    #: cut-off former primary, a restarting replica), the loop passes again this often, so a
    #: former primary that wakes up still writable is fenced within about this long (when the
    #: failover's own fence could not be sent: ``fence_line_bound``).
    unreachable_recheck: float = 1.0
    #: while a replica's IO thread makes its first connect to the primary (left alone: a
    #: restart would start it over, see ``decide.first_connect_underway``), the loop passes
    #: again this often, so the cluster is reported Healthy soon after it connected.
    connecting_recheck: float = 0.5
    #: a replica set up to follow the primary whose IO thread failed its last connect
    #: (``Last_IO_Errno`` set, the thread retrying or stopped) is restarted so that it tries
    #: again now rather than after ``SOURCE_CONNECT_RETRY`` (60 s), but at most this often: a
    #: connect that fails at once (the source's name does not resolve yet, nothing listens) was
    #: restarted at every pass, about every 40 ms, for as long as it failed.
    io_restart_every: float = 1.0
    #: one call through the Kubernetes side; also how long a cluster view older than the loop's
    #: own last primary-index write is read again before the pass gives up.
    kube_timeout: float = 10.0
    #: pause between two reads of a cluster view that is older than the loop's own write.
    stale_view_retry: float = 0.2
    #: a whole pass (gather + one operation); the bound is lifted when the pass starts the
    #: initial clone from an external source (bounded by progress, see ``clone_timeout``).
    pass_timeout: float = 300.0
    #: after this long waiting for read-only on the old primary, its client connections are killed
    #: (MOCO: 10 s). The read-only statement itself is bounded by this plus ``switchover_wait``,
    #: not by ``query_timeout``.
    switchover_kill_after: float = 10.0
    #: fencing a writable non-primary: after this long waiting for super_read_only (and then as
    #: often while it waits), commits hung on semi-sync acknowledgements are released once the
    #: read-only statement is seen waiting (see ``operations.fence_instance``). Short: until
    #: then a former primary that woke up keeps ``read_only=0``, though it cannot acknowledge.
    fence_release_after: float = 0.2
    #: the fence a failover sends to the old primary on the watch's idle line
    #: (:mod:`moco.clustering.fenceline`) waits this long for it to wake up, be reached again or
    #: refuse; then the line is reset, so that the statement can no longer land later, on a
    #: server that may be the primary again by then. A freeze or partition longer than this is
    #: left to the loop's passes (``unreachable_recheck``) and to the agent's isolation fence.
    fence_line_bound: float = 120.0
    #: how long the switchover target may take to apply the old primary's transactions.
    switchover_wait: float = 70.0
    #: how long one failover candidate may take to apply what it received; its applier is
    #: watched meanwhile (an SQL error ends the wait at once) and the next candidate that holds
    #: everything is tried, or the next pass decides again from fresh status (MOCO: ~50 s).
    failover_wait: float = 60.0
    #: pause after the role label of a writable instance to be fenced changed, so that the
    #: Services stop sending it clients before its clients are killed (MOCO: 0.3 s). A
    #: switchover or failover fences nobody (the old primary is read-only or gone): the new
    #: primary opens without it (``operations.configure``).
    role_change_wait: float = 0.3
    #: after a clone, how long the recipient's mysqld may take to answer again (sent as
    #: ``CloneRequest.timeout``; the agent's ``boot_timeout_s`` is the same 10 minutes). The clone
    #: itself has no total bound: it is bounded by its progress (``moco.mysql.clone``), so a clone
    #: of a large instance may take hours, and neither the clone job nor the pass that runs the
    #: initial clone from an external source is bounded by its total time.
    clone_timeout: float = 600.0
    #: a replica whose clone failed is cloned again after this many seconds, doubled at each
    #: failure in a row up to ``clone_retry_max``; a success starts over. Without it a clone
    #: that fails the same way each time (the recipient's volume too small for the donor's
    #: data) was started again at every pass, a CloneFailed Event every 2 s.
    clone_retry_initial: float = 5.0
    clone_retry_max: float = 120.0
    #: ``rpl_semi_sync_source_timeout``: so long that the primary never falls back to async.
    semisync_timeout_ms: int = 24 * 60 * 60 * 1000
