"""The per-Pod settings file (``/etc/mysql-conf.d/my.cnf``) that my.cnf includes last.

The shared my.cnf is the same for every Pod of a cluster (it names the ConfigMap); what differs
per Pod is written at start by the init container: ``server_id`` (the cluster's
``serverIDBase`` plus the Pod's ordinal), ``admin_address`` (the Pod's name, which resolves to
its IP, or ``localhost``) and ``report_host`` (the Pod's FQDN in the headless Service, what
replicas and the operator see in ``SHOW REPLICAS``).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Largest server_id MySQL accepts.
MAX_SERVER_ID = 4294967295


class InstanceConfError(ValueError):
    """A per-Pod value is out of range or malformed."""


def ordinal_of(pod_name: str) -> int:
    """The ordinal of a StatefulSet Pod: the digits after its last ``-``."""
    head, sep, tail = pod_name.rpartition("-")
    if not sep or not head or not tail.isdigit():
        raise InstanceConfError(f"not a StatefulSet Pod name: {pod_name!r}")
    return int(tail)


def headless_service_name(cluster_name: str) -> str:
    """The headless Service of a cluster's Pods (MOCO's ``moco-<cluster>``)."""
    return f"moco-{cluster_name}"


def pod_fqdn(pod_name: str, cluster_name: str, namespace: str, domain: str = "cluster.local") -> str:
    """The Pod's DNS name in the headless Service."""
    return f"{pod_name}.{headless_service_name(cluster_name)}.{namespace}.svc.{domain}"


@dataclass(frozen=True)
class InstanceConf:
    """The values of one Pod's settings file."""

    server_id: int
    admin_address: str
    report_host: str

    def __post_init__(self) -> None:
        if not 1 <= self.server_id <= MAX_SERVER_ID:
            raise InstanceConfError(f"server_id out of range: {self.server_id}")
        for name in ("admin_address", "report_host"):
            value = getattr(self, name)
            if not value or any(c.isspace() for c in value):
                raise InstanceConfError(f"bad {name}: {value!r}")


def instance_conf_for(
    pod_name: str,
    cluster_name: str,
    namespace: str,
    server_id_base: int,
    *,
    admin_localhost: bool = False,
    domain: str = "cluster.local",
) -> InstanceConf:
    """The settings of Pod ``pod_name`` of a cluster."""
    return InstanceConf(
        server_id=server_id_base + ordinal_of(pod_name),
        admin_address="localhost" if admin_localhost else pod_name,
        report_host=pod_fqdn(pod_name, cluster_name, namespace, domain),
    )


def render_instance_conf(conf: InstanceConf) -> str:
    """The file's content."""
    return render_instance_template(str(conf.server_id), conf.admin_address, conf.report_host)


def render_instance_template(server_id: str, admin_address: str, report_host: str) -> str:
    """The file with the values given as text (the init script passes shell expansions)."""
    return (
        f"[mysqld]\nserver_id = {server_id}\nadmin_address = {admin_address}\nreport_host = {report_host}\n"
    )
