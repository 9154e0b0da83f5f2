"""Urgent work: the API requests of a failover or switchover never queue behind routine ones.

The operator's Kubernetes client shares one rate limit (client-go's token bucket, 20 requests
a second by default) among every reconcile and every cluster's clustering loop. When thousands
of routine requests are waiting (an operator restart, a burst of events across 1,000
clusters), the bucket is in debt for many seconds, and a failover's status write would wait
behind them all while nothing accepts writes. A request sent while :func:`urgent` is active
takes its token at once instead: it is still counted (routine requests behind it wait one
token longer, so the long-run rate stays the limit), it just never waits itself.

The flag is a context variable, so it follows the task that set it (and tasks it creates) and
nothing else; the clustering loop sets it around the operations that move the primary. This
module sits below both the loop and the client so that neither needs to know of the other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar, Token

_URGENT: ContextVar[bool] = ContextVar("moco_urgent", default=False)


@contextlib.contextmanager
def urgent(on: bool = True) -> Iterator[None]:
    """Within the block (in this task), requests are urgent when ``on``."""
    token = _URGENT.set(on)
    try:
        yield
    finally:
        _URGENT.reset(token)


def mark(on: bool) -> Token[bool]:
    """Set the flag for the rest of the running task's work until :func:`unmark` (for code that
    cannot wrap its urgent part in one block)."""
    return _URGENT.set(on)


def unmark(token: Token[bool]) -> None:
    """Undo a :func:`mark`."""
    _URGENT.reset(token)


def is_urgent() -> bool:
    """Whether the running task is doing urgent work."""
    return _URGENT.get()
