"""Authentication and authorisation of ``/metrics`` by the apiserver (controller-runtime's
``filters.WithAuthenticationAndAuthorization``, behind ``--metrics-secure``).

A scraper presents a bearer token (a ServiceAccount's, as Prometheus does in a cluster). The
token is authenticated by a ``TokenReview`` and the user it names is authorised by a
``SubjectAccessReview`` for the request's verb on the non-resource URL (``get`` on
``/metrics``): what a ClusterRole with ``nonResourceURLs: ["/metrics"], verbs: ["get"]``
grants (``manifests/rbac/cluster-wide/metrics-reader.yaml``). The controller's own identity needs
``create`` on ``tokenreviews`` and ``subjectaccessreviews`` (``metrics-auth.yaml``).

:meth:`MetricsGuard.check`, first rule that holds:

1. no ``Authorization: Bearer <token>`` header, or an empty token: **401** ``Unauthorized``;
2. the TokenReview could not be made (apiserver unreachable, forbidden, timed out): **500**
   ``Authentication failed`` (the scraper retries; nothing is served on doubt);
3. the token is not authenticated: **401** ``Unauthorized`` (controller-runtime answers 500
   here, because the apiserver reports a rejected token as an error: a token that the
   apiserver rejects is the client's fault, and a 500 would page whoever watches the
   operator's errors for a scraper's misconfiguration);
4. the SubjectAccessReview could not be made: **500** ``Authorization for user <u> failed``;
5. the user is not allowed: **403** ``Authorization denied for user <u>``;
6. served.

Caches (controller-runtime's lifetimes, each a :class:`GuardConfig` field): a review's answer is
reused for ``authn_ttl`` (authenticated or not) and ``allow_ttl`` / ``deny_ttl`` (allowed /
denied), so a scraper every 15 s costs two reviews every few minutes; failures are never cached.
A token is kept only as its SHA-256 digest and is never logged; at most ``max_entries`` answers
are kept (the oldest go first), and at most ``max_in_flight`` reviews run at once, so a flood of
random tokens costs the apiserver a bounded rate and the controller a bounded memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from moco.kube import errors
from moco.kube.client import Client
from moco.log import get_logger

log = get_logger("moco.kube.metricsauth")

TOKENREVIEWS_PATH: Final = "/apis/authentication.k8s.io/v1/tokenreviews"
SUBJECTACCESSREVIEWS_PATH: Final = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
_BEARER: Final = "bearer "

V = TypeVar("V")


@dataclass(frozen=True)
class GuardConfig:
    """Lifetimes and bounds of :class:`MetricsGuard` (each default is controller-runtime's)."""

    #: seconds a TokenReview's answer is reused (controller-runtime: 1 minute)
    authn_ttl: float = 60.0
    #: seconds an allowing SubjectAccessReview is reused (5 minutes)
    allow_ttl: float = 300.0
    #: seconds a denying one is reused (30 seconds: a new RoleBinding takes effect soon)
    deny_ttl: float = 30.0
    #: seconds each review may take (controller-runtime: 10 s)
    timeout: float = 10.0
    #: answers kept per cache; the oldest are dropped first
    max_entries: int = 4096
    #: reviews running at once; more requests wait for a slot
    max_in_flight: int = 4

    def __post_init__(self) -> None:
        for name in ("authn_ttl", "allow_ttl", "deny_ttl", "timeout"):
            if getattr(self, name) < 0:
                raise ValueError(f"GuardConfig.{name} must not be negative")
        if self.max_entries < 1 or self.max_in_flight < 1:
            raise ValueError("GuardConfig.max_entries and max_in_flight must be at least 1")


@dataclass(frozen=True)
class UserInfo:
    """Who a token belongs to, as the TokenReview says (the SubjectAccessReview's subject)."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_status(cls, user: Mapping[str, object]) -> UserInfo:
        extra = user.get("extra") or {}
        assert isinstance(extra, Mapping)
        groups = user.get("groups") or []
        assert isinstance(groups, list)
        return cls(
            username=str(user.get("username", "")),
            uid=str(user.get("uid", "")),
            groups=tuple(str(g) for g in groups),
            extra=tuple(sorted((str(k), tuple(str(x) for x in v)) for k, v in extra.items())),
        )


@dataclass(frozen=True)
class Verdict:
    """The answer to one request: ``status`` 200 means serve it."""

    status: int
    message: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 200


SERVE: Final = Verdict(200)
UNAUTHORIZED: Final = Verdict(401, "Unauthorized")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None: no usable token)."""
    if not authorization or authorization[: len(_BEARER)].lower() != _BEARER:
        return None
    token = authorization[len(_BEARER) :].strip()
    return token or None


@dataclass
class TTLCache(Generic[V]):
    """Answers with an expiry each, at most ``max_entries`` (oldest first out); time is a parameter."""

    max_entries: int
    clock: Callable[[], float] = time.monotonic
    _items: OrderedDict[object, tuple[float, V]] = field(default_factory=OrderedDict)

    def get(self, key: object) -> tuple[bool, V | None]:
        hit = self._items.get(key)
        if hit is None:
            return False, None
        expires, value = hit
        if self.clock() >= expires:
            del self._items[key]
            return False, None
        return True, value

    def put(self, key: object, value: V, ttl: float) -> None:
        self._items.pop(key, None)
        self._items[key] = (self.clock() + ttl, value)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class MetricsGuard:
    """Decides whether a request to the metrics server is served (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        config: GuardConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.config = config or GuardConfig()
        self._tokens: TTLCache[UserInfo | None] = TTLCache(self.config.max_entries, clock)
        self._access: TTLCache[bool] = TTLCache(self.config.max_entries, clock)
        self._slots = asyncio.Semaphore(self.config.max_in_flight)
        #: reviews sent to the apiserver (tests and benchmarks read it)
        self.reviews = 0

    async def check(self, method: str, path: str, authorization: str | None) -> Verdict:
        """The verdict for ``method path`` with this ``Authorization`` header (rules 1-6)."""
        token = bearer_token(authorization)
        if token is None:
            return UNAUTHORIZED  # rule 1
        try:
            user = await self._authenticate(token)
        except errors.KubeError as e:
            log.error("metrics authentication failed", error=str(e))
            return Verdict(500, "Authentication failed")  # rule 2
        if user is None:
            return UNAUTHORIZED  # rule 3
        verb = method.lower()
        try:
            allowed = await self._authorize(user, verb, path)
        except errors.KubeError as e:
            log.error("metrics authorization failed", user=user.username, error=str(e))
            return Verdict(500, f"Authorization for user {user.username} failed")  # rule 4
        if not allowed:
            log.debug("metrics request denied", user=user.username, verb=verb, path=path)
            return Verdict(403, f"Authorization denied for user {user.username}")  # rule 5
        return SERVE  # rule 6

    async def _authenticate(self, token: str) -> UserInfo | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        hit, user = self._tokens.get(key)
        if hit:
            return user
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        status = await self._review(TOKENREVIEWS_PATH, body)
        # a rejected token comes with ``status.error`` ("invalid bearer token"): still an answer
        authenticated = status.get("authenticated") is True
        user_status = status.get("user")
        found = UserInfo.from_status(user_status) if authenticated and isinstance(user_status, dict) else None
        self._tokens.put(key, found, self.config.authn_ttl)
        return found

    async def _authorize(self, user: UserInfo, verb: str, path: str) -> bool:
        key = (user, verb, path)
        hit, allowed = self._access.get(key)
        if hit:
            return bool(allowed)
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user.username,
                "uid": user.uid,
                "groups": list(user.groups),
                "extra": {k: list(v) for k, v in user.extra},
                "nonResourceAttributes": {"path": path, "verb": verb},
            },
        }
        status = await self._review(SUBJECTACCESSREVIEWS_PATH, body)
        allowed = status.get("allowed") is True
        if not allowed and status.get("evaluationError") and not status.get("denied"):
            # an authorizer failed and none decided: not an answer to cache
            raise errors.ServerError(f"SubjectAccessReview: {status['evaluationError']}")
        self._access.put(key, allowed, self.config.allow_ttl if allowed else self.config.deny_ttl)
        return allowed

    async def _review(self, path: str, body: Mapping[str, object]) -> dict[str, object]:
        async with self._slots:
            self.reviews += 1
            answer = await self.client.request("POST", path, body=body, request_timeout=self.config.timeout)
        status = answer.get("status") or {}
        return status if isinstance(status, dict) else {}
