"""The containers of a mysqld Pod (pure rendering), MOCO's layout with moco's agent and init script.

* ``mysqld``: the user's container with ``--defaults-file`` forced, MOCO's ports, probes served
  by the agent on the ``health`` port (the user may tune thresholds, never the handler), a
  preStop sleep, and MOCO's mounts;
* ``agent``: ``moco-agent server`` from the agent image (:data:`AGENT_IMAGE`, versioned apart
  from the controller: see :data:`AGENT_VERSION`), environment from the user Secret, its
  mutual-TLS certificate (Secret ``moco-<name>-grpc``) at ``/grpc-cert``;
* ``slow-log`` (unless disabled): follows the slow query log file and writes it to its stdout, as
  MOCO's fluent-bit sidecar does (``kubectl logs -c slow-log``). By default it is the agent
  image running ``tail -F`` (so nothing is pulled from MOCO's registry); with a fluent-bit image
  configured (``--fluent-bit-image``) it is that image reading the generated fluent-bit config;
* ``mysqld-exporter`` (when ``collectors`` is set);
* init containers: ``copy-moco-init`` (the agent image) writes the init script into the shared volume,
  then ``moco-init`` runs it with the USER's mysqld image (``sh SCRIPT SERVER_ID_BASE``), so the
  data directory is initialised by the mysqld that will run it;
* ``overwriteContainers`` replaces resources/securityContext of moco's containers;
* moco's containers' security contexts are filled up to the ``restricted`` Pod Security level
  (:mod:`moco.controllers.podsecurity`: no privilege escalation, no capabilities, non-root as
  MOCO's uid/gid 10000 unless ``--disable-default-security-context``, RuntimeDefault seccomp, a
  read-only root filesystem); keys the user set are kept.

Which images a Pod template names, and so what restarts mysqld: the user's (``mysqld``, their
own containers), the agent image (``agent``, ``copy-moco-init``, the default ``slow-log``), the
exporter image (with ``collectors``) and the fluent-bit image when one is configured. Never the
controller's own image: a controller release that keeps :data:`AGENT_VERSION` changes no Pod
template and restarts no mysqld (MOCO #698, #572). The backup image (:data:`BACKUP_IMAGE`) is
in the backup CronJob and the restore Job only.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final

from moco import __version__, constants
from moco.agentapi import tls
from moco.api import MySQLCluster
from moco.api.schema import DEFAULT_MAX_DELAY_SECONDS, DEFAULT_STARTUP_WAIT_SECONDS
from moco.controllers.common import Obj, find_container
from moco.controllers.configmaps import FLUENT_BIT_CONFIG_PATH
from moco.controllers.errors import InvalidSpec
from moco.controllers.podsecurity import SecurityDefaults, container_context

DEFAULT_SECURITY: Final = SecurityDefaults()

INIT_SCRIPT_PATH: Final = f"{constants.SHARED_PATH}/moco-init.sh"
PROBE_HANDLERS: Final = ("httpGet", "exec", "tcpSocket", "grpc")


#: The mysqld_exporter version moco's exporter image carries (``hack/mysqld-exporter.sh`` pins
#: the same; a unit test keeps the two equal). 0.19.0 reads MySQL 9.x's replica status.
EXPORTER_VERSION: Final = "0.19.0"
#: The default exporter image: the one the local provider builds from that binary and loads with
#: moco's own images (``e2e/local/exporter_image.py``), so a default never names an image that
#: cannot be had. Clusters elsewhere name theirs with ``--mysqld-exporter-image``: any image whose
#: entrypoint is mysqld_exporter >= 0.19.0 (MOCO's ``ghcr.io/cybozu-go/moco/mysqld_exporter``
#: images are).
EXPORTER_IMAGE: Final = f"localhost/moco/mysqld-exporter:{EXPORTER_VERSION}"


#: The version of the agent image: what the ``agent``, ``copy-moco-init`` and ``slow-log``
#: containers run (``moco-agent server``, ``moco-agent init-script``, ``tail``). It is the agent's
#: contract with the controller and with the Pods it runs in (its API and wire model, the init
#: script, its flags, environment and mounts), versioned apart from the controller as MOCO's
#: moco-agent is: a controller release names the same agent image, so the Pod templates it renders
#: are unchanged and no mysqld restarts. Bump it (and the image, ``make moco-image``, is built under
#: the new tag) when a change must reach the running agents; every cluster then rolls once, one Pod
#: at a time, as ``--partition-update-interval`` spaces them. 1.1.0: the agent has mysqld reload
#: its mounted certificate when it is renewed (:mod:`moco.agent.mysqltls`).
AGENT_VERSION: Final = "1.1.0"
#: The default agent image (``--agent-image``; env ``MOCO_AGENT_IMAGE``): the one ``make
#: moco-image`` builds from this checkout and loads into the local cluster's nodes
#: (``e2e/local/moco_image.py``). Elsewhere, name an image of this project's wheel with that tag.
AGENT_IMAGE: Final = f"localhost/moco/moco-agent:{AGENT_VERSION}"


@dataclass(frozen=True)
class Images:
    """Images of the containers and Jobs moco adds (the controller's own image is none of them)."""

    #: the agent image (:data:`AGENT_IMAGE`); in every Pod template
    agent: str = AGENT_IMAGE
    #: the slow-log sidecar's fluent-bit image; empty (the default) means moco's own image
    #: following the slow log with ``tail -F`` (MOCO's default, ghcr.io/cybozu-go/moco/fluent-bit,
    #: is not reachable from every cluster, and a sidecar that cannot start keeps the Pod unready)
    fluent_bit: str = ""
    #: the mysqld-exporter sidecar's image (``--mysqld-exporter-image``); see :data:`EXPORTER_IMAGE`
    exporter: str = EXPORTER_IMAGE
    #: the backup/restore jobs' image (``--backup-image``); empty means :data:`BACKUP_IMAGE`
    backup: str = ""

    @property
    def backup_image(self) -> str:
        return self.backup or BACKUP_IMAGE


#: The name of the backup image beside moco's own (MySQL's client and server tools + moco).
BACKUP_IMAGE_NAME: Final = "moco-backup"
#: The default backup image: the controller's release (MOCO's rule: moco-backup of the same
#: version). It is in the backup CronJob and the restore Job, never in a Pod template; the
#: deployment manifests name the image ``make moco-image`` built (``MOCO_BACKUP_IMAGE``).
BACKUP_IMAGE: Final = f"localhost/moco/{BACKUP_IMAGE_NAME}:{__version__}"


def default_backup_image(moco_image: str) -> str:
    """The backup image built beside the controller's image ``moco_image``: the same repository
    and tag, the name :data:`BACKUP_IMAGE_NAME` (``localhost/moco/moco:src-1`` ->
    ``localhost/moco/moco-backup:src-1``), so one deployed tag names both, as they are built
    from the same sources (``e2e/deploy.py`` sets ``MOCO_BACKUP_IMAGE`` so)."""
    head, sep, last = moco_image.rpartition("/")
    name = last.partition("@")[0]  # a digest names the other image's content: dropped
    _, colon, tag = name.partition(":")
    return f"{head}{sep}{BACKUP_IMAGE_NAME}{colon}{tag}"


def _field_env(name: str, path: str) -> Obj:
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def _mount(name: str, path: str, read_only: bool = False) -> Obj:
    m: Obj = {"name": name, "mountPath": path}
    if read_only:
        m["readOnly"] = True
    return m


def _port(name: str, port: int) -> Obj:
    return {"name": name, "containerPort": port, "protocol": "TCP"}


def _secure(c: Obj, security: SecurityDefaults) -> Obj:
    """Fill the container's security context up to the restricted level (:mod:`.podsecurity`)."""
    c["securityContext"] = container_context(c.get("securityContext"), security)
    return c


def _probe(path: str, user: dict[str, Any] | None, **defaults: Any) -> Obj:
    tuned = {k: v for k, v in (user or {}).items() if k not in PROBE_HANDLERS}
    return {
        **defaults,
        **tuned,
        "httpGet": {"path": path, "port": constants.MYSQL_HEALTH_PORT_NAME, "scheme": "HTTP"},
    }


def mysqld_container(
    cluster: MySQLCluster,
    security: SecurityDefaults = DEFAULT_SECURITY,
    *,
    moco_tls: bool = False,
    startup_period: int = 10,
) -> Obj:
    c = find_container(cluster.spec.pod_template.spec, constants.MYSQLD_CONTAINER)
    if c is None:
        raise InvalidSpec("spec.podTemplate.spec.containers has no container named mysqld")
    if not c.get("image"):
        raise InvalidSpec("the mysqld container has no image")
    startup_wait = cluster.spec.startup_wait_seconds
    if startup_wait is None:
        startup_wait = DEFAULT_STARTUP_WAIT_SECONDS
    c["args"] = [f"--defaults-file={constants.MYSQL_CONF_PATH}/{constants.MYSQL_CONF_NAME}"]
    c["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(constants.PRE_STOP_SECONDS)]}}}
    c["ports"] = [
        _port(constants.MYSQL_PORT_NAME, constants.MYSQL_PORT),
        _port(constants.MYSQLX_PORT_NAME, constants.MYSQLX_PORT),
        _port(constants.MYSQL_ADMIN_PORT_NAME, constants.MYSQL_ADMIN_PORT),
        _port(constants.MYSQL_HEALTH_PORT_NAME, constants.MYSQL_HEALTH_PORT),
    ]
    # startupWaitSeconds bounds the wait whatever the period (reconcileversion rule 4)
    c["startupProbe"] = _probe(
        "/healthz",
        c.get("startupProbe"),
        periodSeconds=startup_period,
        failureThreshold=max(1, startup_wait // startup_period),
    )
    c["livenessProbe"] = _probe("/healthz", c.get("livenessProbe"))
    c["readinessProbe"] = _probe("/readyz", c.get("readinessProbe"))
    ours = (*copy.deepcopy(_MYSQLD_MOUNTS), *((_mysql_tls_mount(),) if moco_tls else ()))
    names = {m["name"] for m in ours}
    paths = {m["mountPath"] for m in ours}
    c["volumeMounts"] = [
        *[
            m
            for m in c.get("volumeMounts") or []
            if m.get("name") not in names and m.get("mountPath") not in paths
        ],
        *ours,
    ]
    return _secure(c, security)


_MYSQLD_MOUNTS: Final = (
    _mount(constants.TMP_VOLUME, constants.TMP_PATH),
    _mount(constants.RUN_VOLUME, constants.RUN_PATH),
    _mount(constants.VAR_LOG_VOLUME, constants.LOG_DIR_PATH),
    _mount(constants.CONF_VOLUME, constants.MYSQL_CONF_PATH),
    _mount(constants.INIT_CONF_VOLUME, constants.MYSQL_INIT_CONF_PATH),
    _mount(constants.MYCNF_SECRET_VOLUME, constants.MYCNF_SECRET_PATH, read_only=True),
    _mount(constants.DATA_VOLUME, constants.MYSQL_DATA_PATH),
)


#: mysqld's certificate (reconcile version 3): read by mysqld (my.cnf ``ssl_*``, a replica's
#: ``SOURCE_SSL_CA``) and watched by the agent, which has mysqld reload it when it changes
def _mysql_tls_mount() -> Obj:
    return _mount(constants.MYSQL_TLS_VOLUME, constants.MYSQL_TLS_PATH, read_only=True)


def agent_container(cluster: MySQLCluster, images: Images, *, moco_tls: bool = False) -> Obj:
    s = cluster.spec
    max_delay = s.max_delay_seconds if s.max_delay_seconds is not None else DEFAULT_MAX_DELAY_SECONDS
    args = [f"--max-delay={max_delay}s"]
    if s.log_rotation_schedule:
        args.append(f"--log-rotation-schedule={s.log_rotation_schedule}")
    if s.log_rotation_size:
        args.append(f"--log-rotation-size={s.log_rotation_size}")
    return {
        "name": constants.AGENT_CONTAINER,
        "image": images.agent,
        "command": ["moco-agent", "server"],
        "args": args,
        "env": [
            _field_env(constants.ENV_POD_NAME, "metadata.name"),
            _field_env(constants.ENV_POD_NAMESPACE, "metadata.namespace"),
            {"name": constants.ENV_CLUSTER_NAME, "value": cluster.name},
        ],
        "envFrom": [{"secretRef": {"name": cluster.user_secret_name()}}],
        "ports": [
            _port(constants.AGENT_PORT_NAME, constants.AGENT_PORT),
            _port(constants.AGENT_METRICS_PORT_NAME, constants.AGENT_METRICS_PORT),
        ],
        "volumeMounts": [
            _mount(constants.RUN_VOLUME, constants.RUN_PATH),
            _mount(constants.VAR_LOG_VOLUME, constants.LOG_DIR_PATH),
            _mount(constants.TMP_VOLUME, constants.TMP_PATH),
            _mount(constants.GRPC_SECRET_VOLUME, tls.DEFAULT_CERT_DIR, read_only=True),
            # the passwords, read at each connection: a rotation needs no restart (agent.credentials)
            _mount(constants.MYCNF_SECRET_VOLUME, constants.MYCNF_SECRET_PATH, read_only=True),
            *([_mysql_tls_mount()] if moco_tls else []),
        ],
    }


#: The built-in follower: from the file's first line (fluent-bit's ``Read_from_Head true``), by
#: name, so the file the agent's log rotation creates anew is followed too. A shell runs it as
#: PID 1 and exits on SIGTERM: ``tail`` as PID 1 has no handler, so the kernel would drop the
#: signal and every Pod deletion would wait for its whole grace period (300 s).
SLOW_LOG_FOLLOW_COMMAND: Final = (
    "sh",
    "-c",
    'trap "exit 0" TERM INT; tail -F -n +1 "$0" & wait',
    f"{constants.LOG_DIR_PATH}/{constants.MYSQL_SLOW_LOG_NAME}",
)


def slow_log_container(images: Images) -> Obj:
    c: Obj = {
        "name": constants.SLOW_LOG_CONTAINER,
        "image": images.fluent_bit or images.agent,
        "volumeMounts": [
            _mount(constants.SLOW_LOG_CONFIG_VOLUME, FLUENT_BIT_CONFIG_PATH, read_only=True),
            _mount(constants.VAR_LOG_VOLUME, constants.LOG_DIR_PATH),
        ],
    }
    if not images.fluent_bit:
        c["command"] = list(SLOW_LOG_FOLLOW_COMMAND)
    return c


def exporter_container(
    collectors: list[str], images: Images, security: SecurityDefaults = DEFAULT_SECURITY
) -> Obj:
    cnf = f"{constants.MYCNF_SECRET_PATH}/{constants.mycnf_key(constants.EXPORTER_USER)}"
    return _secure(
        {
            "name": constants.EXPORTER_CONTAINER,
            "image": images.exporter,
            "args": [f"--config.my-cnf={cnf}", *(f"--collect.{c}" for c in collectors)],
            "ports": [_port(constants.EXPORTER_PORT_NAME, constants.EXPORTER_PORT)],
            "volumeMounts": [
                _mount(constants.RUN_VOLUME, constants.RUN_PATH),
                _mount(constants.MYCNF_SECRET_VOLUME, constants.MYCNF_SECRET_PATH, read_only=True),
            ],
        },
        security,
    )


def init_containers(cluster: MySQLCluster, mysqld_image: str, images: Images) -> list[Obj]:
    """``copy-moco-init``, ``moco-init``, then the user's init containers."""
    server_id_base = cluster.spec.server_id_base or 0
    if server_id_base <= 0:
        raise InvalidSpec("spec.serverIDBase is not set yet (the cluster was not defaulted)")
    env = [
        _field_env(constants.ENV_POD_NAME, "metadata.name"),
        _field_env(constants.ENV_POD_NAMESPACE, "metadata.namespace"),
        {"name": constants.ENV_CLUSTER_NAME, "value": cluster.name},
    ]
    if cluster.spec.agent_use_localhost:
        env.append({"name": "MOCO_ADMIN_LOCALHOST", "value": "1"})
    copy_init: Obj = {
        "name": constants.COPY_INIT_CONTAINER,
        "image": images.agent,
        "command": ["moco-agent", "init-script", f"--output={INIT_SCRIPT_PATH}"],
        "volumeMounts": [_mount(constants.SHARED_VOLUME, constants.SHARED_PATH)],
    }
    run_init: Obj = {
        "name": constants.INIT_CONTAINER,
        "image": mysqld_image,
        "command": ["sh", INIT_SCRIPT_PATH, str(server_id_base)],
        "env": env,
        "volumeMounts": [
            _mount(constants.DATA_VOLUME, constants.MYSQL_DATA_PATH),
            _mount(constants.INIT_CONF_VOLUME, constants.MYSQL_INIT_CONF_PATH),
            _mount(constants.SHARED_VOLUME, constants.SHARED_PATH),
            # mysqld --initialize's temporary files (the root filesystem is read-only)
            _mount(constants.TMP_VOLUME, constants.TMP_PATH),
        ],
    }
    users = [copy.deepcopy(c) for c in cluster.spec.pod_template.spec.get("initContainers") or []]
    return [copy_init, run_init, *users]


def containers(
    cluster: MySQLCluster,
    images: Images,
    security: SecurityDefaults = DEFAULT_SECURITY,
    *,
    moco_tls: bool = False,
    startup_period: int = 10,
) -> tuple[list[Obj], list[Obj]]:
    """(containers, init containers) of the Pod template (``moco_tls``: mysqld's certificate
    mounted in ``mysqld`` and ``agent``; ``startup_period``: the startup probe's default period)."""
    s = cluster.spec
    mysqld = mysqld_container(cluster, security, moco_tls=moco_tls, startup_period=startup_period)
    out = [mysqld, agent_container(cluster, images, moco_tls=moco_tls)]
    if not s.disable_slow_query_log_container:
        out.append(slow_log_container(images))
    if s.collectors:
        out.append(exporter_container(list(s.collectors), images, security))
    ours = list(out)
    for c in s.pod_template.spec.get("containers") or []:
        name = c.get("name")
        if name in (constants.MYSQLD_CONTAINER, constants.AGENT_CONTAINER):
            continue
        if name == constants.SLOW_LOG_CONTAINER and not s.disable_slow_query_log_container:
            continue
        if name == constants.EXPORTER_CONTAINER and s.collectors:
            continue
        out.append(copy.deepcopy(c))
    inits = init_containers(cluster, str(mysqld["image"]), images)
    _overwrite(cluster, [*out, *inits])
    for c in [*ours, *inits[:2]]:  # again: overwriteContainers may have replaced a context
        _secure(c, security)
    return out, inits


def _overwrite(cluster: MySQLCluster, all_containers: list[Obj]) -> None:
    for ow in cluster.spec.pod_template.overwrite_containers or []:
        for c in all_containers:
            if c.get("name") == ow.name:
                if ow.resources is not None:
                    c["resources"] = copy.deepcopy(ow.resources)
                if ow.security_context is not None:
                    c["securityContext"] = copy.deepcopy(ow.security_context)
