"""Errors of the clustering loop.

::

    ClusteringError                 a pass could not finish; the loop logs it and retries later
    ├── GatherError                 the cluster, its Pods or its credentials could not be read
    │   └── StaleViewError          the cluster view is older than the loop's own last write
    ├── OperationError              an operation on a mysqld failed (the instance index is kept)
    │   └── NoCandidateError        no replica can be promoted without losing transactions
    └── KubeSideError               a write through the Kubernetes side failed

Errors of the layers below (``moco.mysql.errors.MySQLError``) are wrapped into these with the
instance index, so a log line says which mysqld failed.
"""

from __future__ import annotations


class ClusteringError(Exception):
    """A pass of the clustering loop could not finish."""


class GatherError(ClusteringError):
    """The cluster view, its Pods or its credentials could not be read."""


class StaleViewError(GatherError):
    """The cluster view still carries a primary index older than the one the loop wrote."""


class OperationError(ClusteringError):
    """An operation on one mysqld failed."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class NoCandidateError(OperationError):
    """No replica can be promoted without losing transactions another replica holds."""


class KubeSideError(ClusteringError):
    """A write through the Kubernetes side (labels, annotations, status, events) failed."""
