"""Informer benchmark: time to synced caches and peak RSS for 1000 custom objects + 3000 Pods.

``python -m moco.bench.informer`` (``make bench-informer``):

1. starts a fresh envtest (etcd + kube-apiserver) with a small benchmark CRD;
2. creates 1000 custom objects and 3000 Pods concurrently (Pods need no scheduler or kubelet:
   they are created and stay Pending);
3. starts a *separate* process that runs a :class:`moco.kube.manager.Manager` with cluster-wide
   informers on both resources and measures the time from manager start to synced caches and its
   own peak RSS (``ru_maxrss``), so that the creation above does not pollute the figure;
4. prints the figures; the last line is one JSON object, e.g. ``{"synced_s": 1.2, "rss_mb": 95}``.

Targets: synced within 10 s, RSS under 300 MB. ``--objects``/``--pods`` change the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from moco import log as moco_log
from moco.kube.client import Client
from moco.kube.manager import Manager, ManagerOptions, run
from moco.kube.resource import NAMESPACES, PODS, SERVICEACCOUNTS, Resource
from moco.testing import ground
from moco.testing.envtest import Envtest, crd_document

GADGETS = Resource("bench.moco.io", "v1", "gadgets", "Gadget")
NAMESPACE = "bench"
SYNC_TARGET_S = 10.0
RSS_TARGET_MB = 300.0

_ANY_OBJECT: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
GADGET_CRD = crd_document(GADGETS, spec=_ANY_OBJECT, status=_ANY_OBJECT)


def gadget(i: int) -> dict[str, Any]:
    return {
        "apiVersion": GADGETS.api_version,
        "kind": "Gadget",
        "metadata": {
            "name": f"gadget-{i}",
            "namespace": NAMESPACE,
            "labels": {"app": "bench", "shard": str(i % 10)},
        },
        "spec": {
            "replicas": 3,
            "image": "mysql:8.4",
            "config": {f"key{j}": f"value-{i}-{j}" for j in range(8)},
        },
    }


def pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"pod-{i}",
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": f"gadget-{i % 1000}"},
            "annotations": {"bench.moco.io/index": str(i)},
        },
        "spec": {
            "containers": [
                {
                    "name": "mysqld",
                    "image": "mysql:8.4",
                    "ports": [
                        {"name": "mysql", "containerPort": 3306},
                        {"name": "admin", "containerPort": 33062},
                    ],
                    "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                },
                {"name": "agent", "image": "moco-agent:latest", "args": ["--log-level", "info"]},
            ]
        },
    }


async def populate(env: Envtest, n_objects: int, n_pods: int, concurrency: int = 48) -> float:
    """Create the namespace, the custom objects and the Pods; returns the seconds it took."""
    async with await Client.from_kubeconfig(env.kubeconfig, qps=5000, burst=5000, timeout=60) as c:
        await c.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        sa = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": NAMESPACE},
        }
        await c.create(SERVICEACCOUNTS, sa)
        sem = asyncio.Semaphore(concurrency)

        async def create(res: Resource, obj: dict[str, Any]) -> None:
            async with sem:
                await c.create(res, obj)

        start = time.monotonic()
        jobs = [create(GADGETS, gadget(i)) for i in range(n_objects)]
        jobs += [create(PODS, pod(i)) for i in range(n_pods)]
        await asyncio.gather(*jobs)
        return time.monotonic() - start


# --- the measured side (a separate process) ----------------------------------------------------
async def measure(kubeconfig: str) -> dict[str, Any]:
    client = await Client.from_kubeconfig(kubeconfig, qps=50, burst=100)
    mgr = Manager(client, ManagerOptions(namespace=None, http_address=None, handle_signals=False))
    gadgets = mgr.informer(GADGETS)
    pods = mgr.informer(PODS)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.monotonic()
    task = asyncio.create_task(mgr.run())
    while not mgr.synced:
        if task.done():
            return {"error": f"manager ended: {task.result()} {mgr.exit_reason}"}
        await asyncio.sleep(0.005)
    synced = time.monotonic() - start
    mgr.stop()
    await task
    await client.close()
    out = {
        "synced_s": round(synced, 3),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mb": round(rss_before, 1),
        "gadgets": len(gadgets.store),
        "pods": len(pods.store),
    }
    return out


def _run_measurer(env: Envtest) -> dict[str, Any]:
    log = env.dir / "measure.log"
    out = env.dir / "measure.out"
    repo_src = Path(__file__).resolve().parents[2]
    envvars = {**os.environ, "PYTHONPATH": f"{repo_src}:{os.environ.get('PYTHONPATH', '')}"}
    argv = [sys.executable, "-m", "moco.bench.informer", "--measure", str(env.kubeconfig), "--out", str(out)]
    popen, rec = ground.spawn(argv, "bench-informer measurer", log=log, env=envvars)
    try:
        popen.wait(timeout=300)
    finally:
        ground.stop(rec, popen)
    if not out.exists():
        raise RuntimeError(f"the measuring process failed:\n{log.read_text(errors='replace')[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text().strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m moco.bench.informer", description=__doc__.split("\n")[0])
    p.add_argument("--objects", type=int, default=1000)
    p.add_argument("--pods", type=int, default=3000)
    p.add_argument("--measure", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        moco_log.setup("WARNING", "json")
        measured: dict[str, Any] = {}

        async def go() -> int:
            measured.update(await measure(args.measure))
            return 1 if "error" in measured else 0

        code = run(go)
        Path(args.out).write_text(json.dumps(measured))
        return code

    t0 = time.monotonic()
    env = Envtest(crd_dirs=(), extra_crds=[GADGET_CRD])
    env.start()
    try:
        print(f"envtest up in {time.monotonic() - t0:.1f}s at {env.url}", flush=True)
        created = asyncio.run(populate(env, args.objects, args.pods))
        total = args.objects + args.pods
        rate = total / created
        print(f"created {args.objects} custom objects + {args.pods} Pods in {created:.1f}s ({rate:.0f}/s)")
        result = _run_measurer(env)
    finally:
        env.stop()
    if "error" in result:
        print(result["error"])
        return 1
    ok_counts = result["gadgets"] == args.objects and result["pods"] == args.pods
    print(
        f"informer caches: {result['gadgets']} custom objects, {result['pods']} Pods (complete: {ok_counts})"
    )
    print(f"manager start -> synced caches: {result['synced_s']:.2f}s (target < {SYNC_TARGET_S:.0f}s)")
    print(
        f"peak RSS of the informer process: {result['rss_mb']:.0f} MB (target < {RSS_TARGET_MB:.0f} MB; "
        f"{result['rss_before_mb']:.0f} MB of it before the first list)"
    )
    summary = {
        "synced_s": result["synced_s"],
        "rss_mb": result["rss_mb"],
        "objects": args.objects,
        "pods": args.pods,
        "create_s": round(created, 2),
        "complete": ok_counts,
        "ok": ok_counts and result["synced_s"] < SYNC_TARGET_S and result["rss_mb"] < RSS_TARGET_MB,
    }
    print(json.dumps(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
