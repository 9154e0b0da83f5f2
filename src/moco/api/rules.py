"""MOCO's webhook rules as CEL, for the fields of :mod:`moco.api.mysqlcluster` that carry them.

MOCO validates MySQLCluster and BackupPolicy in a webhook server; moco has none. Every rule of
that webhook that looks at the object alone is a schema constraint or a CEL rule
(``x-kubernetes-validations``) of the CRD, so the apiserver enforces it. The rules are written
here and attached to the fields they guard with :func:`moco.api.marks.crd`:

=====================================================  =============================================
MOCO webhook rule                                      where
=====================================================  =============================================
``metadata.name`` at most 40 characters                 :data:`CLUSTER_NAME` on ``MySQLCluster``
``replicas`` positive and odd; never decreased          ``ge=1`` + :data:`REPLICAS` (a transition rule)
a ``mysqld`` container                                  :data:`POD_SPEC` (on ``containers``)
reserved container names (``agent``; ``slow-log``       :data:`POD_SPEC` (items) and :data:`SPEC`
unless the slow-log sidecar is disabled;                (the last two depend on other spec fields)
``mysqld-exporter`` when collectors are set)
reserved init container ``moco-init``                   :data:`POD_SPEC` (init container items)
reserved ports / port names of ``mysqld``               :data:`POD_SPEC` (container items)
reserved volume names                                   :data:`POD_SPEC` (volume items)
a ``mysql-data`` claim template; storage requests       :data:`CLAIM_TEMPLATES`, :data:`CLAIM_TEMPLATE`
``serverIDBase`` positive once set                      ``ge=0`` + a transition rule in :data:`SPEC`
``logRotationSchedule`` / ``schedule`` are cron         :func:`cron_rule` (:mod:`moco.api.cron`)
``replicationSourceSecretName`` only at creation,       transition rules in :data:`SPEC`
then fixed (it may be removed)
``restore`` not editable                                a transition rule in :data:`SPEC`
=====================================================  =============================================

Besides MOCO's: ``copy-moco-init`` is reserved as an init container name and ``shared``,
``grpc-cert`` and ``mysql-tls`` as volume names, because moco's Pods carry them (two entries with
one name would break the Pod).

CEL cost: the apiserver estimates each rule's worst case from the schema and refuses a CRD
above its budget. Lists and strings that rules iterate or compare are bounded
(:mod:`moco.api.bounds`).
"""

from __future__ import annotations

from typing import Any, Final

from moco import constants as c
from moco.api import bounds, cron
from moco.api.marks import Rule, cel_list, rule, rule_expr
from moco.api.names import MAX_CLUSTER_NAME_LENGTH

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
    c.GRPC_SECRET_VOLUME,
    c.MYSQL_TLS_VOLUME,
)


def cron_rule(field: str) -> Rule:
    """``field`` is a schedule robfig/cron accepts (see :mod:`moco.api.cron`)."""
    return rule_expr(
        f"self.matches(r'{cron.CRON_REGEX}')",
        f"'{field}: ' + self + ' is not a cron schedule: use 5 fields (minute hour day month "
        "weekday) or @hourly, @daily, @weekly, @monthly, @yearly, @every <duration>'",
    )


# --- MySQLCluster -----------------------------------------------------------------------------
CLUSTER_NAME: Final = rule(
    f"self.metadata.name.size() <= {MAX_CLUSTER_NAME_LENGTH}",
    f"metadata.name: must be at most {MAX_CLUSTER_NAME_LENGTH} characters (moco derives longer "
    "names from it)",
    reason="FieldValueInvalid",
)

REPLICAS: Final = (
    rule("self % 2 == 1", "spec.replicas: must be a positive odd number (1, 3, 5, ...)"),
    rule(
        "self >= oldSelf",
        "spec.replicas: decreasing replicas is not supported",
        reason="FieldValueForbidden",
    ),
)

_CONTAINERS = "self.podTemplate.spec.containers"
_HAS_CONTAINERS = "has(self.podTemplate.spec.containers)"

#: Rules on ``MySQLCluster.spec`` (they read more than one field, or compare with the old object).
SPEC: Final = (
    rule_expr(
        f"!{_HAS_CONTAINERS} || (has(self.disableSlowQueryLogContainer) && "
        f"self.disableSlowQueryLogContainer) || "
        f"!{_CONTAINERS}.exists(c, c.name == '{c.SLOW_LOG_CONTAINER}')",
        "'spec.podTemplate.spec.containers: container name "
        f'"{c.SLOW_LOG_CONTAINER}" is reserved by moco '
        "unless spec.disableSlowQueryLogContainer is true'",
        field_path=".podTemplate.spec.containers",
        reason="FieldValueForbidden",
    ),
    rule_expr(
        f"!{_HAS_CONTAINERS} || !has(self.collectors) || size(self.collectors) == 0 || "
        f"!{_CONTAINERS}.exists(c, c.name == '{c.EXPORTER_CONTAINER}')",
        "'spec.podTemplate.spec.containers: container name "
        f'"{c.EXPORTER_CONTAINER}" is reserved by moco '
        "when spec.collectors is set'",
        field_path=".podTemplate.spec.containers",
        reason="FieldValueForbidden",
    ),
    # --- update rules (transition rules: evaluated only when there is an old object) ---
    rule_expr(
        "!has(self.replicationSourceSecretName) || has(oldSelf.replicationSourceSecretName)",
        "'spec.replicationSourceSecretName: replication from an external source can be set only "
        "when the cluster is created'",
        field_path=".replicationSourceSecretName",
        reason="FieldValueForbidden",
    ),
    rule_expr(
        "!has(self.replicationSourceSecretName) || !has(oldSelf.replicationSourceSecretName) || "
        "self.replicationSourceSecretName == oldSelf.replicationSourceSecretName",
        "'spec.replicationSourceSecretName: cannot be changed from \"' + "
        "oldSelf.replicationSourceSecretName + '\"; it can only be removed'",
        field_path=".replicationSourceSecretName",
        reason="FieldValueForbidden",
    ),
    rule_expr(
        "has(self.restore) == has(oldSelf.restore) && "
        "(!has(self.restore) || self.restore == oldSelf.restore)",
        "'spec.restore: is not editable (it can be set only when the cluster is created)'",
        field_path=".restore",
        reason="FieldValueForbidden",
    ),
    rule(
        "!has(oldSelf.serverIDBase) || oldSelf.serverIDBase == 0 || "
        "(has(self.serverIDBase) && self.serverIDBase > 0)",
        "spec.serverIDBase: once set it must stay a positive integer",
        field_path=".serverIDBase",
        reason="FieldValueForbidden",
    ),
)


