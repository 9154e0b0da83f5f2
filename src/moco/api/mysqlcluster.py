"""``MySQLCluster`` (``moco.cybozu.com/v1beta2``): spec, status and the derived names.

Field for field MOCO's v1beta2 type, and the one source of the CRD schema (:mod:`moco.api.schema`
generates it from these models): bounds are ``Field`` constraints (:mod:`moco.api.bounds`), the
CRD defaults (``replicas: 1``, ``maxDelaySeconds: 60``, ...), formats and CEL rules
(:mod:`moco.api.rules`) sit beside each field in :func:`moco.api.marks.crd`. The Python defaults
stay ``None``; :mod:`moco.api.defaults` applies the CRD's.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import ConfigDict, Field, SerializerFunctionWrapHandler, StringConstraints, model_serializer

from moco.api import bounds, cron, names, rules
from moco.api.base import KIND_DESCRIPTION, JSONObject, Model, ObjectMeta, TopLevelObject
from moco.api.job import JobConfig
from moco.api.marks import crd
from moco.api.openapi import CORE, META

KIND: Final = "MySQLCluster"
PLURAL: Final = "mysqlclusters"

# --- the CRD's defaults (MOCO's values) ----------------------------------------------------------
DEFAULT_REPLICAS: Final = 1
DEFAULT_MAX_DELAY_SECONDS: Final = 60
DEFAULT_MAX_DELAY_SECONDS_FOR_POD_DELETION: Final = 0
DEFAULT_STARTUP_WAIT_SECONDS: Final = 3600

# Condition types MOCO sets on a MySQLCluster.
CONDITION_INITIALIZED: Final = "Initialized"
CONDITION_AVAILABLE: Final = "Available"
CONDITION_HEALTHY: Final = "Healthy"
CONDITION_STATEFULSET_READY: Final = "StatefulSetReady"
CONDITION_RECONCILE_SUCCESS: Final = "ReconcileSuccess"
CONDITION_RECONCILIATION_ACTIVE: Final = "ReconciliationActive"
CONDITION_CLUSTERING_ACTIVE: Final = "ClusteringActive"

OverwriteableContainerName = Literal["agent", "moco-init", "slow-log", "mysqld-exporter"]


class OverwriteContainer(Model):
    """OverwriteContainer defines the container spec used for overwriting."""

    name: OverwriteableContainerName = Field(description="Name of the container to overwrite.")
    resources: JSONObject | None = Field(
        default=None,
        description="Resources is the container resource to be overwritten.",
        json_schema_extra=crd(kubernetes=CORE + "ResourceRequirements"),
    )
    security_context: JSONObject | None = Field(
        default=None,
        description="SecurityContext is the container SecurityContext to be overwritten.",
        json_schema_extra=crd(kubernetes=CORE + "SecurityContext"),
    )


class PodTemplateSpec(Model):
    """The Pod template of the mysqld Pods (a slightly modified corev1.PodTemplateSpec)."""

    metadata: ObjectMeta | None = Field(
        default=None, description="Standard object's metadata. The name in this metadata is ignored."
    )
    spec: JSONObject = Field(
        description=(
            "Specification of the desired behavior of the pod. "
            "The name of the MySQL server container in this spec must be `mysqld`."
        ),
        json_schema_extra=crd(kubernetes=CORE + "PodSpec", overlay=rules.POD_SPEC),
    )
    overwrite_containers: list[OverwriteContainer] | None = Field(
        default=None,
        max_length=bounds.MAX_OVERWRITE_CONTAINERS,
        description=(
            "OverwriteContainers overwrites the container definitions provided by default by the system."
        ),
    )


class ClaimObjectMeta(ObjectMeta):
    """The metadata of a claim template: its name is a volume name of the Pods (a DNS label)."""

    name: str | None = Field(
        default=None, max_length=bounds.MAX_LABEL_NAME, description="Name is the name of the object."
    )


class PersistentVolumeClaim(Model):
    """PersistentVolumeClaim is a template of a claim of the StatefulSet."""

    model_config = ConfigDict(json_schema_extra=crd(validations=[rules.CLAIM_TEMPLATE]))

    metadata: ClaimObjectMeta = Field(description="Standard object's metadata.")
    spec: JSONObject = Field(
        description="Spec defines the desired characteristics of a volume requested by a pod author.",
        json_schema_extra=crd(kubernetes=CORE + "PersistentVolumeClaimSpec"),
    )

    @property
    def storage_request(self) -> Any:
        """``spec.resources.requests.storage`` or ``None``."""
        return ((self.spec.get("resources") or {}).get("requests") or {}).get("storage")


class ServiceTemplate(Model):
    """Labels, annotations and spec of a Service moco creates."""

    metadata: ObjectMeta | None = Field(
        default=None, description="Standard object's metadata. Only `annotations` and `labels` are valid."
    )
    spec: JSONObject | None = Field(
        default=None,
        description="Spec is the ServiceSpec.",
        json_schema_extra=crd(kubernetes=CORE + "ServiceSpec"),
    )


class RestoreSpec(Model):
    """Parameters of a point-in-time recovery from another cluster's backup."""

    source_name: str = Field(
        min_length=1,
        max_length=bounds.MAX_NAME,
        description="SourceName is the name of the source `MySQLCluster`.",
    )
    source_namespace: str = Field(
        min_length=1,
        max_length=bounds.MAX_LABEL_NAME,
        description="SourceNamespace is the namespace of the source `MySQLCluster`.",
    )
    restore_point: str = Field(
        max_length=bounds.MAX_DATE_TIME,
        description=(
            "RestorePoint is the target date and time to restore data. "
            'The format is RFC3339, e.g. "2006-01-02T15:04:05Z".'
        ),
        json_schema_extra=crd(format="date-time"),
    )
    job_config: JobConfig = Field(description="Specifies parameters for restore Pod.")
    schema_: str | None = Field(
        default=None,
        alias="schema",
        max_length=bounds.MAX_SCHEMA,
        description=(
            "Schema is the name of the schema to restore. If empty, all schemas are restored. "
            "This is used for `mysqlbinlog` option `--database`."
        ),
    )
    users: str | None = Field(
        default=None,
        max_length=bounds.MAX_TEXT,
        description=(
            "Users is the comma-separated list of users to restore. If empty, all users are restored."
        ),
    )


