"""Rate limiters, as client-go's ``flowcontrol`` and ``workqueue`` define them.

- :class:`TokenBucket`: ``qps`` tokens per second, at most ``burst`` stored, starting full.
  :meth:`TokenBucket.reserve` takes one token now and returns how long the caller must wait
  for it (golang.org/x/time/rate's ``Reserve().Delay()``): the bucket may go into debt, so
  callers that reserve in a burst are spaced ``1/qps`` apart. The client uses it for requests,
  the work queue for re-adds.
- :class:`ItemExponentialBackoff`: per-key delay ``base * 2**failures`` capped at ``max_delay``
  (5 ms .. 1000 s by default); :meth:`forget` resets a key.
- :class:`MaxOfRateLimiter`: the largest delay of several limiters; :func:`default_controller_rate_limiter`
  is client-go's ``DefaultControllerRateLimiter`` (per-key backoff combined with 10 qps / burst 100).

All of them take a ``clock`` (monotonic seconds) so that unit tests can drive time by hand.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Hashable
from typing import Protocol

Clock = Callable[[], float]


class RateLimiter(Protocol):
    """What the work queue needs from a rate limiter (client-go's ``TypedRateLimiter``)."""

    def when(self, item: Hashable) -> float:
        """Seconds to wait before ``item`` may be processed again; counts one more failure."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking ``item`` (it succeeded)."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many times ``item`` has been rate-limited since it was last forgotten."""
        ...


class TokenBucket:
    """A token bucket of ``qps`` tokens per second holding at most ``burst`` (starts full)."""

    def __init__(self, qps: float, burst: int, clock: Clock = time.monotonic):
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def _advance(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
            self._last = now

    def reserve(self, *, urgent: bool = False) -> float:
        """Take one token; return the seconds until it is really available (0 if now).

        ``urgent`` (:mod:`moco.urgency`): the token is taken all the same (the bucket goes one
        token deeper into debt, so whoever reserves next waits ``1/qps`` longer and the long-run
        rate stays ``qps``), but the caller does not wait for it.
        """
        now = self._clock()
        self._advance(now)
        self._tokens -= 1.0
        if self._tokens >= 0 or urgent:
            return 0.0
        return -self._tokens / self.qps

    def tokens(self) -> float:
        """Tokens available now (negative while in debt)."""
        self._advance(self._clock())
        return self._tokens

    async def acquire(self, *, urgent: bool = False) -> None:
        """Wait until a token is ours (the client calls this before every request)."""
        delay = self.reserve(urgent=urgent)
        if delay > 0:
            await asyncio.sleep(delay)


class ItemExponentialBackoff:
    """Per-item exponential backoff: ``base * 2**failures``, capped at ``max_delay``."""

    def __init__(self, base: float = 0.005, max_delay: float = 1000.0):
        self.base = base
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        if exp >= 64:  # 2**64 * base overflows any sensible cap
            return self.max_delay
        return float(min(self.base * (2.0**exp), self.max_delay))

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """An overall token bucket shared by every item (client-go's ``BucketRateLimiter``)."""

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock = time.monotonic):
        self.bucket = TokenBucket(qps, burst, clock)

    def when(self, item: Hashable) -> float:
        return self.bucket.reserve()

    def forget(self, item: Hashable) -> None:
        return None

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The largest delay of its limiters; forget and num_requeues follow every one of them."""

    def __init__(self, *limiters: RateLimiter):
        if not limiters:
            raise ValueError("at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock = time.monotonic) -> MaxOfRateLimiter:
    """client-go's default: max(per-item 5 ms .. 1000 s exponential, overall 10 qps / burst 100)."""
    return MaxOfRateLimiter(ItemExponentialBackoff(0.005, 1000.0), BucketRateLimiter(10.0, 100, clock))


class Backoff:
    """Exponential backoff with jitter for retry loops (client-go's reflector: 0.8 s .. 30 s).

    :meth:`next` returns ``d * (1 + jitter * random())`` with ``d`` doubling from ``initial`` up to
    ``cap``; :meth:`reset` starts over after a success.
    """

    def __init__(
        self,
        initial: float = 0.8,
        cap: float = 30.0,
        factor: float = 2.0,
        jitter: float = 1.0,
        rand: Callable[[], float] | None = None,
    ):
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self._rand = rand or random.random
        self._current = initial

    def next(self) -> float:
        delay = self._current
        self._current = min(self._current * self.factor, self.cap)
        return delay * (1.0 + self.jitter * self._rand())

    def reset(self) -> None:
        self._current = self.initial
