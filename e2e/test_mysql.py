"""mysqld from the MySQL image runs in a Pod and answers over the pod network: on its Pod IP,
through a ClusterIP Service (by IP and by DNS name), from another Pod; on the local provider
also from the host."""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Iterator

import pytest

from e2e import images
from e2e.kubectl import Kubectl

SERVER = "e2e-mysql"
CLIENT = "e2e-mysql-client"

SERVER_SCRIPT = """set -eu
datadir=/var/lib/mysql/data
if [ ! -d "$datadir/mysql" ]; then
    mysqld --no-defaults --initialize-insecure --datadir="$datadir"
fi
cat > /tmp/init.sql <<SQL
CREATE USER IF NOT EXISTS 'e2e'@'%' IDENTIFIED BY '$E2E_PASSWORD';
GRANT ALL ON *.* TO 'e2e'@'%';
SQL
exec mysqld --no-defaults --datadir="$datadir" --socket=/tmp/mysqld.sock --pid-file=/tmp/mysqld.pid \
    --bind-address=0.0.0.0 --port=3306 --mysqlx=OFF --secure-file-priv= --init-file=/tmp/init.sql
"""


def _secret_env() -> list[dict[str, object]]:
    ref = {"secretKeyRef": {"name": "e2e-mysql", "key": "password"}}
    return [{"name": "E2E_PASSWORD", "valueFrom": ref}, {"name": "MYSQL_PWD", "valueFrom": ref}]


def _manifests() -> str:
    image, policy = images.mysql_image(), images.pull_policy()
    security = {"runAsUser": 10000, "runAsGroup": 10000, "fsGroup": 10000}
    docs: list[dict[str, object]] = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "e2e-mysql"},
            "stringData": {"password": secrets.token_urlsafe(12)},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": SERVER, "labels": {"app": SERVER}},
            "spec": {
                "securityContext": security,
                "terminationGracePeriodSeconds": 5,
                "containers": [
                    {
                        "name": "mysqld",
                        "image": image,
                        "imagePullPolicy": policy,
                        "command": ["sh", "-c", SERVER_SCRIPT],
                        "env": _secret_env(),
                        "ports": [{"name": "mysql", "containerPort": 3306}],
                        "readinessProbe": {"tcpSocket": {"port": 3306}, "periodSeconds": 1},
                        "volumeMounts": [
                            {"name": "data", "mountPath": "/var/lib/mysql"},
                            {"name": "tmp", "mountPath": "/tmp"},
                        ],
                    }
                ],
                "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SERVER},
            "spec": {"selector": {"app": SERVER}, "ports": [{"name": "mysql", "port": 3306}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": CLIENT, "labels": {"app": CLIENT}},
            "spec": {
                # On a cluster of several nodes, the client runs on another node than the server.
                "affinity": {
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 100,
                                "podAffinityTerm": {
                                    "labelSelector": {"matchLabels": {"app": SERVER}},
                                    "topologyKey": "kubernetes.io/hostname",
                                },
                            }
                        ]
                    }
                },
                "securityContext": security,
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "client",
                        "image": image,
                        "imagePullPolicy": policy,
                        "command": ["sleep", "86400"],
                        "env": _secret_env(),
                    }
                ],
            },
        },
    ]
    return "\n---\n".join(json.dumps(d) for d in docs)


@pytest.fixture(scope="module")
def mysql(k: Kubectl) -> Iterator[dict[str, str]]:
    """The server pod Ready and its addresses: pod IP, service IP, service DNS name."""
    k.apply(_manifests())
    k.wait_ready(f"pod/{SERVER}", timeout=180)
    k.wait_ready(f"pod/{CLIENT}", timeout=120)
    pod_ip = k.get("pod", SERVER)["status"]["podIP"]
    svc_ip = k.get("service", SERVER)["spec"]["clusterIP"]
    ns = k.namespace
    yield {"pod_ip": pod_ip, "service_ip": svc_ip, "service_dns": f"{SERVER}.{ns}.svc.cluster.local"}
    k("delete", "pod", SERVER, CLIENT, "--wait=false")


def _query(k: Kubectl, host: str, sql: str) -> tuple[str, float]:
    t0 = time.monotonic()
    out = k.exec(CLIENT, "mysql", "-h", host, "-P", "3306", "-u", "e2e", "-N", "-B", "-e", sql, timeout=60)
    return out.strip(), time.monotonic() - t0


def _server_version(k: Kubectl) -> str:
    # "mysqld  Ver 9.7.4-2 for Linux on x86_64 ((Debian))" -> "9.7.4-2"
    out = k.exec(SERVER, "mysqld", "--version")
    return out.split(" Ver ")[1].split()[0]


@pytest.mark.parametrize("address", ["pod_ip", "service_ip", "service_dns"])
def test_mysqld_answers_from_another_pod(k: Kubectl, mysql: dict[str, str], address: str) -> None:
    version, took = _query(k, mysql[address], "SELECT @@version")
    assert version == _server_version(k)
    # No stall on the reverse lookup of the client's address.
    assert took < 5.0, took


def test_mysqld_sees_the_client_pod_address(k: Kubectl, mysql: dict[str, str]) -> None:
    """Pod-to-pod traffic is not masqueraded: mysqld sees the client's own Pod IP."""
    client_ip = k.get("pod", CLIENT)["status"]["podIP"]
    host, _ = _query(
        k, mysql["pod_ip"], "SELECT host FROM information_schema.processlist WHERE id = CONNECTION_ID()"
    )
    assert host.rsplit(":", 1)[0] == client_ip


@pytest.mark.local_provider
def test_mysqld_answers_from_the_host(k: Kubectl, mysql: dict[str, str]) -> None:
    """The local provider routes the pod range to its node: the server greeting reaches the host."""
    with socket.create_connection((mysql["pod_ip"], 3306), timeout=10) as s:
        s.settimeout(10)
        greeting = s.recv(1024)
    # Packet header (4 bytes), protocol version 10, then the NUL-terminated server version.
    assert greeting[4] == 10
    assert greeting[5:].split(b"\0", 1)[0].decode() == _server_version(k)