class MySQLClusterSpec(Model):
    """The desired state of a MySQLCluster."""

    model_config = ConfigDict(json_schema_extra=crd(validations=rules.SPEC))

    replicas: int | None = Field(
        default=None,
        ge=1,
        le=bounds.MAX_REPLICAS,
        description=(
            "Replicas is the number of instances. Available values are positive odd numbers, "
            f"at most {bounds.MAX_REPLICAS}."
        ),
        json_schema_extra=crd(format="int32", default=DEFAULT_REPLICAS, validations=rules.REPLICAS),
    )
    pod_template: PodTemplateSpec = Field(
        description="PodTemplate is a `Pod` template for MySQL server container."
    )
    volume_claim_templates: list[PersistentVolumeClaim] = Field(
        min_length=1,
        max_length=bounds.MAX_CLAIM_TEMPLATES,
        json_schema_extra=crd(validations=[rules.CLAIM_TEMPLATES]),
        description=(
            "VolumeClaimTemplates is a list of `PersistentVolumeClaim` templates for MySQL server container. "
            'A claim named "mysql-data" must be included in the list.'
        ),
    )
    primary_service_template: ServiceTemplate | None = Field(
        default=None, description="PrimaryServiceTemplate is a `Service` template for primary."
    )
    replica_service_template: ServiceTemplate | None = Field(
        default=None, description="ReplicaServiceTemplate is a `Service` template for replica."
    )
    mysql_config_map_name: str | None = Field(
        default=None,
        alias="mysqlConfigMapName",
        max_length=bounds.MAX_NAME,
        json_schema_extra=crd(nullable=True),
        description="MySQLConfigMapName is a `ConfigMap` name of MySQL config.",
    )
    replication_source_secret_name: str | None = Field(
        default=None,
        max_length=bounds.MAX_NAME,
        json_schema_extra=crd(nullable=True),
        description=(
            "ReplicationSourceSecretName is a `Secret` name which contains replication source info. "
            "If this field is given, the `MySQLCluster` works as an intermediate primary. "
            "It can only be set at creation and removed later, never changed."
        ),
    )
    collectors: list[Annotated[str, StringConstraints(max_length=bounds.MAX_COLLECTOR)]] | None = Field(
        default=None,
        max_length=bounds.MAX_COLLECTORS,
        description=(
            "Collectors is the list of collector flag names of mysqld_exporter. "
            "If this field is not empty, moco adds mysqld_exporter as a sidecar "
            "to collect and export mysqld metrics in Prometheus format."
        ),
    )
    server_id_base: int | None = Field(
        default=None,
        alias="serverIDBase",
        ge=0,
        le=bounds.MAX_INT32,
        json_schema_extra=crd(format="int32"),
        description=(
            "ServerIDBase, if set, will become the base number of server-id of each MySQL instance of this "
            "cluster. For example, if this is 100, the server-ids will be 100, 101, 102, and so on. If the "
            "field is not given or zero, moco automatically sets a random positive integer."
        ),
    )
    max_delay_seconds: int | None = Field(
        default=None,
        ge=0,
        le=bounds.MAX_INT32,
        json_schema_extra=crd(default=DEFAULT_MAX_DELAY_SECONDS),
        description=(
            "MaxDelaySeconds configures the readiness probe of mysqld container. For a replica mysqld "
            "instance, if it is delayed to apply transactions over this threshold, the mysqld instance will "
            "be marked as non-ready. The default is 60 seconds. Setting this field to 0 disables the delay "
            "check in the probe."
        ),
    )
    max_delay_seconds_for_pod_deletion: int | None = Field(
        default=None,
        ge=0,
        le=bounds.MAX_INT32,
        json_schema_extra=crd(format="int64", default=DEFAULT_MAX_DELAY_SECONDS_FOR_POD_DELETION),
        description=(
            "MaxDelaySecondsForPodDeletion configures the maximum allowed replication delay before a Pod "
            "deletion is blocked. If the replication delay exceeds this threshold, deletion of the primary "
            "pod will be prevented. The default is 0 seconds. Setting this field to 0 disables the delay "
            "check for pod deletion."
        ),
    )
    startup_wait_seconds: int | None = Field(
        default=None,
        ge=0,
        le=bounds.MAX_INT32,
        json_schema_extra=crd(format="int32", default=DEFAULT_STARTUP_WAIT_SECONDS),
        description=(
            "StartupWaitSeconds is the maximum duration to wait for `mysqld` container to start working. "
            "The default is 3600 seconds."
        ),
    )
    log_rotation_schedule: str | None = Field(
        default=None,
        max_length=cron.MAX_SCHEDULE_LENGTH,
        json_schema_extra=crd(validations=[rules.cron_rule("spec.logRotationSchedule")]),
        description=(
            "LogRotationSchedule specifies the schedule to rotate MySQL logs, in standard cron format "
            "(5 fields, or @hourly, @daily, @every 1h, ...). If not set, logs are rotated every 5 minutes."
        ),
    )
    log_rotation_size: int | None = Field(
        default=None,
        ge=0,
        le=bounds.MAX_LOG_ROTATION_SIZE,
        json_schema_extra=crd(format="int64"),
        description=(
            "LogRotationSize specifies the size to rotate MySQL logs. If not set, size-based log rotation "
            "is disabled."
        ),
    )
    backup_policy_name: str | None = Field(
        default=None,
        max_length=bounds.MAX_NAME,
        json_schema_extra=crd(nullable=True),
        description=(
            "The name of BackupPolicy custom resource in the same namespace. If this is set, moco creates "
            "a CronJob to take backup of this MySQL cluster periodically."
        ),
    )
    restore: RestoreSpec | None = Field(
        default=None,
        description=(
            "Restore is the specification to perform Point-in-Time-Recovery from existing cluster. If this "
            "field is not null, moco restores the data as specified and creates a new cluster with the "
            "data. This field is not editable."
        ),
    )
    disable_slow_query_log_container: bool | None = Field(
        default=None,
        description=(
            'DisableSlowQueryLogContainer controls whether to add a sidecar container named "slow-log" to '
            "output slow logs as the containers output. If set to true, the sidecar container and the "
            "configmap used by it are not added. The default is false."
        ),
    )
    slow_query_log_config_tmpl: str | None = Field(
        default=None,
        max_length=bounds.MAX_TEXT,
        description=(
            "SlowQueryLogConfigTmpl is the template for slow query log configuration file. If this field is "
            "null, moco uses the default slow query log configuration. `{{ .Path }}` will be replaced with "
            "the path to the slow query log file."
        ),
    )
    agent_use_localhost: bool | None = Field(
        default=None,
        description=(
            "AgentUseLocalhost configures the mysqld interface to bind and be accessed over localhost "
            "instead of pod name."
        ),
    )
    initialize_timezone_data: bool | None = Field(
        default=None,
        description=(
            "InitializeTimezoneData controls whether the init container should populate the timezone "
            "data. The default is false."
        ),
        json_schema_extra=crd(default=False),
    )
    offline: bool | None = Field(
        default=None,
        description="Offline sets the cluster offline, releasing compute resources. Data is not removed.",
    )


