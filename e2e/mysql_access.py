"""How the suite's process reaches the mysqld instances of a MySQLCluster.

Two routes, chosen by a probe, both giving plain :class:`moco.mysql.conn.Endpoint` values:

- **direct**: the host reaches Pod IPs (the local provider's pod range is on its bridge; the
  traffic stays inside the cluster's own namespaces; its Service ClusterIPs exist only inside
  the node). Writes go to the Pod labelled ``moco.cybozu.com/role=primary`` (a thread follows
  the label), and the read_only sampler of the checker asks every Pod IP.
- **port-forward** (clusters whose Pod network the host cannot reach, e.g. kind): one
  ``kubectl port-forward svc/<service>`` on a local port, restarted whenever it exits (a
  port-forward is bound to the Pod it picked; when that Pod's mysqld dies the tunnel ends and
  the next one reaches the Service's new Pod). No per-instance sampling on this route.

The Services themselves (``-primary``, ``-replica``, their DNS names) are exercised from inside
the cluster: :func:`sql_in_pod` runs the mysql client in a client Pod.

Credentials come from the user-facing Secret ``moco-<cluster>`` (``WRITABLE_PASSWORD``,
``READONLY_PASSWORD``), as a user of the cluster would get them. Passwords never leave the
Endpoint values (whose ``repr`` hides them).
"""

from __future__ import annotations

import base64
import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from e2e import images
from e2e.kubectl import Kubectl, KubectlError, kubectl_path
from moco.mysql.conn import Endpoint

MYSQL_PORT = 3306
ROLE = "moco.cybozu.com/role"
WRITABLE = ("moco-writable", "WRITABLE_PASSWORD")
READONLY = ("moco-readonly", "READONLY_PASSWORD")


def tcp_reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when a TCP connection to ``host:port`` opens within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def user_password(k: Kubectl, cluster: str, key: str) -> str:
    """A password of the user-facing Secret ``moco-<cluster>``."""
    data = k.get("secret", f"moco-{cluster}")["data"]
    return base64.b64decode(data[key]).decode()


