"""The OpenAPI v3 schemas of our CRDs, with MOCO's webhook rules as schema constraints and CEL.

MOCO validates MySQLCluster and BackupPolicy in a webhook server; moco has none. Every rule of
that webhook that looks at the object alone is written here, so the apiserver enforces it:

=====================================================  =============================================
MOCO webhook rule                                      here
=====================================================  =============================================
``metadata.name`` at most 40 characters                 root CEL ``self.metadata.name.size() <= 40``
``replicas`` positive and odd; never decreased          ``minimum: 1`` + CEL; transition rule
a ``mysqld`` container                                  CEL on ``podTemplate.spec.containers``
reserved container names (``agent``; ``slow-log``       CEL on the container items and on ``spec``
unless the slow-log sidecar is disabled;                (the last two depend on other spec fields)
``mysqld-exporter`` when collectors are set)
reserved init container ``moco-init``                   CEL on the init container items
reserved ports / port names of ``mysqld``               CEL on the container items
reserved volume names                                   CEL on the volume items
a ``mysql-data`` claim template; storage requests       CEL on ``volumeClaimTemplates``
``serverIDBase`` positive once set                      ``minimum: 0`` + transition rule (0 = unset)
``logRotationSchedule`` / ``schedule`` are cron         CEL ``matches`` (:mod:`moco.api.cron`)
``replicationSourceSecretName`` only at creation,       transition rules on ``spec``
then fixed (it may be removed)
``restore`` not editable                                transition rule on ``spec``
=====================================================  =============================================

Besides MOCO's: ``copy-moco-init`` is reserved as an init container name and ``shared`` as a
volume name, because moco's Pods carry them (two entries with one name would break the Pod).

The embedded Kubernetes types (Pod spec, claim spec, Service spec, Job volumes/env) are the real
upstream schemas (:mod:`moco.api.openapi`), so unknown fields inside a Pod spec are pruned, or
refused under strict field validation, and ``kubectl explain`` describes them.

CEL cost: the apiserver estimates each rule's worst case from the schema and refuses a CRD
above its budget. Lists and strings that rules iterate or compare are bounded (``maxItems``,
``maxLength``) by limits no real Pod reaches (see :data:`LIMITS`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Final

from pydantic import BaseModel

from moco import constants as c
from moco.api import bounds as b_
from moco.api import cron
from moco.api.backuppolicy import BackupPolicySpec
from moco.api.base import ObjectMeta, describe
from moco.api.job import (
    DEFAULT_BACKEND_TYPE,
    DEFAULT_CPU,
    DEFAULT_MEMORY,
    DEFAULT_THREADS,
    BucketConfig,
    JobConfig,
)
from moco.api.mysqlcluster import (
    BackupStatus,
    MySQLClusterSpec,
    MySQLClusterStatus,
    OverwriteContainer,
    PersistentVolumeClaim,
    PodTemplateSpec,
    ReconcileInfo,
    RestoreSpec,
    ServiceTemplate,
)
from moco.api.names import MAX_CLUSTER_NAME_LENGTH
from moco.api.openapi import Converter

Schema = dict[str, Any]

# --- defaults (MOCO's CRD values) -------------------------------------------------------------
DEFAULT_REPLICAS: Final = 1
DEFAULT_MAX_DELAY_SECONDS: Final = 60
DEFAULT_MAX_DELAY_SECONDS_FOR_POD_DELETION: Final = 0
DEFAULT_STARTUP_WAIT_SECONDS: Final = 3600

# --- reserved names ---------------------------------------------------------------------------
RESERVED_CONTAINERS: Final = (c.AGENT_CONTAINER,)
RESERVED_INIT_CONTAINERS: Final = (c.INIT_CONTAINER, c.COPY_INIT_CONTAINER)
RESERVED_PORTS: Final = (c.MYSQL_PORT, c.MYSQLX_PORT, c.MYSQL_ADMIN_PORT, c.MYSQL_HEALTH_PORT)
RESERVED_PORT_NAMES: Final = (
    c.MYSQL_PORT_NAME,
    c.MYSQLX_PORT_NAME,
    c.MYSQL_ADMIN_PORT_NAME,
    c.MYSQL_HEALTH_PORT_NAME,
)
RESERVED_VOLUMES: Final = (
    c.TMP_VOLUME,
    c.RUN_VOLUME,
    c.VAR_LOG_VOLUME,
    c.CONF_VOLUME,
    c.INIT_CONF_VOLUME,
    c.MYCNF_SECRET_VOLUME,
    c.SLOW_LOG_CONFIG_VOLUME,
    c.SHARED_VOLUME,
)

#: Bounds that keep the CEL cost estimates within the apiserver's budget. Names are DNS labels
#: (63) or IANA service names (15) anyway; the list bounds are far above any real Pod.
LIMITS: Final = {
    "containers": 64,
    "ports": 128,
    "volumes": 256,
    "claimTemplates": 32,
    "collectors": 64,
    "name": 63,
    "portName": 15,
    "jobList": 128,
}


def _cel_list(values: tuple[Any, ...]) -> str:
    return "[" + ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values) + "]"


def _rule(rule: str, message: str, *, field_path: str | None = None, reason: str | None = None) -> Schema:
    out: Schema = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    if reason:
        out["reason"] = reason
    return out


def _rule_expr(
    rule: str, message_expression: str, *, field_path: str | None = None, reason: str | None = None
) -> Schema:
    out: Schema = {"rule": rule, "messageExpression": message_expression}
    if field_path:
        out["fieldPath"] = field_path
    if reason:
        out["reason"] = reason
    return out


def _string(description: str | None = None, **extra: Any) -> Schema:
    out: Schema = {"type": "string", **extra}
    if description:
        out["description"] = description
    return out


def _int(description: str | None, fmt: str | None = None, **extra: Any) -> Schema:
    out: Schema = {"type": "integer", **extra}
    if fmt:
        out["format"] = fmt
    if description:
        out["description"] = description
    return out


def _bool(description: str, **extra: Any) -> Schema:
    return {"type": "boolean", "description": description, **extra}


def _quantity(description: str, **extra: Any) -> Schema:
    q = Converter().definition("io.k8s.apimachinery.pkg.api.resource.Quantity")
    return {**q, "description": description, **extra}


def _cron(description: str, field: str) -> Schema:
    return _string(
        description,
        maxLength=cron.MAX_SCHEDULE_LENGTH,
        **{
            "x-kubernetes-validations": [
                _rule_expr(
                    f"self.matches(r'{cron.CRON_REGEX}')",
                    f"'{field}: ' + self + ' is not a cron schedule: use 5 fields (minute hour day month "
                    "weekday) or @hourly, @daily, @weekly, @monthly, @yearly, @every <duration>'",
                )
            ]
        },
    )


def object_meta_schema(description: str) -> Schema:
    """MOCO's reduced metadata: name, labels, annotations."""
    return {
        "type": "object",
        "description": description,
        "properties": {
            "annotations": {
                "type": "object",
                "additionalProperties": {"type": "string", "maxLength": b_.MAX_ANNOTATION_VALUE},
                "maxProperties": b_.MAX_METADATA_ENTRIES,
                "description": describe(ObjectMeta, "annotations"),
            },
            "labels": {
                "type": "object",
                "additionalProperties": {"type": "string", "maxLength": b_.MAX_LABEL_VALUE},
                "maxProperties": b_.MAX_METADATA_ENTRIES,
                "description": describe(ObjectMeta, "labels"),
            },
            "name": _string(describe(ObjectMeta, "name"), maxLength=b_.MAX_NAME),
        },
    }


