"""The errors of :mod:`moco.kube`: one small hierarchy, mapped from HTTP status codes.

Every failure of a request to the apiserver is a :class:`KubeError`. Callers catch the specific
subclass that changes their decision (``NotFound`` -> create, ``Conflict`` -> re-read and retry,
``Gone`` -> relist) and let the rest propagate to the work queue's backoff.

================  ======  ==============================================================
class             status  meaning
================  ======  ==============================================================
BadRequest        400     malformed request (a bug on our side)
Unauthorized      401     no or bad credential
Forbidden         403     RBAC denies the verb on the resource
NotFound          404     the object (or the resource type) does not exist
Conflict          409     stale resourceVersion on update
AlreadyExists     409     create of a name that exists (reason ``AlreadyExists``)
Gone              410     the resourceVersion was compacted: relist
Invalid           422     validation failed; :attr:`Invalid.causes` lists the fields
TooManyRequests   429     throttled by the apiserver (``retry_after`` seconds if given)
ServerError       5xx     the apiserver failed
Timeout           --      no answer within the request's timeout (client side), or 504
Unreachable       --      no connection to the apiserver (refused, reset, TLS failure)
================  ======  ==============================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cause:
    """One field-level cause of an :class:`Invalid` (``status.details.causes[]``)."""

    field: str
    reason: str
    message: str


class KubeError(Exception):
    """Any failure of a request to the apiserver."""

    status: int = 0

    def __init__(self, message: str, *, status: int | None = None, body: dict[str, Any] | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.message = message
        self.body = body or {}

    @property
    def reason(self) -> str:
        """The ``reason`` of the returned ``Status`` (e.g. ``NotFound``), or empty."""
        return str(self.body.get("reason", ""))


class BadRequest(KubeError):
    status = 400


class Unauthorized(KubeError):
    status = 401


class Forbidden(KubeError):
    status = 403


class NotFound(KubeError):
    status = 404


class Conflict(KubeError):
    status = 409


class AlreadyExists(Conflict):
    """409 with reason ``AlreadyExists``: a subclass of Conflict as the apiserver reports both as 409."""


class Gone(KubeError):
    status = 410


class Invalid(KubeError):
    status = 422

    @property
    def causes(self) -> list[Cause]:
        details = self.body.get("details") or {}
        return [
            Cause(str(c.get("field", "")), str(c.get("reason", "")), str(c.get("message", "")))
            for c in details.get("causes") or []
        ]


class TooManyRequests(KubeError):
    status = 429

    @property
    def retry_after(self) -> float | None:
        details = self.body.get("details") or {}
        value = details.get("retryAfterSeconds")
        return float(value) if value is not None else None


class ServerError(KubeError):
    status = 500


class Timeout(KubeError):
    """The request got no answer in time (client-side timeout, or 504 from the server)."""

    status = 504


class Unreachable(KubeError):
    """No connection to the apiserver could be made or kept (refused, reset, TLS failure)."""


_BY_STATUS: dict[int, type[KubeError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
    504: Timeout,
}


def from_status(status: int, body: dict[str, Any] | None) -> KubeError:
    """Map an HTTP status and its ``Status`` body to the matching error."""
    body = body or {}
    message = str(body.get("message") or f"HTTP {status}")
    cls: type[KubeError]
    if status == 409 and body.get("reason") == "AlreadyExists":
        cls = AlreadyExists
    elif status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServerError
    else:
        cls = KubeError
    return cls(message, status=status, body=body)
