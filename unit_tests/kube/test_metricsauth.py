"""The rules of :class:`moco.kube.metricsauth.MetricsGuard`, one test per rule, over a fake
apiserver that answers the two reviews (the real one: ``test_metricsauth_apiserver.py``)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from moco.kube import errors
from moco.kube.client import Client
from moco.kube.metricsauth import (
    SUBJECTACCESSREVIEWS_PATH,
    TOKENREVIEWS_PATH,
    GuardConfig,
    MetricsGuard,
    TTLCache,
    bearer_token,
)

SCRAPER = {
    "username": "system:serviceaccount:mon:prometheus",
    "uid": "u1",
    "groups": ["system:serviceaccounts"],
}


class FakeApiserver:
    """Knows one good token; allows ``get /metrics`` to the users in ``allowed``."""

    def __init__(self) -> None:
        self.allowed = {SCRAPER["username"]}
        self.fail: type[errors.KubeError] | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def request(self, method: str, path: str, *, body: Any, request_timeout: float) -> dict[str, Any]:
        assert method == "POST"
        assert request_timeout == 10.0
        self.calls.append((path, body))
        if self.fail is not None:
            raise self.fail("apiserver down")
        spec = body["spec"]
        if path == TOKENREVIEWS_PATH:
            if spec["token"] == "good":
                return {"status": {"authenticated": True, "user": SCRAPER}}
            return {"status": {"user": {}, "error": "[invalid bearer token]"}}
        assert path == SUBJECTACCESSREVIEWS_PATH
        attrs = spec["nonResourceAttributes"]
        ok = spec["user"] in self.allowed and attrs == {"path": "/metrics", "verb": "get"}
        return {"status": {"allowed": ok}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api() -> FakeApiserver:
    return FakeApiserver()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guard(api: FakeApiserver, clock: Clock) -> MetricsGuard:
    return MetricsGuard(cast(Client, api), clock=clock)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer   ", None),
        ("Basic dXNlcjpwdw==", None),
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER  abc ", "abc"),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


async def test_rule_1_no_token_is_401_without_asking(guard: MetricsGuard, api: FakeApiserver) -> None:
    v = await guard.check("GET", "/metrics", None)
    assert (v.status, v.message) == (401, "Unauthorized")
    assert api.calls == []


async def test_rule_2_a_review_that_fails_is_500_and_not_cached(
    guard: MetricsGuard, api: FakeApiserver
) -> None:
    api.fail = errors.Forbidden
    v = await guard.check("GET", "/metrics", "Bearer good")
    assert (v.status, v.message) == (500, "Authentication failed")
    api.fail = None
    assert (await guard.check("GET", "/metrics", "Bearer good")).status == 200


async def test_rule_3_a_rejected_token_is_401(guard: MetricsGuard) -> None:
    v = await guard.check("GET", "/metrics", "Bearer forged")
    assert (v.status, v.message) == (401, "Unauthorized")


async def test_rule_4_an_authorization_that_fails_is_500(guard: MetricsGuard, api: FakeApiserver) -> None:
    assert (await guard.check("GET", "/metrics", "Bearer good")).status == 200  # token now cached
    guard._access = TTLCache(10)  # forget the authorization only
    api.fail = errors.Timeout
    v = await guard.check("GET", "/metrics", "Bearer good")
    assert (v.status, v.message) == (500, f"Authorization for user {SCRAPER['username']} failed")


async def test_rule_5_not_allowed_is_403_naming_the_user(guard: MetricsGuard, api: FakeApiserver) -> None:
    api.allowed = set()
    v = await guard.check("GET", "/metrics", "Bearer good")
    assert (v.status, v.message) == (403, f"Authorization denied for user {SCRAPER['username']}")


async def test_rule_6_allowed_and_the_subject_access_review_names_the_user(
    guard: MetricsGuard, api: FakeApiserver
) -> None:
    assert (await guard.check("GET", "/metrics", "Bearer good")).allowed
    (_, sar) = api.calls[1]
    assert sar["spec"] == {
        "user": SCRAPER["username"],
        "uid": "u1",
        "groups": ["system:serviceaccounts"],
        "extra": {},
        "nonResourceAttributes": {"path": "/metrics", "verb": "get"},
    }


async def test_the_verb_is_the_requests(guard: MetricsGuard) -> None:
    assert (await guard.check("POST", "/metrics", "Bearer good")).status == 403


async def test_answers_are_cached_for_their_ttl(
    guard: MetricsGuard, api: FakeApiserver, clock: Clock
) -> None:
    cfg = GuardConfig()
    for _ in range(3):
        assert (await guard.check("GET", "/metrics", "Bearer good")).allowed
    assert guard.reviews == 2
    clock.now += cfg.authn_ttl  # the token's answer expired, the authorization's not yet
    assert (await guard.check("GET", "/metrics", "Bearer good")).allowed
    assert [p for p, _ in api.calls] == [TOKENREVIEWS_PATH, SUBJECTACCESSREVIEWS_PATH, TOKENREVIEWS_PATH]
    clock.now += cfg.allow_ttl
    assert (await guard.check("GET", "/metrics", "Bearer good")).allowed
    assert guard.reviews == 5


async def test_a_denial_is_cached_for_the_shorter_deny_ttl(
    guard: MetricsGuard, api: FakeApiserver, clock: Clock
) -> None:
    api.allowed = set()
    assert (await guard.check("GET", "/metrics", "Bearer good")).status == 403
    api.allowed = {SCRAPER["username"]}  # a ClusterRoleBinding was made
    assert (await guard.check("GET", "/metrics", "Bearer good")).status == 403  # still cached
    clock.now += GuardConfig().deny_ttl
    assert (await guard.check("GET", "/metrics", "Bearer good")).allowed


async def test_tokens_are_cached_by_digest_only(guard: MetricsGuard) -> None:
    await guard.check("GET", "/metrics", "Bearer good")
    assert "good" not in repr(list(guard._tokens._items))


def test_the_cache_keeps_at_most_max_entries_oldest_out() -> None:
    clock = Clock()
    cache: TTLCache[int] = TTLCache(2, clock)
    for i in range(3):
        cache.put(i, i, 10)
    assert len(cache) == 2
    assert cache.get(0) == (False, None)
    assert cache.get(2) == (True, 2)
    clock.now += 10
    assert cache.get(2) == (False, None)


@pytest.mark.parametrize(
    ("field", "value"), [("authn_ttl", -1), ("timeout", -0.5), ("max_entries", 0), ("max_in_flight", 0)]
)
def test_bad_config_names_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        GuardConfig(**{field: value})