def _core(conv: Converter, name: str, description: str) -> Schema:
    s = conv.definition("io.k8s.api.core.v1." + name)
    s["description"] = description
    return s


def _describer(model: type[BaseModel]) -> Callable[[str], str]:
    def d(field: str) -> str:
        return describe(model, field)

    return d


def _validations(node: Schema, *rules: Schema) -> None:
    node.setdefault("x-kubernetes-validations", []).extend(rules)


# --- JobConfig --------------------------------------------------------------------------------
def job_config_schema(conv: Converter, description: str) -> Schema:
    """``JobConfig`` (backup and restore Pods)."""
    work_volume = _core(conv, "Volume", describe(JobConfig, "work_volume"))
    del work_volume["properties"]["name"]
    work_volume["required"] = [r for r in work_volume.get("required", []) if r != "name"]
    if not work_volume["required"]:
        del work_volume["required"]
    bound = LIMITS["jobList"]

    def items(name: str, field: str) -> Schema:
        return {
            "type": "array",
            "description": describe(JobConfig, field),
            "items": conv.definition("io.k8s.api.core.v1." + name),
            "maxItems": bound,
        }

    bucket: Schema = {
        "type": "object",
        "description": describe(JobConfig, "bucket_config"),
        "required": ["bucketName"],
        "properties": {
            "backendType": _string(
                describe(BucketConfig, "backend_type"), enum=["s3", "gcs"], default=DEFAULT_BACKEND_TYPE
            ),
            "bucketName": _string(
                describe(BucketConfig, "bucket_name"), minLength=1, maxLength=b_.MAX_BUCKET_NAME
            ),
            "endpointURL": _string(
                describe(BucketConfig, "endpoint_url"), pattern="^https?://.*", maxLength=b_.MAX_URL
            ),
            "region": _string(describe(BucketConfig, "region"), maxLength=b_.MAX_REGION),
            "usePathStyle": _bool(describe(BucketConfig, "use_path_style")),
        },
    }
    return {
        "type": "object",
        "description": description,
        "required": ["bucketConfig", "serviceAccountName", "workVolume"],
        "properties": {
            "affinity": _core(conv, "Affinity", describe(JobConfig, "affinity")),
            "bucketConfig": bucket,
            "cpu": _quantity(describe(JobConfig, "cpu"), default=DEFAULT_CPU, nullable=True),
            "env": items("EnvVar", "env"),
            "envFrom": items("EnvFromSource", "env_from"),
            "maxCpu": _quantity(describe(JobConfig, "max_cpu"), nullable=True),
            "maxMemory": _quantity(describe(JobConfig, "max_memory"), nullable=True),
            "memory": _quantity(describe(JobConfig, "memory"), default=DEFAULT_MEMORY, nullable=True),
            "serviceAccountName": _string(
                describe(JobConfig, "service_account_name"), minLength=1, maxLength=b_.MAX_NAME
            ),
            "threads": _int(
                describe(JobConfig, "threads"),
                None,
                minimum=1,
                maximum=b_.MAX_THREADS,
                default=DEFAULT_THREADS,
            ),
            "volumeMounts": items("VolumeMount", "volume_mounts"),
            "volumes": items("Volume", "volumes"),
            "workVolume": work_volume,
        },
    }


