"""Stopping a task for sure.

``task.cancel(); await task`` waits for ever when the task swallows the cancellation and runs
on. Python 3.11's ``asyncio.wait_for`` does exactly that when the future it awaits completes in
the same loop iteration as the cancel (it returns the result instead of raising), and aiomysql's
connect awaits through it: a clustering loop once kept passing once a second after its stop,
and the stop waited on it for ten minutes.

Rules of :func:`cancel_and_wait`:

1. The cancel is sent again every ``nudge`` seconds until the task is done: a swallowed cancel
   costs one nudge, not a hang.
2. A task that ended with an error of its own (not a cancel) raises it to the caller, as
   ``await task`` would.
3. The caller's own cancellation is never swallowed (``contextlib.suppress(CancelledError)``
   around ``await task`` swallowed it): it propagates, the task keeps its pending cancel.

``asyncio.gather`` returns at the first failure (or cancellation) of one of its awaitables while
the others still run: a restore whose parts were unpacked by it removed its staging directory
after a cancel while another part's thread still wrote there. Rules of :func:`gather_all`:

4. All succeed: their results, in the order given (as ``gather``).
5. One fails: the others are cancelled, and every one is waited for before the first failure
   is raised; nothing the call started runs once it returns.
6. The caller is cancelled: the same, then the cancellation propagates; a further cancel during
   the wait (rule 1's nudges) does not cut it short.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds between two cancels of a task that did not end (rule 1). A well-behaved task ends
#: on the first; half a second keeps a stop that hit the race short.
DEFAULT_NUDGE = 0.5


async def cancel_and_wait(task: asyncio.Future[Any], *, nudge: float = DEFAULT_NUDGE) -> None:
    """Cancel ``task`` and wait until it is done (rules 1-3)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=nudge)
    if not task.cancelled():
        exc = task.exception()
        if exc is not None:
            raise exc


async def gather_all(*aws: Awaitable[T]) -> list[T]:
    """``asyncio.gather`` that never returns while one of its awaitables still runs (rules 4-6)."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        cancelled = False
        while not all(t.done() for t in tasks):
            try:
                await asyncio.wait(tasks)
            except asyncio.CancelledError:
                cancelled = True
        for t in tasks:
            if not t.cancelled():
                t.exception()  # retrieved: the first failure is the one raised
        if cancelled:
            raise asyncio.CancelledError from None
        raise


__all__ = ["DEFAULT_NUDGE", "cancel_and_wait", "gather_all"]