def _name_not_reserved(field: str, noun: str, reserved: tuple[str, ...]) -> Rule:
    """The rule refusing an item of ``spec.podTemplate.spec.<field>`` named as one of moco's own."""
    return rule_expr(
        f"!(self.name in {cel_list(reserved)})",
        f"'spec.podTemplate.spec.{field}: {noun} name \"' + self.name + '\" is reserved by moco: rename it'",
        field_path=".name",
        reason="FieldValueForbidden",
    )


def _named_items(max_items: int, *rules: Rule, **item: Any) -> dict[str, Any]:
    """Overlay of a list of named objects: its length, each name's length, rules on each item."""
    out: dict[str, Any] = {
        "maxItems": max_items,
        "items": {"properties": {"name": {"maxLength": bounds.MAX_LABEL_NAME}}, **item},
    }
    if rules:
        out["items"]["x-kubernetes-validations"] = list(rules)
    return out


_CONTAINER_RULES = (
    _name_not_reserved("containers", "container", RESERVED_CONTAINERS),
    rule_expr(
        f"self.name != '{c.MYSQLD_CONTAINER}' || !has(self.ports) || "
        f"self.ports.all(p, !(p.containerPort in {cel_list(RESERVED_PORTS)}))",
        "'spec.podTemplate.spec.containers[mysqld].ports: ports "
        f"{', '.join(map(str, RESERVED_PORTS))} are reserved by moco: use another containerPort'",
        field_path=".ports",
        reason="FieldValueForbidden",
    ),
    rule_expr(
        f"self.name != '{c.MYSQLD_CONTAINER}' || !has(self.ports) || "
        f"self.ports.all(p, !has(p.name) || !(p.name in {cel_list(RESERVED_PORT_NAMES)}))",
        "'spec.podTemplate.spec.containers[mysqld].ports: port names "
        f"{', '.join(RESERVED_PORT_NAMES)} are reserved by moco: use another name'",
        field_path=".ports",
        reason="FieldValueForbidden",
    ),
)


def _containers() -> dict[str, Any]:
    out = _named_items(bounds.MAX_CONTAINERS, *_CONTAINER_RULES)
    out["items"]["properties"]["ports"] = {
        "maxItems": bounds.MAX_PORTS,
        "items": {"properties": {"name": {"maxLength": bounds.MAX_PORT_NAME}}},
    }
    out["x-kubernetes-validations"] = [
        rule_expr(
            f"self.exists(c, c.name == '{c.MYSQLD_CONTAINER}')",
            f"'spec.podTemplate.spec.containers: a container named \"{c.MYSQLD_CONTAINER}\" is required'",
            reason="FieldValueRequired",
        )
    ]
    return out


#: Overlay of the embedded PodSpec of ``spec.podTemplate.spec``: bounds and reserved names.
POD_SPEC: Final = {
    "properties": {
        "containers": _containers(),
        "initContainers": _named_items(
            bounds.MAX_CONTAINERS,
            _name_not_reserved("initContainers", "init container", RESERVED_INIT_CONTAINERS),
        ),
        "volumes": _named_items(
            bounds.MAX_VOLUMES, _name_not_reserved("volumes", "volume", RESERVED_VOLUMES)
        ),
    }
}

_STORAGE = (
    "has(self.spec.resources) && has(self.spec.resources.requests) && "
    "'storage' in self.spec.resources.requests"
)

#: On each claim template: a storage request.
CLAIM_TEMPLATE: Final = rule_expr(
    _STORAGE,
    "'spec.volumeClaimTemplates: template ' + (has(self.metadata.name) ? '\"' + self.metadata.name + "
    "'\" ' : '') + 'needs spec.resources.requests.storage'",
    reason="FieldValueRequired",
)

#: On the claim template list: one named ``mysql-data``.
CLAIM_TEMPLATES: Final = rule_expr(
    f"self.exists(t, has(t.metadata.name) && t.metadata.name == '{c.DATA_VOLUME}')",
    f"'spec.volumeClaimTemplates: a template named \"{c.DATA_VOLUME}\" is required'",
    reason="FieldValueRequired",
)