# --- MySQLCluster -----------------------------------------------------------------------------
def _named_items(node: Schema, max_items: int) -> Schema:
    """Bound a list of named objects (its length, each name's length); returns the item schema."""
    node["maxItems"] = max_items
    node["items"]["properties"]["name"]["maxLength"] = LIMITS["name"]
    items: Schema = node["items"]
    return items


def _name_not_reserved(field: str, noun: str, reserved: tuple[str, ...]) -> Schema:
    """The rule refusing an item of ``spec.podTemplate.spec.<field>`` named as one of moco's own."""
    return _rule_expr(
        f"!(self.name in {_cel_list(reserved)})",
        f"'spec.podTemplate.spec.{field}: {noun} name \"' + self.name + '\" is reserved by moco: rename it'",
        field_path=".name",
        reason="FieldValueForbidden",
    )


def _pod_spec(conv: Converter) -> Schema:
    spec = _core(conv, "PodSpec", describe(PodTemplateSpec, "spec"))
    props = spec["properties"]
    containers = props["containers"]
    container = _named_items(containers, LIMITS["containers"])
    ports = container["properties"]["ports"]
    ports["maxItems"] = LIMITS["ports"]
    ports["items"]["properties"]["name"]["maxLength"] = LIMITS["portName"]
    _validations(
        containers,
        _rule_expr(
            f"self.exists(c, c.name == '{c.MYSQLD_CONTAINER}')",
            f"'spec.podTemplate.spec.containers: a container named \"{c.MYSQLD_CONTAINER}\" is required'",
            reason="FieldValueRequired",
        ),
    )
    _validations(
        container,
        _name_not_reserved("containers", "container", RESERVED_CONTAINERS),
        _rule_expr(
            f"self.name != '{c.MYSQLD_CONTAINER}' || !has(self.ports) || "
            f"self.ports.all(p, !(p.containerPort in {_cel_list(RESERVED_PORTS)}))",
            "'spec.podTemplate.spec.containers[mysqld].ports: ports "
            f"{', '.join(map(str, RESERVED_PORTS))} are reserved by moco: use another containerPort'",
            field_path=".ports",
            reason="FieldValueForbidden",
        ),
        _rule_expr(
            f"self.name != '{c.MYSQLD_CONTAINER}' || !has(self.ports) || "
            f"self.ports.all(p, !has(p.name) || !(p.name in {_cel_list(RESERVED_PORT_NAMES)}))",
            "'spec.podTemplate.spec.containers[mysqld].ports: port names "
            f"{', '.join(RESERVED_PORT_NAMES)} are reserved by moco: use another name'",
            field_path=".ports",
            reason="FieldValueForbidden",
        ),
    )
    _validations(
        _named_items(props["initContainers"], LIMITS["containers"]),
        _name_not_reserved("initContainers", "init container", RESERVED_INIT_CONTAINERS),
    )
    _validations(
        _named_items(props["volumes"], LIMITS["volumes"]),
        _name_not_reserved("volumes", "volume", RESERVED_VOLUMES),
    )
    return spec


