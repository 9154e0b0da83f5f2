"""The reconciler's errors: what it refuses to do, and why.

``ControllerError``
    base of every error raised by :mod:`moco.controllers`.
``InvalidSpec``
    the MySQLCluster cannot be rendered as written (no ``mysqld`` container, a quantity that does
    not parse, a missing user ConfigMap). Retried with backoff: the user may fix the object or
    create what it names. Reported as ``ReconcileSuccess=False`` and a Warning Event.
``Refused``
    the controller will not do what the spec asks (e.g. grow a claim whose StorageClass forbids
    expansion). Raised once every other step has run, so the rest of the cluster's objects still
    follow the spec. Reported like ``InvalidSpec``; not an internal failure.
``SecretCorrupted``
    the controller-namespace Secret exists but is not in the format moco writes.
"""

from __future__ import annotations


class ControllerError(Exception):
    """Base of the reconciler's errors; ``reason`` is the Event/condition reason."""

    reason = "ReconcileFailed"


class InvalidSpec(ControllerError):
    reason = "InvalidSpec"


class Refused(ControllerError):
    reason = "Refused"


class SecretCorrupted(ControllerError):
    reason = "SecretCorrupted"
