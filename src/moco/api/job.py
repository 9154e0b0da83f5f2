"""``JobConfig`` and ``BucketConfig``: how backup and restore Pods run and reach the bucket.

Shared by ``BackupPolicy.spec.jobConfig`` and ``MySQLCluster.spec.restore.jobConfig``. The
CRD defaults (``threads: 4``, ``cpu: 4``, ``memory: 4Gi``, ``backendType: s3``) are in
:mod:`moco.api.defaults`, not here (see :mod:`moco.api.base`).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from moco.api import bounds
from moco.api.base import JSONObject, Model, Quantity
from moco.api.marks import crd
from moco.api.openapi import CORE, QUANTITY

DEFAULT_THREADS: Final = 4
DEFAULT_CPU: Final = 4
DEFAULT_MEMORY: Final = "4Gi"
DEFAULT_BACKEND_TYPE: Final = "s3"

BackendType = Literal["s3", "gcs", "azure"]
#: The bound of a quantity written as a string (the schema's ``maxLength`` applies to strings only).
_QUANTITY_BOUND: Final = {"maxLength": bounds.MAX_QUANTITY}


class BucketConfig(Model):
    """A set of parameters to access an object storage bucket."""

    bucket_name: str = Field(
        description="The name of the bucket.", min_length=1, max_length=bounds.MAX_BUCKET_NAME
    )
    region: str | None = Field(
        default=None,
        max_length=bounds.MAX_REGION,
        description=(
            "The region of the bucket. This can also be set through `AWS_REGION` environment variable."
        ),
    )
    endpoint_url: str | None = Field(
        default=None,
        alias="endpointURL",
        description="The API endpoint URL. Set this for non-S3 object storages.",
        pattern=r"^https?://.*",
        max_length=bounds.MAX_URL,
    )
    use_path_style: bool | None = Field(
        default=None,
        description=(
            "Allows you to enable the client to use path-style addressing, i.e., "
            "https?://ENDPOINT/BUCKET/KEY. By default, a virtual-host addressing is used "
            "(https?://BUCKET.ENDPOINT/KEY)."
        ),
    )
    backend_type: BackendType | None = Field(
        default=None,
        description="BackendType is an identifier for the object storage to be used.",
        json_schema_extra=crd(default=DEFAULT_BACKEND_TYPE),
    )
    ca_cert: str | None = Field(
        default=None,
        alias="caCert",
        max_length=bounds.MAX_PATH,
        description=(
            "The path of a PEM file of CA certificates, mounted into the job's Pod (see `volumes` and "
            "`volumeMounts`), used to verify the TLS certificate of the object storage."
        ),
    )


class JobConfig(Model):
    """A set of parameters for backup and restore job Pods."""

    service_account_name: str = Field(
        description="ServiceAccountName specifies the ServiceAccount to run the Pod.",
        min_length=1,
        max_length=bounds.MAX_NAME,
    )
    bucket_config: BucketConfig = Field(description="Specifies how to access an object storage bucket.")
    work_volume: JSONObject = Field(
        description=(
            "WorkVolume is the volume source for the working directory. Since the backup or restore "
            "task can use a lot of bytes in the working directory, you should always give a volume "
            "with enough capacity. The recommended volume source is a generic ephemeral volume."
        ),
        json_schema_extra=crd(kubernetes=CORE + "Volume", without=("name",)),
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        le=bounds.MAX_THREADS,
        description="Threads is the number of threads used for backup or restoration.",
        json_schema_extra=crd(default=DEFAULT_THREADS),
    )
    cpu: Quantity | None = Field(
        default=None,
        description="CPU is the amount of CPU requested for the Pod.",
        json_schema_extra=crd(
            kubernetes=QUANTITY, default=DEFAULT_CPU, nullable=True, overlay=_QUANTITY_BOUND
        ),
    )
    max_cpu: Quantity | None = Field(
        default=None,
        alias="maxCpu",
        description="MaxCPU is the amount of maximum CPU for the Pod.",
        json_schema_extra=crd(kubernetes=QUANTITY, nullable=True, overlay=_QUANTITY_BOUND),
    )
    memory: Quantity | None = Field(
        default=None,
        description="Memory is the amount of memory requested for the Pod.",
        json_schema_extra=crd(
            kubernetes=QUANTITY, default=DEFAULT_MEMORY, nullable=True, overlay=_QUANTITY_BOUND
        ),
    )
    max_memory: Quantity | None = Field(
        default=None,
        description="MaxMemory is the amount of maximum memory for the Pod.",
        json_schema_extra=crd(kubernetes=QUANTITY, nullable=True, overlay=_QUANTITY_BOUND),
    )
    env_from: list[JSONObject] | None = Field(
        default=None,
        max_length=bounds.MAX_JOB_LIST,
        json_schema_extra=crd(items_kubernetes=CORE + "EnvFromSource"),
        description=(
            "List of sources to populate environment variables in the container. "
            "You can configure S3 bucket access parameters through environment variables."
        ),
    )
    env: list[JSONObject] | None = Field(
        default=None,
        max_length=bounds.MAX_JOB_LIST,
        json_schema_extra=crd(items_kubernetes=CORE + "EnvVar"),
        description=(
            "List of environment variables to set in the container. "
            "You can configure S3 bucket access parameters through environment variables."
        ),
    )
    affinity: JSONObject | None = Field(
        default=None,
        description="If specified, the pod's scheduling constraints.",
        json_schema_extra=crd(kubernetes=CORE + "Affinity"),
    )
    volumes: list[JSONObject] | None = Field(
        default=None,
        max_length=bounds.MAX_JOB_LIST,
        json_schema_extra=crd(items_kubernetes=CORE + "Volume"),
        description="Volumes defines the list of volumes that can be mounted by containers in the Pod.",
    )
    volume_mounts: list[JSONObject] | None = Field(
        default=None,
        max_length=bounds.MAX_JOB_LIST,
        json_schema_extra=crd(items_kubernetes=CORE + "VolumeMount"),
        description="VolumeMounts describes a list of volume mounts that are to be mounted in a container.",
    )