def _pod_template(conv: Converter) -> Schema:
    overwrite: Schema = {
        "type": "object",
        "description": "OverwriteContainer defines the container spec used for overwriting.",
        "required": ["name"],
        "properties": {
            "name": _string(
                describe(OverwriteContainer, "name"),
                enum=[c.AGENT_CONTAINER, c.INIT_CONTAINER, c.SLOW_LOG_CONTAINER, c.EXPORTER_CONTAINER],
            ),
            "resources": _core(conv, "ResourceRequirements", describe(OverwriteContainer, "resources")),
            "securityContext": _core(
                conv, "SecurityContext", describe(OverwriteContainer, "security_context")
            ),
        },
    }
    return {
        "type": "object",
        "description": describe(MySQLClusterSpec, "pod_template"),
        "required": ["spec"],
        "properties": {
            "metadata": object_meta_schema(describe(PodTemplateSpec, "metadata")),
            "overwriteContainers": {
                "type": "array",
                "maxItems": b_.MAX_OVERWRITE_CONTAINERS,
                "description": describe(PodTemplateSpec, "overwrite_containers"),
                "items": overwrite,
            },
            "spec": _pod_spec(conv),
        },
    }


def _claim_templates(conv: Converter) -> Schema:
    item: Schema = {
        "type": "object",
        "description": "PersistentVolumeClaim is a template of a claim of the StatefulSet.",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": object_meta_schema(describe(PersistentVolumeClaim, "metadata")),
            "spec": _core(conv, "PersistentVolumeClaimSpec", describe(PersistentVolumeClaim, "spec")),
        },
    }
    item["properties"]["metadata"]["properties"]["name"]["maxLength"] = LIMITS["name"]
    _validations(
        item,
        _rule_expr(
            "has(self.spec.resources) && has(self.spec.resources.requests) && "
            "'storage' in self.spec.resources.requests",
            "'spec.volumeClaimTemplates: template ' + (has(self.metadata.name) ? '\"' + self.metadata.name + "
            "'\" ' : '') + 'needs spec.resources.requests.storage'",
            reason="FieldValueRequired",
        ),
    )
    out: Schema = {
        "type": "array",
        "description": describe(MySQLClusterSpec, "volume_claim_templates"),
        "minItems": 1,
        "maxItems": LIMITS["claimTemplates"],
        "items": item,
    }
    _validations(
        out,
        _rule_expr(
            f"self.exists(t, has(t.metadata.name) && t.metadata.name == '{c.DATA_VOLUME}')",
            f"'spec.volumeClaimTemplates: a template named \"{c.DATA_VOLUME}\" is required'",
            reason="FieldValueRequired",
        ),
    )
    return out


def _service_template(conv: Converter, description: str) -> Schema:
    return {
        "type": "object",
        "description": description,
        "properties": {
            "metadata": object_meta_schema(describe(ServiceTemplate, "metadata")),
            "spec": _core(conv, "ServiceSpec", describe(ServiceTemplate, "spec")),
        },
    }