class BackupStatus(Model):
    """The status of the last successful backup.

    Every field but ``uuidSet`` is required by the CRD (as MOCO's), ``time`` and ``warnings`` as
    nullable: they are written as ``null`` even when the rest of the object is dumped without
    ``None`` fields.
    """

    model_config = ConfigDict(
        json_schema_extra=crd(
            required=(
                "binlogFilename",
                "binlogSize",
                "dumpSize",
                "elapsed",
                "gtidSet",
                "sourceIndex",
                "sourceUUID",
                "time",
                "warnings",
                "workDirUsage",
            )
        )
    )

    time: str | None = Field(
        default=None,
        description=(
            "The time of the backup. This is used to generate object keys of backup files in a bucket."
        ),
        json_schema_extra=crd(format="date-time", nullable=True),
    )
    elapsed: str = Field(default="0s", description="Elapsed is the time spent on the backup.")
    source_index: int = Field(
        default=0, description="SourceIndex is the ordinal of the backup source instance."
    )
    source_uuid: str = Field(
        default="",
        alias="sourceUUID",
        description="SourceUUID is the `server_uuid` of the backup source instance.",
    )
    uuid_set: dict[str, str] | None = Field(
        default=None,
        alias="uuidSet",
        description="UUIDSet is the `server_uuid` set of all candidate instances for the backup source.",
    )
    binlog_filename: str = Field(
        default="",
        description=(
            "BinlogFilename is the binlog filename that the backup source instance "
            "was writing to at the backup."
        ),
    )
    gtid_set: str = Field(
        default="", alias="gtidSet", description="GTIDSet is the GTID set of the full dump of database."
    )
    dump_size: int = Field(
        default=0,
        description=(
            "DumpSize is the size in bytes of a full dump of database stored in an object storage bucket."
        ),
        json_schema_extra=crd(format="int64"),
    )
    binlog_size: int = Field(
        default=0,
        description=(
            "BinlogSize is the size in bytes of a tarball of binlog files stored in an object storage bucket."
        ),
        json_schema_extra=crd(format="int64"),
    )
    work_dir_usage: int = Field(
        default=0,
        description="WorkDirUsage is the max usage in bytes of the working directory.",
        json_schema_extra=crd(format="int64"),
    )
    warnings: list[str] | None = Field(
        default=None,
        description="Warnings are list of warnings from the last backup, if any.",
        json_schema_extra=crd(nullable=True),
    )

    @model_serializer(mode="wrap")
    def _keep_required_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        for name in ("time", "warnings"):
            out.setdefault(name, None)
        return out


