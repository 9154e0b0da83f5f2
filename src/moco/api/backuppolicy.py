"""``BackupPolicy`` (``moco.cybozu.com/v1beta2``): when and how a MySQLCluster is backed up.

``schedule``, ``startingDeadlineSeconds``, ``concurrencyPolicy``, ``successfulJobsHistoryLimit``,
``failedJobsHistoryLimit`` and ``timeZone`` are copied to the backup CronJob's spec;
``activeDeadlineSeconds`` and ``backoffLimit`` to its job template.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from moco.api import bounds, cron, rules
from moco.api.base import KIND_DESCRIPTION, Model, TopLevelObject
from moco.api.job import JobConfig
from moco.api.marks import crd

KIND: Final = "BackupPolicy"
PLURAL: Final = "backuppolicies"
DEFAULT_CONCURRENCY_POLICY: Final = "Allow"

ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]


class BackupPolicySpec(Model):
    """The configuration of the backups of the clusters that reference this policy."""

    schedule: str = Field(
        description=(
            "The schedule in Cron format for periodic backups "
            "(5 fields, or @hourly, @daily, @every 1h, ...). "
            "See https://en.wikipedia.org/wiki/Cron"
        ),
        max_length=cron.MAX_SCHEDULE_LENGTH,
        json_schema_extra=crd(validations=[rules.cron_rule("spec.schedule")]),
    )
    job_config: JobConfig = Field(description="Specifies parameters for backup Pod.")
    starting_deadline_seconds: int | None = Field(
        default=None,
        le=bounds.MAX_INT32,
        json_schema_extra=crd(format="int64", nullable=True),
        description=(
            "Optional deadline in seconds for starting the job if it misses scheduled time for any reason. "
            "Missed jobs executions will be counted as failed ones."
        ),
    )
    concurrency_policy: ConcurrencyPolicy | None = Field(
        default=None,
        description=(
            'Specifies how to treat concurrent executions of a Job. Valid values are: "Allow" (default): '
            'allows CronJobs to run concurrently; "Forbid": forbids concurrent runs, skipping next run if '
            'previous run hasn\'t finished yet; "Replace": cancels currently running job and replaces it '
            "with a new one."
        ),
        json_schema_extra=crd(default=DEFAULT_CONCURRENCY_POLICY),
    )
    active_deadline_seconds: int | None = Field(
        default=None,
        le=bounds.MAX_INT32,
        json_schema_extra=crd(format="int64", nullable=True),
        description=(
            "Specifies the duration in seconds relative to the startTime that the job may be continuously "
            "active before the system tries to terminate it; value must be positive integer."
        ),
    )
    backoff_limit: int | None = Field(
        default=None,
        ge=0,
        le=bounds.MAX_INT32,
        json_schema_extra=crd(format="int32", nullable=True),
        description="Specifies the number of retries before marking this job failed. Defaults to 6.",
    )
    successful_jobs_history_limit: int | None = Field(
        default=None,
        ge=0,
        le=bounds.MAX_JOBS_HISTORY,
        description="The number of successful finished jobs to retain. Defaults to 3.",
        json_schema_extra=crd(format="int32", nullable=True),
    )
    failed_jobs_history_limit: int | None = Field(
        default=None,
        ge=0,
        le=bounds.MAX_JOBS_HISTORY,
        description="The number of failed finished jobs to retain. Defaults to 1.",
        json_schema_extra=crd(format="int32", nullable=True),
    )
    time_zone: str | None = Field(
        default=None,
        max_length=bounds.MAX_TIME_ZONE,
        json_schema_extra=crd(nullable=True),
        description=(
            "The time zone name for the given schedule, see "
            "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will "
            "default to the time zone of the kube-controller-manager process."
        ),
    )


class BackupPolicy(TopLevelObject):
    """BackupPolicy is a namespaced resource that should be referenced from MySQLCluster."""

    kind: str = Field(default=KIND, description=KIND_DESCRIPTION)
    spec: BackupPolicySpec = Field(
        description="BackupPolicySpec defines the configuration items for MySQLCluster backup."
    )
