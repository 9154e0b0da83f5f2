"""The messages of the agent's clone API (JSON bodies, validated by pydantic on both ends).

``POST /clone`` takes a :class:`CloneRequest` and answers 202 with the :class:`CloneProgress`
of the clone it started (400 for an invalid body, 401 without the token, 409 when a clone runs
or the instance holds data, 503 when mysqld cannot be reached; errors carry an
:class:`ErrorBody`). ``GET /clone`` answers the :class:`CloneProgress` of the last clone.

Every progress names the agent process (``instance_id``, new at each agent start) and the clone
(``clone_id``): a caller that started clone X on instance I and then reads another instance or
another clone (the agent or its Pod was restarted, the clone is gone) knows at once that its
clone will never report an outcome.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from moco import constants

CLONE_PATH: Final = "/clone"


class CloneState(StrEnum):
    """``idle`` -> ``running`` -> ``succeeded`` | ``failed``."""

    IDLE = "idle"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class CloneRequest(_Message):
    """Clone the agent's mysqld from a donor.

    Empty ``user`` means moco's clone-donor user with the password the agent knows (a clone
    from the cluster's primary); ``init_user`` is the user that initialises the instance after
    a clone from an external source (whose users replace moco's). The clone is bounded by
    progress: no progress for ``stall_timeout_s`` fails it; the restart after it must answer
    within ``boot_timeout_s``.
    """

    donor_host: str = Field(min_length=1, max_length=253)
    donor_port: int = Field(default=constants.MYSQL_PORT, gt=0, lt=65536)
    user: str = ""
    password: str = Field(default="", repr=False)
    init_user: str = ""
    init_password: str = Field(default="", repr=False)
    #: default 10 minutes without a change in clone_progress.
    stall_timeout_s: float = Field(default=600.0, gt=0, le=86400)
    #: default 10 minutes for the restarted mysqld to answer.
    boot_timeout_s: float = Field(default=600.0, gt=0, le=86400)

    @field_validator("donor_host")
    @classmethod
    def _host(cls, v: str) -> str:
        if any(c.isspace() for c in v):
            raise ValueError("donor_host must be a host name")
        return v


class CloneProgress(_Message):
    """The state of the agent's last clone."""

    state: CloneState = CloneState.IDLE
    #: the agent process (changes when the agent restarts).
    instance_id: str = ""
    #: the clone ("" while idle).
    clone_id: str = ""
    donor: str = ""
    error: str = ""
    #: the clone stage in progress and the bytes cloned so far (from performance_schema.clone_progress).
    stage: str = ""
    bytes_done: int = 0
    started_at: float | None = None
    finished_at: float | None = None


class ErrorBody(_Message):
    """The body of every error answer."""

    error: str