class ReconcileInfo(Model):
    """Version information of the last reconciliation."""

    generation: int | None = Field(
        default=None,
        description="Generation is the `metadata.generation` value of the last reconciliation.",
        json_schema_extra=crd(format="int64"),
    )
    reconcile_version: int = Field(
        default=0, description="ReconcileVersion is the version of the operator reconciler."
    )


class PrimaryChange(Model):
    """The last switchover or failover the clustering loop completed."""

    model_config = ConfigDict(
        json_schema_extra=crd(
            required=("operation", "time", "fromIndex", "toIndex", "writeUnavailableMillis")
        )
    )

    operation: Literal["Switchover", "Failover"] = Field(
        description="Operation is Switchover (the primary was alive) or Failover (it was gone)."
    )
    time: str = Field(
        description="Time is when the new primary became writable.",
        json_schema_extra=crd(format="date-time"),
    )
    from_index: int = Field(description="FromIndex is the ordinal of the former primary.")
    to_index: int = Field(description="ToIndex is the ordinal of the new primary.")
    write_unavailable_millis: int = Field(
        description=(
            "WriteUnavailableMillis is how long no instance accepted writes, as the operator saw it: "
            "from the old primary made read-only (switchover) or from its first failed check "
            "(failover) until the new primary was writable."
        ),
        json_schema_extra=crd(format="int64"),
    )
    reason: str = Field(default="", description="Reason says why the primary was changed.")


