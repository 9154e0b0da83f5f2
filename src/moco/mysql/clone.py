"""CLONE INSTANCE FROM, followed to its end: the one clone procedure of moco.

:func:`clone_instance` is what the agent runs in a Pod and what the SQL clone agent of the
clustering tests runs against the test ground; both get the same behaviour:

1. ``clone_valid_donor_list`` is set and ``CLONE INSTANCE FROM`` runs on one connection while a
   second one samples ``performance_schema.clone_progress``. The clone is bounded by
   *progress*, not by total time: when the sampled stages, states and bytes stay the same for
   ``stall_timeout`` seconds the statement's connection is killed and the clone fails. A clone
   that moves on may take as long as it needs (:data:`STATEMENT_BOUND` is only a backstop).
2. The statement's outcome is classified by :func:`classify` (pure): error 3707 ("Restart server
   failed": mysqld has no supervisor, as in every Pod, so it shuts down and the container
   restart brings it back) and a lost connection (a supervised restart) mean *restarting*;
   any other error means the clone failed before touching the data.
3. The restarted server is awaited for ``boot_timeout`` seconds, trying each endpoint in turn
   (after a clone from an external source the recipient has the source's users, so the
   caller passes the source's init user in ``after``); its ``clone_status`` decides.

Raises :class:`~moco.mysql.errors.CloneFailed` (with MySQL's error number) or
:class:`~moco.mysql.errors.Timeout` (the server did not come back). Passwords are bound as
statement arguments and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from moco.log import get_logger
from moco.mysql import ops
from moco.mysql.conn import Connection, Endpoint, connect
from moco.mysql.errors import AccessDenied, CloneFailed, MySQLError, Timeout, Unreachable
from moco.mysql.status import CLONE_COMPLETED, CloneStatus, get_clone_status

log = get_logger("moco.mysql.clone")

#: MySQL's "Restart server failed (mysqld is not managed by supervisor process)".
ER_RESTART_SERVER_FAILED: Final = 3707
#: A backstop on the CLONE statement itself (a week); the real bound is the stall timeout.
STATEMENT_BOUND: Final = 7 * 24 * 3600.0
#: clone_status states of a clone that has not ended yet.
_NOT_ENDED: Final = (None, "Not Started", "In Progress")


@dataclass(frozen=True)
class Donor:
    """Where to clone from, and as whom (a user with BACKUP_ADMIN on the donor)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class CloneBounds:
    """How long a clone may go without progress, and how long the restart may take (seconds)."""

    #: no change in performance_schema.clone_progress for this long: the clone is killed.
    stall_timeout: float = 600.0
    #: from the end of the CLONE statement to the restarted server reporting the outcome.
    boot_timeout: float = 600.0
    #: how often progress is sampled and the restarting server polled.
    poll: float = 2.0


@dataclass(frozen=True)
class Progress:
    """One sample of performance_schema.clone_progress (on the recipient)."""

    #: the stage in progress (DROP DATA, FILE COPY, PAGE COPY, REDO COPY, FILE SYNC, RESTART,
    #: RECOVERY), or the last one that ran.
    stage: str
    #: bytes cloned and received so far, all stages.
    bytes_done: int
    #: (stage, state, data, network) of every stage: progress is any change of it.
    rows: tuple[tuple[str, str, int, int], ...] = ()


class Outcome(Enum):
    """What the end of the CLONE statement means."""

    RESTARTING = "restarting"
    FAILED = "failed"


def classify(err: MySQLError | None) -> Outcome:
    """The meaning of the CLONE statement's result (pure).

    No error, error 3707 (no supervisor: mysqld shuts down and must be started again) and a
    lost connection (the server restarted itself) all mean the data was cloned, or the outcome
    is known only to the restarted server's clone_status; anything else failed.
    """
    if err is None or err.code == ER_RESTART_SERVER_FAILED:
        return Outcome.RESTARTING
    # A server's answer (numbers from 3000 on, e.g. 3862 "Clone Donor Error") is a failure
    # (the mysql layer files it as SQLError); a client number (2000-2999) is a lost connection.
    if isinstance(err, Unreachable | Timeout) and not err.code >= 3000:
        return Outcome.RESTARTING
    return Outcome.FAILED


async def read_progress(conn: Connection) -> Progress | None:
    """The current progress (None before the first clone since the server started)."""
    rows = await conn.query(
        "SELECT STAGE, STATE, DATA, NETWORK FROM performance_schema.clone_progress ORDER BY ID"
    )
    if not rows:
        return None
    table = tuple(
        (str(r["STAGE"] or ""), str(r["STATE"] or ""), int(r["DATA"] or 0), int(r["NETWORK"] or 0))
        for r in rows
    )
    current = next((t for t in table if t[1] == "In Progress"), None)
    if current is None:
        ran = [t for t in table if t[1] != "Not Started"]
        current = ran[-1] if ran else table[0]
    return Progress(stage=current[0], bytes_done=sum(t[2] + t[3] for t in table), rows=table)


