"""``python -m e2e.demo_mysqld``: a plain mysqld StatefulSet from the MySQL image with a Service
(no operator), on the current cluster, and how to connect to it.

Idempotent: the root password Secret is made once and kept; re-running re-applies and waits.
"""

from __future__ import annotations

import json
import secrets
import sys

from e2e import images
from e2e.kubectl import Kubectl, KubectlError, default_kubeconfig, kubectl_path

NAMESPACE = "mysqld-demo"

SCRIPT = """set -eu
datadir=/var/lib/mysql/data
if [ ! -d "$datadir/mysql" ]; then
    mysqld --no-defaults --initialize-insecure --datadir="$datadir"
fi
cat > /tmp/init.sql <<SQL
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '$MYSQL_PWD';
ALTER USER 'root'@'%' IDENTIFIED BY '$MYSQL_PWD';
ALTER USER 'root'@'localhost' IDENTIFIED BY '$MYSQL_PWD';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
SQL
exec mysqld --no-defaults --datadir="$datadir" --socket=/tmp/mysqld.sock --pid-file=/tmp/mysqld.pid \
    --bind-address=0.0.0.0 --port=3306 --mysqlx=OFF --secure-file-priv= --init-file=/tmp/init.sql
"""


def manifests() -> list[dict[str, object]]:
    labels = {"app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "demo"}
    pwd = {"secretKeyRef": {"name": "mysql-root", "key": "password"}}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "mysql", "namespace": NAMESPACE},
            "spec": {
                "serviceName": "mysql",
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "securityContext": {"runAsUser": 10000, "runAsGroup": 10000, "fsGroup": 10000},
                        "containers": [
                            {
                                "name": "mysqld",
                                "image": images.mysql_image(),
                                "imagePullPolicy": images.pull_policy(),
                                "command": ["sh", "-c", SCRIPT],
                                "env": [{"name": "MYSQL_PWD", "valueFrom": pwd}],
                                "ports": [{"name": "mysql", "containerPort": 3306}],
                                "readinessProbe": {"tcpSocket": {"port": 3306}, "periodSeconds": 2},
                                "volumeMounts": [
                                    {"name": "data", "mountPath": "/var/lib/mysql"},
                                    {"name": "tmp", "mountPath": "/tmp"},
                                ],
                            }
                        ],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "mysql", "namespace": NAMESPACE},
            "spec": {"selector": labels, "ports": [{"name": "mysql", "port": 3306}]},
        },
    ]


def main() -> int:
    kube = Kubectl(default_kubeconfig())
    kube("create", "namespace", NAMESPACE, check=False)
    k = kube.ns(NAMESPACE)
    try:
        k.get("secret", "mysql-root")
    except KubectlError:
        k("create", "secret", "generic", "mysql-root", f"--from-literal=password={secrets.token_urlsafe(12)}")
    k.apply("\n---\n".join(json.dumps(d) for d in manifests()))
    print("[demo] waiting for mysql-0 to be Ready...", flush=True)
    k.wait_for(lambda: k("get", "pod", "mysql-0", "--ignore-not-found", "-o", "name").strip(), timeout=60)
    k.wait_ready("pod/mysql-0", timeout=240)
    svc_ip = k.get("service", "mysql")["spec"]["clusterIP"]
    kc = kube.kubeconfig
    kubectl = kubectl_path()
    print(
        f"""
mysqld 9 runs in {NAMESPACE}/mysql-0 (Service mysql, ClusterIP {svc_ip}, data on a PVC of the default class).

  export KUBECONFIG={kc}
  # a mysql shell inside the pod (the password is in its environment):
  {kubectl} -n {NAMESPACE} exec -it mysql-0 -- mysql -uroot -h127.0.0.1
  # the root password:
  {kubectl} -n {NAMESPACE} get secret mysql-root -o jsonpath='{{.data.password}}' | base64 -d

From this machine (local provider: the service range is routed to the node):
  MYSQL_PWD=... chroot "$(cat ${{MOCO_CACHE:-$HOME/.cache/moco}}/mysql-root.current)" mysql -h {svc_ip} -uroot
""".rstrip()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