def _restore(conv: Converter) -> Schema:
    return {
        "type": "object",
        "description": describe(MySQLClusterSpec, "restore"),
        "required": ["jobConfig", "restorePoint", "sourceName", "sourceNamespace"],
        "properties": {
            "jobConfig": job_config_schema(conv, describe(RestoreSpec, "job_config")),
            "restorePoint": _string(
                describe(RestoreSpec, "restore_point"), format="date-time", maxLength=b_.MAX_DATE_TIME
            ),
            "schema": _string(describe(RestoreSpec, "schema_"), maxLength=b_.MAX_SCHEMA),
            "sourceName": _string(describe(RestoreSpec, "source_name"), minLength=1, maxLength=b_.MAX_NAME),
            "sourceNamespace": _string(
                describe(RestoreSpec, "source_namespace"), minLength=1, maxLength=b_.MAX_LABEL_NAME
            ),
            "users": _string(describe(RestoreSpec, "users"), maxLength=b_.MAX_TEXT),
        },
    }


def _spec_rules() -> list[Schema]:
    containers = "self.podTemplate.spec.containers"
    has_containers = "has(self.podTemplate.spec.containers)"
    return [
        _rule_expr(
            f"!{has_containers} || (has(self.disableSlowQueryLogContainer) && "
            f"self.disableSlowQueryLogContainer) || "
            f"!{containers}.exists(c, c.name == '{c.SLOW_LOG_CONTAINER}')",
            "'spec.podTemplate.spec.containers: container name "
            f'"{c.SLOW_LOG_CONTAINER}" is reserved by moco '
            "unless spec.disableSlowQueryLogContainer is true'",
            field_path=".podTemplate.spec.containers",
            reason="FieldValueForbidden",
        ),
        _rule_expr(
            f"!{has_containers} || !has(self.collectors) || size(self.collectors) == 0 || "
            f"!{containers}.exists(c, c.name == '{c.EXPORTER_CONTAINER}')",
            "'spec.podTemplate.spec.containers: container name "
            f'"{c.EXPORTER_CONTAINER}" is reserved by moco '
            "when spec.collectors is set'",
            field_path=".podTemplate.spec.containers",
            reason="FieldValueForbidden",
        ),
        # --- update rules (transition rules: evaluated only when there is an old object) ---
        _rule_expr(
            "!has(self.replicationSourceSecretName) || has(oldSelf.replicationSourceSecretName)",
            "'spec.replicationSourceSecretName: replication from an external source can be set only "
            "when the cluster is created'",
            field_path=".replicationSourceSecretName",
            reason="FieldValueForbidden",
        ),
        _rule_expr(
            "!has(self.replicationSourceSecretName) || !has(oldSelf.replicationSourceSecretName) || "
            "self.replicationSourceSecretName == oldSelf.replicationSourceSecretName",
            "'spec.replicationSourceSecretName: cannot be changed from \"' + "
            "oldSelf.replicationSourceSecretName + '\"; it can only be removed'",
            field_path=".replicationSourceSecretName",
            reason="FieldValueForbidden",
        ),
        _rule_expr(
            "has(self.restore) == has(oldSelf.restore) && "
            "(!has(self.restore) || self.restore == oldSelf.restore)",
            "'spec.restore: is not editable (it can be set only when the cluster is created)'",
            field_path=".restore",
            reason="FieldValueForbidden",
        ),
        _rule(
            "!has(oldSelf.serverIDBase) || oldSelf.serverIDBase == 0 || "
            "(has(self.serverIDBase) && self.serverIDBase > 0)",
            "spec.serverIDBase: once set it must stay a positive integer",
            field_path=".serverIDBase",
            reason="FieldValueForbidden",
        ),
    ]