@dataclass
class PortForward:
    """``kubectl port-forward <target> <local>:3306``, restarted while open whenever it exits."""

    k: Kubectl
    target: str
    port: int = field(default_factory=free_port)
    restarts: int = 0
    _proc: subprocess.Popen[bytes] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        argv = [kubectl_path(), f"--kubeconfig={self.k.kubeconfig}"]
        if self.k.namespace:
            argv.append(f"--namespace={self.k.namespace}")
        argv += ["port-forward", "--address=127.0.0.1", self.target, f"{self.port}:{MYSQL_PORT}"]
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _supervise(self) -> None:
        while not self._stop.is_set():
            proc = self._proc
            if proc is None or proc.poll() is not None:
                if proc is not None:
                    self.restarts += 1
                self._proc = self._spawn()
            self._stop.wait(0.2)

    def open(self, timeout: float = 30) -> None:
        self._proc = self._spawn()
        self._thread = threading.Thread(
            target=self._supervise, name=f"port-forward {self.target}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not tcp_reachable("127.0.0.1", self.port, timeout=1):
            if time.monotonic() > deadline:
                self.close()
                raise TimeoutError(f"port-forward to {self.target} not listening after {timeout}s")
            time.sleep(0.2)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def pod_ips(k: Kubectl, cluster: str) -> dict[str, str]:
    """Pod name -> Pod IP of the cluster's mysqld instances that have one (MOCO's labels: other Pods
    of the cluster, such as a my.cnf validation Job's, carry the same instance label)."""
    pods = k.get("pods", "-l", f"app.kubernetes.io/name=mysql,app.kubernetes.io/instance={cluster}")["items"]
    return {p["metadata"]["name"]: p["status"]["podIP"] for p in pods if p["status"].get("podIP")}


def primary_pod_ip(k: Kubectl, cluster: str) -> str | None:
    """The Pod IP of the instance labelled primary (None when no Pod carries the label)."""
    sel = f"app.kubernetes.io/name=mysql,app.kubernetes.io/instance={cluster},{ROLE}=primary"
    pods = k.get("pods", "-l", sel)["items"]
    ips = [p["status"].get("podIP") for p in pods]
    return ips[0] if len(ips) == 1 and ips[0] else None


@dataclass
class PrimaryTracker:
    """Keeps the primary's Pod IP (from the role label) fresh, polled by a thread every ``interval``."""

    k: Kubectl
    cluster: str
    interval: float = 0.5
    ip: str = ""
    changes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                ip = primary_pod_ip(self.k, self.cluster)
            except (KubectlError, subprocess.TimeoutExpired):
                continue
            if ip and ip != self.ip:
                self.ip = ip
                self.changes += 1

    def start(self) -> None:
        ip = primary_pod_ip(self.k, self.cluster)
        if not ip:
            raise AssertionError(f"no Pod of {self.cluster} is labelled {ROLE}=primary")
        self.ip = ip
        self._thread = threading.Thread(target=self._poll, name=f"primary of {self.cluster}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


@dataclass
class ClusterAccess:
    """Endpoints of one MySQLCluster's instances for the suite's process (see the module doc)."""

    k: Kubectl
    cluster: str
    direct: bool
    _tracker: PrimaryTracker | None = None
    _forward: PortForward | None = None
    _passwords: dict[str, str] = field(default_factory=dict)

    @classmethod
    def probe(cls, k: Kubectl, cluster: str) -> ClusterAccess:
        """Direct when some instance's Pod IP answers on 3306 from here, else port-forward."""
        ips = pod_ips(k, cluster).values()
        return cls(k, cluster, direct=any(tcp_reachable(ip, MYSQL_PORT) for ip in ips))

    @property
    def route(self) -> str:
        return "direct (Pod IPs)" if self.direct else "kubectl port-forward"

    def _password(self, key: str) -> str:
        if key not in self._passwords:
            self._passwords[key] = user_password(self.k, self.cluster, key)
        return self._passwords[key]

    def start(self) -> None:
        """Begin following the primary (direct: a label poller; else: a supervised port-forward)."""
        if self.direct:
            self._tracker = PrimaryTracker(self.k, self.cluster)
            self._tracker.start()
        else:
            self._forward = PortForward(self.k, f"svc/moco-{self.cluster}-primary")
            self._forward.open()

    def primary(self, user: tuple[str, str] = WRITABLE) -> Endpoint:
        """The current primary as ``user``; cheap (no I/O), callable before every write."""
        if self._tracker is not None:
            return Endpoint(self._tracker.ip, MYSQL_PORT, user[0], self._password(user[1]))
        if self._forward is not None:
            return Endpoint("127.0.0.1", self._forward.port, user[0], self._password(user[1]))
        raise RuntimeError("ClusterAccess.start() was not called")

    def instances(self, user: tuple[str, str] = READONLY) -> list[Endpoint]:
        """Every instance's Pod IP (direct route only; empty otherwise)."""
        if not self.direct:
            return []
        return [
            Endpoint(ip, MYSQL_PORT, user[0], self._password(user[1]))
            for _, ip in sorted(pod_ips(self.k, self.cluster).items())
        ]

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.stop()
        if self._forward is not None:
            self._forward.close()


@contextlib.contextmanager
def access(k: Kubectl, cluster: str) -> Iterator[ClusterAccess]:
    """A started :class:`ClusterAccess`, closed on exit."""
    acc = ClusterAccess.probe(k, cluster)
    acc.start()
    try:
        yield acc
    finally:
        acc.close()


# --- SQL from inside the cluster (through Services and cluster DNS) -------------------------------
def client_pod_manifest(name: str) -> dict[str, object]:
    """A Pod with the mysql client (the MySQL image, sleeping), to use Services as an in-cluster user."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "securityContext": RESTRICTED_POD,
            "containers": [
                {
                    "name": "client",
                    "image": images.mysql_image(),
                    "imagePullPolicy": images.pull_policy(),
                    "command": ["sleep", "86400"],
                    "securityContext": RESTRICTED_CONTAINER,
                }
            ],
        },
    }


#: security contexts that pass the ``restricted`` Pod Security level (scenario namespaces enforce it)
RESTRICTED_POD: Final[dict[str, object]] = {
    "runAsNonRoot": True,
    "runAsUser": 10000,
    "runAsGroup": 10000,
    "fsGroup": 10000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER: Final[dict[str, object]] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def sql_in_pod(k: Kubectl, pod: str, host: str, user: tuple[str, str], cluster: str, sql: str) -> str:
    """Run ``sql`` with the mysql client of ``pod`` against ``host`` as ``user``; tab-separated rows."""
    password = user_password(k, cluster, user[1])
    # --no-defaults: no my.cnf of the image interferes (MOCO's gives clients autocommit=0).
    return k.exec(
        pod,
        "env",
        f"MYSQL_PWD={password}",
        "mysql",
        "--no-defaults",
        "--connect-timeout=10",
        "-h",
        host,
        "-u",
        user[0],
        "-N",
        "-B",
        "-e",
        sql,
        timeout=60,
    ).strip()