class ClusteringStatus(Model):
    """What the clustering loop decided last and the last primary change (moco's own field).

    Written only when it changes, never with fast-changing figures (GTID sets, lag): those are
    read from the instances by ``kubectl moco status``.
    """

    next_operation: Literal["None", "Configure", "Switchover", "Failover", "Clone"] = Field(
        default="None",
        description=(
            "NextOperation is the operation the clustering loop decided on its last pass; it is "
            "applied in that pass, so it stays until a later pass decides otherwise."
        ),
    )
    next_operation_target: int | None = Field(
        default=None, description="NextOperationTarget is the ordinal a Switchover moves the primary to."
    )
    next_operation_reason: str = Field(
        default="", description="NextOperationReason says why (or why nothing is done)."
    )
    last_primary_change: PrimaryChange | None = Field(
        default=None, description="LastPrimaryChange is the last switchover or failover that succeeded."
    )


class SystemUserRotationStatus(Model):
    """Where the rotation of the passwords of moco's MySQL users stands (MOCO's field).

    ``Idle`` -> ``Rotating`` (new passwords applied to every instance with RETAIN CURRENT
    PASSWORD, then made current) -> ``Rotated`` (both passwords work; the old one waits for the
    discard) -> ``Idle``.
    """

    rotation_id: str = Field(
        default="",
        alias="rotationID",
        description="RotationID is the ID of the rotation in progress (the annotation's value).",
    )
    phase: Literal["", "Idle", "Rotating", "Rotated"] = Field(
        default="", description="Phase is Idle, Rotating or Rotated; empty means Idle."
    )
    rotate_applied: bool = Field(
        default=False,
        description="RotateApplied is true once every instance holds the new passwords as primary ones.",
    )
    discard_applied: bool = Field(
        default=False, description="DiscardApplied is true once every instance discarded the old passwords."
    )
    last_rotation_id: str = Field(
        default="",
        alias="lastRotationID",
        description="LastRotationID is the ID of the last completed rotation.",
    )
    rotated_time: str | None = Field(
        default=None,
        description=(
            "RotatedTime is when the new passwords were distributed (moco's own field): the discard "
            "waits until every Pod's mounted Secret files can have been updated since."
        ),
        json_schema_extra=crd(format="date-time"),
    )


class Condition(Model):
    """A metav1.Condition (its CRD schema is the upstream one)."""

    model_config = ConfigDict(json_schema_extra=crd(kubernetes=META + "Condition"))

    type: str
    status: Literal["True", "False", "Unknown"]
    observed_generation: int | None = None
    last_transition_time: str
    reason: str
    message: str


