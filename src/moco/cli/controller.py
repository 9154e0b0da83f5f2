"""``moco-controller``: the operator process.

Runs a :class:`moco.kube.manager.Manager` with the MySQLCluster reconciler, the partition
controller and the clustering registry (:func:`moco.controllers.setup.setup`), optionally behind
Lease-based leader election, until SIGTERM/SIGINT (exit 0) or a fatal error such as lost
leadership (exit 1). Flags have environment defaults so a Deployment can set either.

Scope: ``--watch-namespace NS`` (env ``MOCO_WATCH_NAMESPACE``) caches and reconciles one
namespace only (a Role suffices); without it the whole cluster is watched (a ClusterRole).
The controller's own namespace (env ``POD_NAMESPACE``, ``--system-namespace``) holds the
controller Secrets and the Lease.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from moco.log import get_logger, setup

if TYPE_CHECKING:
    from moco.controllers.containers import Images

DEFAULT_SYSTEM_NAMESPACE = "moco-system"
DEFAULT_LEASE = "moco"


def _env_bool(name: str, default: bool) -> bool:
    v = os.environ.get(name)
    if v is None:
        return default
    return v.strip().lower() in ("1", "true", "yes", "on")


_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")


def duration(text: str) -> float:
    """Seconds from a Go duration (``5s``, ``100ms``, ``1m30s``; MOCO's flags take these) or a
    plain number of seconds; never negative."""
    t = text.strip()
    try:
        seconds = float(t)
    except ValueError:
        parts = _DURATION_PART.findall(t)
        if not parts or "".join(n + u for n, u in parts) != t:
            raise argparse.ArgumentTypeError(
                f"bad duration {text!r}: write seconds (2.5) or a Go duration (5s, 100ms, 1m30s)"
            ) from None
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"bad duration {text!r}: it must not be negative")
    return seconds


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        return (host or "0.0.0.0", int(port))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad address {text!r} (want HOST:PORT or :PORT)") from None


#: ``--metrics-bind-address=0``: no metrics server (controller-runtime's convention)
METRICS_OFF = "0"
DEFAULT_HEALTH_PROBE_ADDRESS = ":8081"
#: MOCO's --metrics-addr and controller-runtime's default
DEFAULT_METRICS_ADDRESS = ":8080"


@dataclass(frozen=True)
class HttpServing:
    """Where the probes and /metrics are served, resolved from the flags by :func:`http_serving`."""

    probes: tuple[str, int]
    #: None: no /metrics
    metrics: tuple[str, int] | None
    #: /metrics on the probe server (``--http-bind-address``, moco's earlier single-server flag)
    beside_probes: bool = False
    secure: bool = False


def http_serving(args: argparse.Namespace) -> HttpServing:
    """The servers the flags ask for; raises :class:`argparse.ArgumentTypeError` naming the flags
    when they contradict each other. Each flag falls back to its environment variable, then to
    MOCO's default (probes ``:8081``, metrics ``:8080``)."""
    env = os.environ.get
    combined = args.http_bind_address or env("MOCO_HTTP_BIND_ADDRESS")
    if combined:
        if args.health_probe_bind_address or args.metrics_bind_address:
            raise argparse.ArgumentTypeError(
                "--http-bind-address serves probes and metrics on one address: give it alone, or use "
                "--health-probe-bind-address and --metrics-bind-address instead"
            )
        if args.metrics_secure:
            raise argparse.ArgumentTypeError(
                "--metrics-secure needs a metrics server of its own (the probes stay plain HTTP for the "
                "kubelet): use --health-probe-bind-address and --metrics-bind-address instead of "
                "--http-bind-address"
            )
        address = _address(combined)
        return HttpServing(probes=address, metrics=address, beside_probes=True)
    probes = _address(
        args.health_probe_bind_address
        or env("MOCO_HEALTH_PROBE_BIND_ADDRESS")
        or DEFAULT_HEALTH_PROBE_ADDRESS
    )
    metrics_text = (
        args.metrics_bind_address or env("MOCO_METRICS_BIND_ADDRESS") or DEFAULT_METRICS_ADDRESS
    ).strip()
    if metrics_text == METRICS_OFF:
        if args.metrics_secure:
            raise argparse.ArgumentTypeError(
                "--metrics-secure with --metrics-bind-address=0: there is no metrics server to secure"
            )
        return HttpServing(probes=probes, metrics=None)
    metrics = _address(metrics_text)
    if metrics == probes and metrics[1] != 0:
        raise argparse.ArgumentTypeError(
            f"--metrics-bind-address and --health-probe-bind-address are both {metrics_text}: give them "
            "different ports (or --http-bind-address alone for one plain server)"
        )
    return HttpServing(probes=probes, metrics=metrics, secure=args.metrics_secure)


#: a label or annotation key: an optional DNS-subdomain prefix and "/", then a name of at most
#: 63 characters that starts and ends with a letter or digit (Kubernetes' qualified name)
_KEY_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_KEY_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def metadata_keys(text: str) -> list[str]:
    """A comma-separated list of label or annotation keys (pflag's ``strings``: the flag may also
    be repeated); refuses a key Kubernetes would refuse, naming it."""
    keys = [k.strip() for k in text.split(",") if k.strip()]
    for key in keys:
        prefix, slash, name = key.rpartition("/")
        if not _KEY_NAME.fullmatch(name) or (
            slash and (not prefix or len(prefix) > 253 or not _KEY_PREFIX.fullmatch(prefix))
        ):
            raise argparse.ArgumentTypeError(
                f"{key!r} is not a label or annotation key (want [prefix/]name: name up to 63 letters, "
                "digits, '-', '_' or '.', starting and ending with a letter or digit; prefix a DNS subdomain)"
            )
    return keys


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="moco-controller", description="Kubernetes operator for MySQL clusters.")
    p.add_argument("--kubeconfig", default=env("KUBECONFIG"), help="kubeconfig (default: in-cluster)")
    p.add_argument(
        "--watch-namespace",
        default=env("MOCO_WATCH_NAMESPACE") or None,
        help="watch only this namespace (namespace-scoped mode); default: the whole cluster",
    )
    p.add_argument(
        "--system-namespace",
        default=env("POD_NAMESPACE", DEFAULT_SYSTEM_NAMESPACE),
        help="the controller's namespace (controller Secrets, Lease)",
    )
    p.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=_env_bool("MOCO_LEADER_ELECT", True),
        help="campaign for a Lease before acting",
    )
    p.add_argument("--leader-election-id", default=env("MOCO_LEADER_ELECTION_ID", DEFAULT_LEASE))
    p.add_argument("--leader-election-namespace", default=env("MOCO_LEADER_ELECTION_NAMESPACE"))
    p.add_argument(
        "--qps",
        "--apiserver-qps-throttle",
        type=float,
        default=float(env("MOCO_KUBE_QPS", "20")),
        help="requests per second to the API server, shared by every reconcile and clustering loop "
        "(MOCO's --apiserver-qps-throttle; a failover's requests never wait for it)",
    )
    p.add_argument("--burst", type=int, default=int(env("MOCO_KUBE_BURST", "30")))
    p.add_argument(
        "--check-interval",
        type=float,
        default=float(env("MOCO_CHECK_INTERVAL", "30")),
        help="seconds between clustering passes of a cluster without events",
    )
    p.add_argument(
        "--partition-update-interval",
        type=duration,
        default=duration(env("MOCO_PARTITION_UPDATE_INTERVAL", "0")),
        help="the least time between two partition updates of rolling updates, over all clusters "
        "(MOCO's flag: 5s, 100ms, or seconds; 0: no limit)",
    )
    p.add_argument(
        "--clustering",
        action=argparse.BooleanOptionalAction,
        default=_env_bool("MOCO_CLUSTERING", True),
        help="run the clustering loops (off: only the Kubernetes objects are reconciled)",
    )
    from moco.controllers.containers import AGENT_IMAGE, BACKUP_IMAGE

    p.add_argument(
        "--agent-image",
        default=env("MOCO_AGENT_IMAGE", AGENT_IMAGE),
        help=f"every mysqld Pod's agent image, versioned apart from the controller (default {AGENT_IMAGE})",
    )
    p.add_argument(
        "--backup-image",
        default=env("MOCO_BACKUP_IMAGE"),
        help=f"the backup and restore Jobs' image (default {BACKUP_IMAGE})",
    )
    p.add_argument("--fluent-bit-image", default=env("MOCO_FLUENT_BIT_IMAGE"))
    p.add_argument(
        "--mysqld-exporter-image",
        "--exporter-image",
        dest="exporter_image",
        default=env("MOCO_EXPORTER_IMAGE"),
        help="the mysqld-exporter sidecar's image (MOCO's flag); default: localhost/moco/mysqld-exporter",
    )
    p.add_argument(
        "--health-probe-bind-address",
        "--health-probe-addr",
        help="HOST:PORT serving /healthz and /readyz (env MOCO_HEALTH_PROBE_BIND_ADDRESS; "
        f"default {DEFAULT_HEALTH_PROBE_ADDRESS}; MOCO's --health-probe-addr)",
    )
    p.add_argument(
        "--metrics-bind-address",
        "--metrics-addr",
        help="HOST:PORT serving /metrics, 0 for none (env MOCO_METRICS_BIND_ADDRESS; default "
        f"{DEFAULT_METRICS_ADDRESS}; MOCO's --metrics-addr)",
    )
    p.add_argument(
        "--metrics-secure",
        action=argparse.BooleanOptionalAction,
        default=_env_bool("MOCO_METRICS_SECURE", False),
        help="serve /metrics over HTTPS (a certificate from moco's CA) to bearer tokens the apiserver "
        "authenticates (TokenReview) and authorises for get on /metrics (SubjectAccessReview); "
        "env MOCO_METRICS_SECURE",
    )
    p.add_argument(
        "--http-bind-address",
        help="HOST:PORT serving the probes and /metrics together, plain HTTP (moco's earlier flag; "
        "env MOCO_HTTP_BIND_ADDRESS); not with the three flags above",
    )
    p.add_argument("--max-concurrent-reconciles", type=int, default=int(env("MOCO_MAX_RECONCILES", "4")))
    p.add_argument("--mysqlconfigmap-history-limit", type=int, default=10)
    p.add_argument(
        "--pvc-sync-annotation-keys",
        type=metadata_keys,
        action="extend",
        default=[],
        metavar="KEYS",
        help="annotation keys whose values are copied from the MySQLClusters' volumeClaimTemplates to "
        "their existing PersistentVolumeClaims (MOCO's flag; comma-separated or repeated)",
    )
    p.add_argument(
        "--pvc-sync-label-keys",
        type=metadata_keys,
        action="extend",
        default=[],
        metavar="KEYS",
        help="label keys whose values are copied from the MySQLClusters' volumeClaimTemplates to "
        "their existing PersistentVolumeClaims (MOCO's flag; comma-separated or repeated)",
    )
    p.add_argument(
        "--validate-mycnf",
        action=argparse.BooleanOptionalAction,
        default=_env_bool("MOCO_VALIDATE_MYCNF", True),
        help="run a new my.cnf through mysqld --validate-config (a Job) before Pods get it",
    )
    p.add_argument(
        "--job-resources",
        action=argparse.BooleanOptionalAction,
        # MOCO's e2e switch TEST_NO_JOB_RESOURCE=1 is honoured too
        default=_env_bool("MOCO_JOB_RESOURCES", env("TEST_NO_JOB_RESOURCE") != "1"),
        help="cpu/memory of the backup and restore Pods from their jobConfig (off: none; small test nodes)",
    )
    p.add_argument(
        "--disable-default-security-context",
        action="store_true",
        default=_env_bool("MOCO_DISABLE_DEFAULT_SECURITY_CONTEXT", False),
        help="do not fill runAsUser/runAsGroup 10000 in moco's containers nor fsGroup in its Pods "
        "(MOCO's flag; for platforms such as OpenShift that assign UID/GID ranges); the restricted "
        "Pod Security fields are filled either way",
    )
    p.add_argument("--log-level", default=env("MOCO_LOG_LEVEL", "INFO"))
    return p


