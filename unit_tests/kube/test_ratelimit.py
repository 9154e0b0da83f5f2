"""Rate limiters with a hand-driven clock."""

from __future__ import annotations

import itertools

import pytest

from moco.kube.ratelimit import (
    Backoff,
    BucketRateLimiter,
    ItemExponentialBackoff,
    MaxOfRateLimiter,
    TokenBucket,
    default_controller_rate_limiter,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_exponential_backoff_doubles_per_failure_from_5ms_up_to_1000s() -> None:
    rl = ItemExponentialBackoff()
    delays = [rl.when("k") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert delays[-1] == 1000.0
    assert max(delays) == 1000.0
    assert all(b >= a for a, b in itertools.pairwise(delays))


def test_exponential_backoff_is_per_key_and_forget_resets_the_key() -> None:
    rl = ItemExponentialBackoff()
    rl.when("a")
    rl.when("a")
    assert rl.when("b") == pytest.approx(0.005)
    assert rl.num_requeues("a") == 2
    rl.forget("a")
    assert rl.num_requeues("a") == 0
    assert rl.when("a") == pytest.approx(0.005)


def test_exponential_backoff_survives_huge_failure_counts() -> None:
    rl = ItemExponentialBackoff()
    for _ in range(200):
        d = rl.when("k")
    assert d == 1000.0


def test_token_bucket_allows_a_burst_then_spaces_by_qps() -> None:
    clock = Clock()
    tb = TokenBucket(10.0, 100, clock)
    assert [tb.reserve() for _ in range(100)] == [0.0] * 100
    assert tb.reserve() == pytest.approx(0.1)
    assert tb.reserve() == pytest.approx(0.2)


def test_token_bucket_refills_at_qps_up_to_burst() -> None:
    clock = Clock()
    tb = TokenBucket(10.0, 5, clock)
    for _ in range(5):
        tb.reserve()
    clock.now += 0.3
    assert tb.tokens() == pytest.approx(3.0)
    clock.now += 100
    assert tb.tokens() == pytest.approx(5.0)


def test_token_bucket_urgent_never_waits_but_is_counted() -> None:
    clock = Clock()
    tb = TokenBucket(10.0, 2, clock)
    assert [tb.reserve() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.1, 0.2])
    # a backlog of routine requests is 0.2 s deep: an urgent one does not wait behind it ...
    assert tb.reserve(urgent=True) == 0.0
    # ... but it took a token: the next routine one waits one token longer
    assert tb.reserve() == pytest.approx(0.4)


async def test_urgency_holds_only_inside_its_block_or_mark() -> None:
    from moco import urgency

    seen: list[bool] = []

    class Spy(TokenBucket):
        async def acquire(self, *, urgent: bool = False) -> None:
            seen.append(urgent)

    async def request() -> None:
        await Spy(1.0, 1).acquire(urgent=urgency.is_urgent())

    await request()
    with urgency.urgent():
        await request()
        with urgency.urgent(False):
            await request()
        await request()
    token = urgency.mark(True)
    await request()
    urgency.unmark(token)
    await request()
    assert seen == [False, True, False, True, True, False]


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)
    with pytest.raises(ValueError):
        TokenBucket(1, 0)


def test_default_controller_limiter_is_the_max_of_per_key_backoff_and_overall_bucket() -> None:
    clock = Clock()
    rl = default_controller_rate_limiter(clock)
    # within the burst of 100 the per-key backoff decides
    assert rl.when("a") == pytest.approx(0.005)
    assert rl.when("a") == pytest.approx(0.01)
    for i in range(98):
        rl.when(f"other-{i}")
    # the bucket is empty: a fresh key waits for the bucket (0.1 s) rather than 5 ms
    assert rl.when("fresh") == pytest.approx(0.1)
    rl.forget("a")
    assert rl.num_requeues("a") == 0


def test_max_of_forgets_in_every_limiter() -> None:
    a, b = ItemExponentialBackoff(1, 100), ItemExponentialBackoff(2, 100)
    rl = MaxOfRateLimiter(a, b, BucketRateLimiter(10, 100, Clock()))
    assert rl.when("k") == 2
    assert rl.when("k") == 4
    rl.forget("k")
    assert a.num_requeues("k") == b.num_requeues("k") == 0


def test_backoff_grows_with_jitter_and_resets() -> None:
    b = Backoff(0.8, 30.0, rand=lambda: 0.5, jitter=1.0)
    assert [round(b.next(), 3) for _ in range(7)] == [1.2, 2.4, 4.8, 9.6, 19.2, 38.4, 45.0]
    b.reset()
    assert b.next() == pytest.approx(1.2)