def mysqlcluster_spec_schema(conv: Converter) -> Schema:
    """``MySQLCluster.spec``."""
    d = _describer(MySQLClusterSpec)
    replicas = _int(d("replicas"), "int32", minimum=1, maximum=b_.MAX_REPLICAS, default=DEFAULT_REPLICAS)
    _validations(
        replicas,
        _rule("self % 2 == 1", "spec.replicas: must be a positive odd number (1, 3, 5, ...)"),
        _rule(
            "self >= oldSelf",
            "spec.replicas: decreasing replicas is not supported",
            reason="FieldValueForbidden",
        ),
    )
    collectors: Schema = {
        "type": "array",
        "description": d("collectors"),
        "items": {"type": "string", "maxLength": b_.MAX_COLLECTOR},
        "maxItems": LIMITS["collectors"],
    }
    return {
        "type": "object",
        "description": "MySQLClusterSpec defines the desired state of MySQLCluster.",
        "required": ["podTemplate", "volumeClaimTemplates"],
        "properties": {
            "agentUseLocalhost": _bool(d("agent_use_localhost")),
            "backupPolicyName": _string(d("backup_policy_name"), nullable=True, maxLength=b_.MAX_NAME),
            "collectors": collectors,
            "disableSlowQueryLogContainer": _bool(d("disable_slow_query_log_container")),
            "initializeTimezoneData": _bool(d("initialize_timezone_data"), default=False),
            "logRotationSchedule": _cron(d("log_rotation_schedule"), "spec.logRotationSchedule"),
            "logRotationSize": _int(
                d("log_rotation_size"), "int64", minimum=0, maximum=b_.MAX_LOG_ROTATION_SIZE
            ),
            "maxDelaySeconds": _int(
                d("max_delay_seconds"),
                None,
                minimum=0,
                maximum=b_.MAX_INT32,
                default=DEFAULT_MAX_DELAY_SECONDS,
            ),
            "maxDelaySecondsForPodDeletion": _int(
                d("max_delay_seconds_for_pod_deletion"),
                "int64",
                minimum=0,
                maximum=b_.MAX_INT32,
                default=DEFAULT_MAX_DELAY_SECONDS_FOR_POD_DELETION,
            ),
            "mysqlConfigMapName": _string(d("mysql_config_map_name"), nullable=True, maxLength=b_.MAX_NAME),
            "offline": _bool(d("offline")),
            "podTemplate": _pod_template(conv),
            "primaryServiceTemplate": _service_template(conv, d("primary_service_template")),
            "replicaServiceTemplate": _service_template(conv, d("replica_service_template")),
            "replicas": replicas,
            "replicationSourceSecretName": _string(
                d("replication_source_secret_name"), nullable=True, maxLength=b_.MAX_NAME
            ),
            "restore": _restore(conv),
            "serverIDBase": _int(d("server_id_base"), "int32", minimum=0, maximum=b_.MAX_INT32),
            "slowQueryLogConfigTmpl": _string(d("slow_query_log_config_tmpl"), maxLength=b_.MAX_TEXT),
            "startupWaitSeconds": _int(
                d("startup_wait_seconds"),
                "int32",
                minimum=0,
                maximum=b_.MAX_INT32,
                default=DEFAULT_STARTUP_WAIT_SECONDS,
            ),
            "volumeClaimTemplates": _claim_templates(conv),
        },
        "x-kubernetes-validations": _spec_rules(),
    }


def _condition_schema(conv: Converter) -> Schema:
    return conv.definition("io.k8s.apimachinery.pkg.apis.meta.v1.Condition")


def mysqlcluster_status_schema(conv: Converter) -> Schema:
    """``MySQLCluster.status`` (written by the controller only)."""
    s = _describer(MySQLClusterStatus)
    b = _describer(BackupStatus)
    backup: Schema = {
        "type": "object",
        "description": s("backup"),
        "required": [
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
        ],
        "properties": {
            "binlogFilename": _string(b("binlog_filename")),
            "binlogSize": _int(b("binlog_size"), "int64"),
            "dumpSize": _int(b("dump_size"), "int64"),
            "elapsed": _string(b("elapsed")),
            "gtidSet": _string(b("gtid_set")),
            "sourceIndex": _int(b("source_index"), None),
            "sourceUUID": _string(b("source_uuid")),
            "time": _string(b("time"), format="date-time", nullable=True),
            "uuidSet": {
                "type": "object",
                "description": b("uuid_set"),
                "additionalProperties": {"type": "string"},
            },
            "warnings": {
                "type": "array",
                "description": b("warnings"),
                "items": {"type": "string"},
                "nullable": True,
            },
            "workDirUsage": _int(b("work_dir_usage"), "int64"),
        },
    }
    return {
        "type": "object",
        "description": "MySQLClusterStatus defines the observed state of MySQLCluster.",
        "required": ["currentPrimaryIndex"],
        "properties": {
            "backup": backup,
            "cloned": _bool(s("cloned")),
            "conditions": {"type": "array", "description": s("conditions"), "items": _condition_schema(conv)},
            "currentPrimaryIndex": _int(s("current_primary_index"), None),
            "errantReplicaList": {
                "type": "array",
                "description": s("errant_replica_list"),
                "items": {"type": "integer"},
            },
            "errantReplicas": _int(s("errant_replicas"), None),
            "reconcileInfo": {
                "type": "object",
                "description": s("reconcile_info"),
                "properties": {
                    "generation": _int(describe(ReconcileInfo, "generation"), "int64"),
                    "reconcileVersion": _int(describe(ReconcileInfo, "reconcile_version"), None),
                },
            },
            "restoredTime": _string(s("restored_time"), format="date-time"),
            "syncedReplicas": _int(s("synced_replicas"), None),
        },
    }