def release_version() -> str:
    """The version of the installed moco distribution (the wheel's metadata; a build may bake
    another one in without touching the sources), else the package's own."""
    from importlib import metadata

    try:
        return metadata.version("moco")
    except metadata.PackageNotFoundError:
        from moco import __version__

        return __version__


def images_from(args: argparse.Namespace) -> Images:
    """The images of the containers moco adds, from the flags (unset ones keep their defaults)."""
    from moco.controllers.containers import Images

    extra = {
        k: v
        for k, v in (
            ("fluent_bit", args.fluent_bit_image),
            ("exporter", args.exporter_image),
            ("backup", args.backup_image),
        )
        if v
    }
    return Images(agent=args.agent_image, **extra)


async def _run(args: argparse.Namespace) -> int:
    from moco.clustering.config import ProcessConfig
    from moco.controllers.podsecurity import SecurityDefaults
    from moco.controllers.reconciler import ReconcilerConfig
    from moco.controllers.setup import setup as wire
    from moco.kube.client import Client
    from moco.kube.leaderelection import LeaderElectionConfig
    from moco.kube.manager import Manager, ManagerOptions, MetricsServing

    log = get_logger("moco.cli.controller")
    serving: HttpServing = args.serving
    client = await Client.auto(args.kubeconfig, qps=args.qps, burst=args.burst)
    try:
        metrics: MetricsServing | None = None
        metrics_cert = None
        if serving.beside_probes:
            metrics = MetricsServing()
        elif serving.metrics is not None and serving.secure:
            from moco.controllers.certs import AgentCertificates
            from moco.controllers.metricscert import MetricsCertificate
            from moco.kube.metricsauth import MetricsGuard

            metrics_cert = MetricsCertificate(AgentCertificates(client, args.system_namespace))
            await metrics_cert.renew()  # no CA, no secure server: the process fails and is restarted
            metrics = MetricsServing(serving.metrics, tls=metrics_cert.context, guard=MetricsGuard(client))
        elif serving.metrics is not None:
            metrics = MetricsServing(serving.metrics)
        election = None
        if args.leader_elect:
            election = LeaderElectionConfig(
                namespace=args.leader_election_namespace or args.system_namespace,
                name=args.leader_election_id,
                identity=f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}",
            )
        manager = Manager(
            client,
            ManagerOptions(
                namespace=args.watch_namespace,
                leader_election=election,
                http_address=serving.probes,
                metrics=metrics,
            ),
        )
        if metrics_cert is not None:
            manager.add_runnable(metrics_cert.run, name="metrics certificate", leader_only=False)
        images = images_from(args)
        cfg = ReconcilerConfig(
            system_namespace=args.system_namespace,
            images=images,
            configmap_history_limit=args.mysqlconfigmap_history_limit,
            validate_config=args.validate_mycnf,
            job_resources=args.job_resources,
            security=SecurityDefaults(default_ids=not args.disable_default_security_context),
            pvc_sync_label_keys=tuple(args.pvc_sync_label_keys),
            pvc_sync_annotation_keys=tuple(args.pvc_sync_annotation_keys),
        )
        wire(
            manager,
            client,
            cfg,
            clustering=ProcessConfig(interval=args.check_interval),
            enable_clustering=args.clustering,
            workers=args.max_concurrent_reconciles,
            partition_update_interval=args.partition_update_interval,
        )
        log.info(
            "moco-controller starting",
            watch_namespace=args.watch_namespace or "*",
            system_namespace=args.system_namespace,
            leader_election=bool(election),
            agent_image=images.agent,
            version=release_version(),
        )
        code = await manager.run()
        if code:
            log.error("moco-controller stops", reason=manager.exit_reason)
        return code
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        args.serving = http_serving(args)
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    setup(args.log_level)
    from moco.kube.manager import run

    return run(lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
