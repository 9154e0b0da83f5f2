"""``python -m e2e.demo``: a sample 3-instance MySQLCluster managed by moco on the current
cluster (moco deployed by ``make deploy``), waited for until Healthy, and how to connect.

Idempotent: re-running re-applies the sample and waits again. The slow-query-log sidecar is
turned off to keep the demo light (``spec.disableSlowQueryLogContainer``; its default image is
moco's own and works here).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from e2e import images
from e2e.kubectl import Kubectl, default_kubeconfig, kubectl_path
from e2e.local.images import mysql_root

NAMESPACE = "moco-demo"
NAME = "demo"


def sample() -> dict[str, Any]:
    return {
        "apiVersion": "moco.cybozu.com/v1beta2",
        "kind": "MySQLCluster",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "replicas": 3,
            "disableSlowQueryLogContainer": True,
            "podTemplate": {"spec": {"containers": [{"name": "mysqld", "image": images.mysql_image()}]}},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "mysql-data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }


def conditions(k: Kubectl) -> dict[str, str]:
    status = k.get("mysqlcluster", NAME).get("status") or {}
    return {c["type"]: c["status"] for c in status.get("conditions") or []}


def main() -> int:
    kube = Kubectl(default_kubeconfig())
    kube("create", "namespace", NAMESPACE, check=False)
    k = kube.ns(NAMESPACE)
    k.apply(json.dumps(sample()))
    print(f"[demo] MySQLCluster {NAMESPACE}/{NAME} (3 instances): waiting until Healthy...", flush=True)
    t0 = time.monotonic()
    try:
        k.wait_for(lambda: conditions(k).get("Healthy") == "True", timeout=420, interval=3)
    except TimeoutError:
        print(f"[demo] not Healthy after 7 minutes: {conditions(k)}", file=sys.stderr)
        print(k("get", "pods", "-o", "wide", check=False), file=sys.stderr)
        return 1
    primary = k.get("service", f"moco-{NAME}-primary")["spec"]["clusterIP"]
    replica = k.get("service", f"moco-{NAME}-replica")["spec"]["clusterIP"]
    kc, kubectl = kube.kubeconfig, kubectl_path()
    secret = f"{kubectl} -n {NAMESPACE} get secret moco-{NAME}"
    pw = f"{secret} -o jsonpath='{{.data.WRITABLE_PASSWORD}}' | base64 -d"
    print(
        f"""
[demo] Healthy in {time.monotonic() - t0:.0f}s: {NAMESPACE}/{NAME}
  primary Service moco-{NAME}-primary ({primary}), replicas moco-{NAME}-replica ({replica})
  users moco-writable / moco-readonly, passwords in Secret moco-{NAME}

  export KUBECONFIG={kc}
  {kubectl} -n {NAMESPACE} get mysqlcluster,pods -L moco.cybozu.com/role
  # a mysql shell on the primary, from inside the cluster (MOCO's my.cnf gives this client
  # autocommit=0: COMMIT your writes):
  {kubectl} -n {NAMESPACE} exec -it moco-{NAME}-0 -c mysqld -- \\
      mysql -h moco-{NAME}-primary -u moco-writable -p"$({pw})"
  # from this machine (local provider: Pod IPs are reachable from the host, Service IPs are not;
  # the primary's Pod IP moves with the primary):
  MYSQL_PWD="$({pw})" chroot {mysql_root()} mysql -u moco-writable -h "$({kubectl} -n {NAMESPACE} \\
      get pod -l moco.cybozu.com/role=primary,app.kubernetes.io/instance={NAME} \\
      -o jsonpath='{{.items[0].status.podIP}}')"
""".rstrip()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