async def _watch(
    stmt: asyncio.Task[int],
    watcher: Connection,
    victim: int,
    bounds: CloneBounds,
    on_progress: Callable[[Progress], None] | None,
) -> float | None:
    """Sample progress until ``stmt`` ends; kill ``victim`` after a stall (returns its length)."""
    last: tuple[tuple[str, str, int, int], ...] | None = None
    changed = time.monotonic()
    while not stmt.done():
        await asyncio.wait({stmt}, timeout=bounds.poll)
        if stmt.done():
            break
        try:
            p = await read_progress(watcher)
        except MySQLError as e:
            log.info("clone progress not readable", error=str(e))
            p = None
        now = time.monotonic()
        if p is not None and p.rows != last:
            last, changed = p.rows, now
            if on_progress is not None:
                on_progress(p)
        elif now - changed > bounds.stall_timeout:
            stalled = now - changed
            log.warning("clone makes no progress: killing it", seconds=round(stalled))
            with contextlib.suppress(MySQLError):
                await watcher.execute("KILL %s", (victim,))
            with contextlib.suppress(MySQLError, asyncio.CancelledError):
                await asyncio.wait_for(stmt, timeout=30)
            return stalled
    return None


async def wait_restarted(endpoints: Sequence[Endpoint], timeout: float, poll: float = 0.5) -> CloneStatus:  # noqa: ASYNC109
    """Wait for the recipient to come back and report its clone's outcome.

    Each endpoint is tried in turn (one whose user is refused is skipped for the next);
    raises :class:`CloneFailed` when clone_status says the clone failed, :class:`Timeout`.
    """
    deadline = time.monotonic() + timeout
    last: MySQLError | None = None
    while time.monotonic() < deadline:
        for ep in endpoints:
            left = max(deadline - time.monotonic(), 0.1)
            try:
                async with await connect(ep, timeout=min(left, 5.0), query_timeout=min(left, 10.0)) as c:
                    st = await get_clone_status(c)
            except AccessDenied as e:
                last = e
                continue
            except (Unreachable, Timeout) as e:
                last = e
                break
            if st is None or st.state in _NOT_ENDED:
                break
            if st.state != CLONE_COMPLETED:
                raise CloneFailed(
                    f"{ep.address}: clone {st.state}: ({st.error_no}) {st.error_message}", code=st.error_no
                )
            return st
        await asyncio.sleep(poll)
    raise Timeout(f"the recipient did not report the clone's outcome within {timeout}s (last error: {last})")


async def clone_instance(
    recipient: Endpoint,
    donor: Donor,
    *,
    after: Sequence[Endpoint] = (),
    bounds: CloneBounds | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> CloneStatus:
    """Clone ``donor`` into the server at ``recipient`` and wait for it to restart (module docstring).

    ``recipient``'s user needs CLONE_ADMIN (and the clone plugin installed, or the right to
    install it); ``after`` are further endpoints to reach the restarted server with.
    """
    b = bounds or CloneBounds()
    where = f"{recipient.address}: clone from {donor.address}"
    conn = await connect(recipient)
    try:
        await ops.install_plugins(conn)
        await conn.execute("SET GLOBAL clone_valid_donor_list = %s", (donor.address,))
        watcher = await connect(recipient)
        try:
            victim = conn.thread_id
            log.info("clone started", server=recipient.address, donor=donor.address)
            stmt = asyncio.create_task(
                conn.execute(
                    "CLONE INSTANCE FROM %s@%s:%s IDENTIFIED BY %s",
                    (donor.user, donor.host, int(donor.port), donor.password),
                    timeout=STATEMENT_BOUND,
                )
            )
            try:
                stalled = await _watch(stmt, watcher, victim, b, on_progress)
            finally:
                if not stmt.done():
                    stmt.cancel()
                with contextlib.suppress(BaseException):
                    await stmt
        finally:
            await watcher.close()
    finally:
        await conn.close()
    if stalled is not None:
        raise CloneFailed(f"{where}: no progress for {round(stalled)}s (stall timeout {b.stall_timeout}s)")
    err = stmt.exception() if not stmt.cancelled() else Unreachable(f"{where}: statement cancelled")
    if err is not None and not isinstance(err, MySQLError):
        raise err
    if classify(err) is Outcome.FAILED:
        assert err is not None
        raise CloneFailed(f"{where} failed: {err}", code=err.code) from err
    log.info(
        "clone data copied, waiting for the restart", server=recipient.address, statement_error=str(err or "")
    )
    st = await wait_restarted([recipient, *after], b.boot_timeout, poll=min(b.poll, 0.5))
    log.info("clone completed", server=recipient.address, donor=donor.address)
    return st


__all__ = [
    "ER_RESTART_SERVER_FAILED",
    "CloneBounds",
    "Donor",
    "Outcome",
    "Progress",
    "classify",
    "clone_instance",
    "read_progress",
    "wait_restarted",
]