class MySQLClusterStatus(Model):
    """The observed state of a MySQLCluster."""

    conditions: list[Condition] | None = Field(
        default=None, description="Conditions is an array of conditions."
    )
    current_primary_index: int = Field(
        default=0,
        description=(
            "CurrentPrimaryIndex is the index of the current primary Pod in StatefulSet. "
            "Initially, this is zero."
        ),
        json_schema_extra=crd(required=True),
    )
    synced_replicas: int | None = Field(
        default=None, description="SyncedReplicas is the number of synced instances including the primary."
    )
    errant_replicas: int | None = Field(
        default=None, description="ErrantReplicas is the number of instances that have errant transactions."
    )
    errant_replica_list: list[int] | None = Field(
        default=None, description="ErrantReplicaList is the list of indices of errant replicas."
    )
    backup: BackupStatus | None = Field(
        default=None, description="Backup is the status of the last successful backup."
    )
    restored_time: str | None = Field(
        default=None,
        description="RestoredTime is the time when the cluster data is restored.",
        json_schema_extra=crd(format="date-time"),
    )
    cloned: bool | None = Field(
        default=None,
        description="Cloned indicates if the initial cloning from an external source has been completed.",
    )
    reconcile_info: ReconcileInfo | None = Field(
        default=None, description="ReconcileInfo represents version information for reconciler."
    )
    clustering: ClusteringStatus | None = Field(
        default=None,
        description=(
            "Clustering is moco's own (MOCO's API has no such field; MOCO's clients ignore it): "
            "the clustering loop's last decision and the last switchover or failover."
        ),
    )
    system_user_rotation: SystemUserRotationStatus | None = Field(
        default=None,
        description="SystemUserRotation is the state of the rotation of the system users' passwords.",
    )

    def condition(self, type_: str) -> Condition | None:
        """The condition of type ``type_``, if set."""
        return next((c for c in self.conditions or () if c.type == type_), None)


class MySQLCluster(TopLevelObject):
    """MySQLCluster is a cluster of mysqld instances: one primary and replicas joined by
    loss-less semi-synchronous replication."""

    model_config = ConfigDict(json_schema_extra=crd(validations=[rules.CLUSTER_NAME]))

    kind: str = Field(default=KIND, description=KIND_DESCRIPTION)
    spec: MySQLClusterSpec = Field(description="MySQLClusterSpec defines the desired state of MySQLCluster.")
    status: MySQLClusterStatus | None = Field(
        default=None, description="MySQLClusterStatus defines the observed state of MySQLCluster."
    )

    # -- derived names (see moco.api.names) -----------------------------------------------------
    def prefixed_name(self) -> str:
        """``moco-<name>``."""
        return names.prefixed_name(self.name)

    def pod_name(self, index: int) -> str:
        """``moco-<name>-<index>``."""
        return names.pod_name(self.name, index)

    def pod_hostname(self, index: int) -> str:
        """The DNS name of Pod ``index`` under the headless Service."""
        return names.pod_hostname(self.namespace, self.name, index)

    def headless_service_name(self) -> str:
        """``moco-<name>``."""
        return names.headless_service_name(self.name)

    def primary_service_name(self) -> str:
        """``moco-<name>-primary``."""
        return names.primary_service_name(self.name)

    def replica_service_name(self) -> str:
        """``moco-<name>-replica``."""
        return names.replica_service_name(self.name)

    def user_secret_name(self) -> str:
        """``moco-<name>`` in the cluster's namespace."""
        return names.user_secret_name(self.name)

    def mycnf_secret_name(self) -> str:
        """``moco-my-cnf-<name>``."""
        return names.mycnf_secret_name(self.name)

    def controller_secret_name(self) -> str:
        """``mysql-<namespace>.<name>`` in the controller's namespace."""
        return names.controller_secret_name(self.namespace, self.name)

    def mycnf_configmap_prefix(self) -> str:
        """``moco-<name>.``."""
        return names.mycnf_configmap_prefix(self.name)

    def backup_cronjob_name(self) -> str:
        """``moco-backup-<name>``: MOCO's backup CronJob."""
        return names.backup_cronjob_name(self.name)

    def restore_job_name(self) -> str:
        """``moco-restore-<name>``: MOCO's restore Job."""
        return names.restore_job_name(self.name)
