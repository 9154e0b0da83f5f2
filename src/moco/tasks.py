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
"""

from __future__ import annotations

import asyncio
from typing import Any

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


__all__ = ["DEFAULT_NUDGE", "cancel_and_wait"]