def _root(description: str, spec: Schema, status: Schema | None, rules: list[Schema]) -> Schema:
    props: Schema = {
        "apiVersion": _string(
            "APIVersion defines the versioned schema of this representation of an object. "
            "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
        ),
        "kind": _string(
            "Kind is a string value representing the REST resource this object represents. "
            "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
        ),
        "metadata": {"type": "object"},
        "spec": spec,
    }
    if status is not None:
        props["status"] = status
    out: Schema = {"type": "object", "description": description, "properties": props}
    if rules:
        out["x-kubernetes-validations"] = rules
    return out


def mysqlcluster_schema(conv: Converter | None = None) -> Schema:
    """The ``openAPIV3Schema`` of MySQLCluster."""
    conv = conv or Converter()
    name_rule = _rule(
        f"self.metadata.name.size() <= {MAX_CLUSTER_NAME_LENGTH}",
        f"metadata.name: must be at most {MAX_CLUSTER_NAME_LENGTH} characters (moco derives longer "
        "names from it)",
        reason="FieldValueInvalid",
    )
    return _root(
        "MySQLCluster is a cluster of mysqld instances: one primary and replicas joined by "
        "loss-less semi-synchronous replication.",
        mysqlcluster_spec_schema(conv),
        mysqlcluster_status_schema(conv),
        [name_rule],
    )


def backuppolicy_schema(conv: Converter | None = None) -> Schema:
    """The ``openAPIV3Schema`` of BackupPolicy."""
    conv = conv or Converter()
    d = _describer(BackupPolicySpec)
    spec: Schema = {
        "type": "object",
        "description": "BackupPolicySpec defines the configuration items for MySQLCluster backup.",
        "required": ["jobConfig", "schedule"],
        "properties": {
            "activeDeadlineSeconds": _int(
                d("active_deadline_seconds"), "int64", nullable=True, maximum=b_.MAX_INT32
            ),
            "backoffLimit": _int(d("backoff_limit"), "int32", minimum=0, nullable=True, maximum=b_.MAX_INT32),
            "concurrencyPolicy": _string(
                d("concurrency_policy"), enum=["Allow", "Forbid", "Replace"], default="Allow"
            ),
            "failedJobsHistoryLimit": _int(
                d("failed_jobs_history_limit"), "int32", minimum=0, nullable=True, maximum=b_.MAX_JOBS_HISTORY
            ),
            "jobConfig": job_config_schema(conv, d("job_config")),
            "schedule": _cron(d("schedule"), "spec.schedule"),
            "startingDeadlineSeconds": _int(
                d("starting_deadline_seconds"), "int64", nullable=True, maximum=b_.MAX_INT32
            ),
            "successfulJobsHistoryLimit": _int(
                d("successful_jobs_history_limit"),
                "int32",
                minimum=0,
                nullable=True,
                maximum=b_.MAX_JOBS_HISTORY,
            ),
            "timeZone": _string(d("time_zone"), nullable=True, maxLength=b_.MAX_TIME_ZONE),
        },
    }
    root = _root(
        "BackupPolicy is a namespaced resource that should be referenced from MySQLCluster.",
        spec,
        None,
        [],
    )
    root["required"] = ["spec"]
    return copy.deepcopy(root)
