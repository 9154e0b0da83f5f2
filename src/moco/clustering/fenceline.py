"""The fence line: the old primary's fence sent before it can wake up.

A primary failed over because its process or machine froze (SIGSTOP, a paused VM, a machine
stalled on its disk) or was cut off wakes up believing it is the primary: ``read_only`` off,
beside the new primary. It cannot acknowledge a commit (no semi-sync replica follows it any
more), but every client that reaches it in that moment is told it may write, and the loop fences
it only at its next pass after it answers again (``unreachable_recheck``, about a second). A
fence sent at the failover does better: it is in the old primary's socket when it wakes (or in
TCP's retransmissions, delivered when the partition heals), and mysqld runs it as it runs
everything that arrived while it slept.

Measured on the mysql tier (a writable mysqld SIGSTOPped, a client waiting in its listen backlog
to ask ``@@read_only``, SIGCONT): with the fence already sent on an idle connection
authenticated before the stop, the client's first answer was read-only in 10 of 10 tries.

Rules:

1. The line is the watch's idle, authenticated connection to the primary it follows
   (:meth:`moco.clustering.watch.PrimaryWatch.take_line`); nothing is ever sent on it but what
   this module sends.
2. A failover fires it once the new primary index is written and before the new primary is
   opened: :func:`fire` returns once ``SET GLOBAL super_read_only = ON`` is written to the
   line, and follows it as a task from there.
3. Commits that reached the old primary while it slept run when it wakes and wait for semi-sync
   acknowledgements nobody will send; the fence waits behind them (``read_only`` stays off).
   The shot connects anew at once (the connect completes once the server accepts again, i.e.
   is awake or reachable): if the fence still waits then, the clients and dump threads
   are killed and then those commits released, in that order, so that no client sees one
   acknowledged; again every ``RELEASE_POLL`` until the fence lands
   (:func:`moco.mysql.ops.release_until_read_only`, as the loop's own fence).
4. A shot lasts at most ``fence_line_bound``; then its line is reset (RST, the unsent
   statement dropped): a fence that lands later could hit a server that is the primary again
   by then.
5. A shot never fails the failover: a dead server (the line ends, a connect is refused) ends it
   at once. A fence that landed wakes the loop, which then sees the old primary read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moco import constants
from moco.clustering.config import ProcessConfig
from moco.mysql import ops
from moco.mysql.conn import Connection, connect
from moco.mysql.errors import MySQLError
from moco.tasks import cancel_and_wait

#: while the fence waits on a woken server, its connections are read again (and its clients
#: killed) this often (rule 3).
RELEASE_POLL = 0.01


async def fire(line: Connection, cfg: ProcessConfig, log: Any) -> asyncio.Task[bool]:
    """Send the fence on ``line`` (rule 2); returns the task that follows it: True when the
    fence landed. The caller owns the task (:class:`Shots` keeps them)."""
    deadline = asyncio.get_running_loop().time() + cfg.fence_line_bound
    # the statement's own bound is longer than the shot's: the shot resets the line itself
    # (rule 4) instead of letting a timeout close it gracefully, which would still deliver
    bound = cfg.fence_line_bound + 60.0
    shot = _Shot(line, asyncio.ensure_future(ops.set_read_only(line, timeout=bound)), deadline, cfg, log)
    try:
        await asyncio.sleep(0)  # the statement runs up to its first read: it is written
    except asyncio.CancelledError:
        await shot.reset()
        raise
    return asyncio.create_task(shot.follow(), name="fence-line")


@dataclass
class _Shot:
    """One fired fence: the line, its pending fence, the shot's deadline (rule 4)."""

    line: Connection
    ro: asyncio.Future[None]
    deadline: float
    cfg: ProcessConfig
    log: Any

    async def follow(self) -> bool:
        release = asyncio.create_task(self._release_when_awake())
        ro = self.ro
        try:
            # waited for, not awaited: a cancel must not reach the statement (see reset)
            await asyncio.wait({ro}, timeout=max(self.deadline - asyncio.get_running_loop().time(), 0.0))
            if not ro.done():
                self.log.info("the fence line's fence did not land in time; the line is reset")
                return False
            ro.result()
            self.log.info("the old primary is fenced by the fence line")
            return True
        except MySQLError as e:  # the server died or restarted: nothing to fence on this line
            self.log.info("the fence line ended", error=str(e))
            return False
        finally:
            # a release that saw the fence land restores what it changed (a millisecond)
            await asyncio.wait({release}, timeout=1.0 if ro.done() else 0.0)
            await cancel_and_wait(release)
            await self.reset()

    async def _release_when_awake(self) -> None:
        """Rule 3: once the server accepts a connection again, release what holds the fence back."""
        ro = self.ro
        try:
            left = self.deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            async with await connect(
                self.line.endpoint, timeout=left, query_timeout=self.cfg.query_timeout
            ) as c2:
                await ops.release_until_read_only(
                    c2, ro, spare_users=constants.SYSTEM_USERS, poll=RELEASE_POLL
                )
        except MySQLError:
            return  # dead or restarting: the fence line ends too

    async def reset(self) -> None:
        """Close the line; while its fence is still pending it is reset first (rule 4:
        cancelling the statement would close the line gracefully, and TCP would still deliver
        what it has not yet)."""
        if not self.ro.done():
            self.line.abort()
            self.ro.cancel()
            with contextlib.suppress(BaseException):
                await self.ro
        await self.line.close()


class Shots:
    """The fences fired by one cluster's loop (rule 2), each a task ended by rule 4 or 5."""

    def __init__(self, on_fenced: Callable[[], None], log: Any) -> None:
        self._on_fenced = on_fenced
        self._log = log
        self._tasks: set[asyncio.Task[bool]] = set()

    async def fire(self, line: Connection, cfg: ProcessConfig, log: Any) -> None:
        """Fire the fence on ``line`` (:func:`fire`); returns once it is written."""
        task = await fire(line, cfg, log)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[bool]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._log.warning("the fence line failed", error=repr(exc))
        elif task.result():
            self._on_fenced()

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def stop(self) -> None:
        """Cancel every shot (each resets its line) and wait for them to end."""
        for task in list(self._tasks):
            with contextlib.suppress(Exception):  # reported by _done
                await cancel_and_wait(task)
