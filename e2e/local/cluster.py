"""Bring a local cluster up and down; list what it holds on the machine.

``up`` is idempotent (a running cluster is left alone) and ordered so that the network guard
exists before the first container: host bridge and guard, node namespaces and guards, control
plane, then per node containerd (+ image import), kubelet, kube-proxy, then the add-ons.

``down`` removes every process, mount, namespace, interface, route and nft table ``up`` added,
working from the machine's state (recorded PIDs, containerd socket, cgroup root, mount table)
so that it also cleans up after a crashed ``up``. :func:`inventory` lists those things; ``down``
prints it before and after. Built artefacts and the containerd image stores (under
``<data_root>/images``) are kept, which is what makes a warm start fast.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from e2e.local import addons, control_plane, images, netguard, node, pki, procs
from e2e.local.spec import ClusterSpec, etcd_bin, k8s_bin

REQUIRED_HOST_TOOLS = (
    "containerd",
    "containerd-shim-runc-v2",
    "runc",
    "ctr",
    "nft",
    "iptables",
    "nsenter",
    "curl",
)


def _log(msg: str) -> None:
    print(f"[cluster] {msg}", flush=True)


def kubectl(spec: ClusterSpec, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
    r = subprocess.run(
        [
            str(k8s_bin("kubectl")),
            f"--kubeconfig={spec.kubeconfig}",
            f"--request-timeout={int(timeout)}s",
            *args,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout + 10,
        check=False,
    )
    if r.returncode != 0:
        raise procs.ClusterError(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def check_prerequisites() -> None:
    missing = [t for t in REQUIRED_HOST_TOOLS if shutil.which(t) is None]
    missing += [
        str(p)
        for p in (
            etcd_bin(),
            *(
                k8s_bin(b)
                for b in (
                    "kube-apiserver",
                    "kube-controller-manager",
                    "kube-scheduler",
                    "kubelet",
                    "kube-proxy",
                    "kubectl",
                )
            ),
        )
        if not p.exists()
    ]
    missing += [p for p in ("/usr/lib/cni/bridge", "/usr/lib/cni/host-local") if not Path(p).exists()]
    if missing:
        raise procs.ClusterError("missing: " + ", ".join(missing) + " (run `make node-bins`)")


def is_up(spec: ClusterSpec) -> bool:
    recs = procs.Registry(spec.state_file).load()
    return bool(recs) and all(r.alive() for r in recs.values())


def up(spec: ClusterSpec) -> None:
    t0 = time.monotonic()
    if is_up(spec):
        _log("already running; loading any image the nodes lack")
        imgs = images.all_images(with_mysql=spec.with_mysql_image)
        for n in spec.node_specs:
            images.load(node.ctr_argv(n), imgs, n.name)
            for ref in images.prune(node.ctr_argv(n), imgs):
                _log(f"{n.name}: removed the older {ref}")
        _log(f"KUBECONFIG={spec.kubeconfig}")
        return
    check_prerequisites()
    if procs.Registry(spec.state_file).load() or node.link_exists(spec.host_bridge):
        _log("removing what a previous run left")
        down(spec, quiet=True)

    _log("step 1/6: images (built once, then cached)")
    imgs = images.all_images(with_mysql=spec.with_mysql_image)

    _log("step 2/6: certificates and kubeconfigs")
    for d in (spec.data_root, spec.log_dir, spec.run_root):
        d.mkdir(parents=True, exist_ok=True)
    spec.nodes_file.write_text(f"{spec.nodes}\n")
    pki.make_all(spec)

    _log("step 3/6: host bridge, node namespaces and the network guard (before any container)")
    node.setup_host_network(spec)
    for n in spec.node_specs:
        node.setup_network(spec, n)
    _log(f"guard tables installed: host inet {spec.host_guard_table}, nodes inet {netguard.NODE_TABLE}")

    reg = procs.Registry(spec.state_file)
    _log("step 4/6: control plane")
    control_plane.start(spec, reg)

    _log("step 5/6: nodes (containerd, image import, kubelet, kube-proxy)")
    for n in spec.node_specs:
        node.start_containerd(spec, n, reg, imgs["pause"].ref)
    # Imports are mostly disk writes: the nodes' imports overlap well.
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(spec.node_specs)) as pool:
        for f in [pool.submit(images.load, node.ctr_argv(n), imgs, n.name) for n in spec.node_specs]:
            f.result()
    for n in spec.node_specs:
        node.start_kubelet(spec, n, reg)
        node.start_kube_proxy(spec, n, reg)

    _log("step 6/6: add-ons (CoreDNS, local-path provisioner + StorageClass standard)")
    docs = addons.coredns(spec, imgs["coredns"]) + addons.local_path(
        spec, imgs["local-path-provisioner"], imgs["busybox"]
    )
    kubectl(spec, "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=addons.render(docs))
    kubectl(spec, "wait", "--for=condition=Ready", "node", "--all", "--timeout=90s", timeout=100)
    for ns, dep in (("kube-system", "coredns"), ("local-path-storage", "local-path-provisioner")):
        kubectl(spec, "-n", ns, "rollout", "status", f"deployment/{dep}", "--timeout=120s", timeout=130)
    _log(f"cluster up in {time.monotonic() - t0:.1f}s; {len(spec.node_specs)} node(s) Ready")
    _log(f"KUBECONFIG={spec.kubeconfig}")


def _mounts_under(roots: tuple[Path, ...]) -> list[str]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4].replace("\\040", " ")
        if any(mp == str(r) or mp.startswith(str(r) + "/") for r in roots):
            out.append(mp)
    return out


def inventory(spec: ClusterSpec) -> dict[str, Any]:
    """Everything of this cluster that exists on the machine right now."""
    nodes = spec.node_specs
    recs = procs.Registry(spec.state_file).load()
    links = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    our_links = [ln.split(":")[1].strip().split("@")[0] for ln in links.splitlines()]
    our_links = [ln for ln in our_links if ln == spec.host_bridge or ln in {n.veth_host for n in nodes}]
    routes = subprocess.run(
        ["ip", "route", "show"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    return {
        "processes": sorted(f"{k}:{r.pid}" for k, r in recs.items() if r.alive()),
        "shims": sorted(p for n in nodes for p in node.shim_pids(n)),
        "container_pids": sorted(p for n in nodes for p in node.cgroup_pids(n)),
        "mounts": _mounts_under((spec.data_root, spec.run_root)),
        "netns": sorted([n.netns for n in nodes if node.netns_exists(n.netns)] + node.pod_netns_mounts(spec)),
        "links": sorted(our_links),
        "routes": [r for r in routes.splitlines() if spec.host_bridge in r],
        "nft_tables": [spec.host_guard_table] if netguard.host_table_present(spec) else [],
        "cgroups": sorted(str(d) for n in nodes for d in node._cgroup_dirs(n) if d.exists()),
    }


def down(spec: ClusterSpec, *, quiet: bool = False) -> dict[str, Any]:
    """Stop and remove everything; returns the inventory after (all lists empty on success)."""
    t0 = time.monotonic()
    before = inventory(spec)
    if not quiet:
        _log("before: " + json.dumps(before))
    reg = procs.Registry(spec.state_file)
    recs = reg.load()
    # No new pods from here on; then let kubelet stop the pods it runs (CNI DEL, netns removal).
    for name in ("kube-scheduler", "kube-controller-manager"):
        reg.stop(name)
    if "kube-apiserver" in recs and recs["kube-apiserver"].alive() and spec.kubeconfig.exists():
        try:
            kubectl(
                spec,
                "delete",
                "pods",
                "--all",
                "--all-namespaces",
                "--grace-period=0",
                "--force",
                "--wait=false",
                timeout=30,
            )
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline and any(node.running_tasks(n) for n in spec.node_specs):
                time.sleep(0.5)
        except (procs.ClusterError, subprocess.SubprocessError, OSError) as e:
            _log(f"pod deletion skipped: {e}")
    for n in spec.node_specs:
        reg.stop(f"{n.name}/kube-proxy")
        reg.stop(f"{n.name}/kubelet")
        node.kill_containers(n)
        reg.stop(f"{n.name}/containerd")
        node.kill_pids(node.shim_pids(n) | node.cgroup_pids(n))
    control_plane.stop(reg)
    for name in list(reg.load()):
        reg.stop(name)
    time.sleep(0.2)
    for mp in sorted(_mounts_under((spec.data_root, spec.run_root)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True, timeout=30, check=False)
    for n in spec.node_specs:
        node.teardown_network(spec, n)
        node.remove_cgroup_root(n)
    node.teardown_host_network(spec)
    keep = spec.data_root / "images"
    if spec.data_root.exists():
        for child in spec.data_root.iterdir():
            if child != keep:
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
    shutil.rmtree(spec.run_root, ignore_errors=True)
    # containerd 1.6 keeps shim sockets under /run/containerd/s whatever its state dir; the shims
    # remove theirs on exit. Drop the directories it created, only if empty.
    for d in ("/run/containerd/s", "/run/containerd/runc/k8s.io", "/run/containerd/runc", "/run/containerd"):
        with contextlib.suppress(OSError):
            Path(d).rmdir()
    after = inventory(spec)
    if not quiet:
        _log("after:  " + json.dumps(after))
        _log(f"down in {time.monotonic() - t0:.1f}s")
    return after
