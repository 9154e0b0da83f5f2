"""``python -m e2e.local COMMAND``: the local cluster provider.

up [--nodes N]    bring the cluster up (idempotent); prints the kubeconfig path last
down              remove everything ``up`` added; prints the inventory before and after and
                  fails if anything is left
status            the inventory (processes, mounts, namespaces, links, routes, rules) as JSON
kubeconfig        print the admin kubeconfig path
images            build (or find cached) the cluster's own images; print their references
import TAR...     load docker-archive tars (``docker save``/``podman save`` output) into every node
image REF --layer DIR [--layer DIR ...] [--entrypoint ARG ...] [--cmd ARG ...] [--env K=V ...]
                  make an image from directories (bottom layer first) and load it into every node:
                  how an image is built here without a container engine
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from e2e.local import backup_image, cluster, exporter_image, images, moco_image, node, procs
from e2e.local import spec as spec_mod
from e2e.local.spec import ClusterSpec


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m e2e.local", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--nodes", type=int, default=None, help="how many nodes (default 1)")
    for name in ("down", "purge", "status", "kubeconfig", "images"):
        sub.add_parser(name)
    mi = sub.add_parser("moco-image")
    mi.add_argument(
        "--version",
        default=None,
        help="bake this version into the controller's build (tag <source tag>-v<version>); "
        "no backup or agent image is made",
    )
    imp = sub.add_parser("import")
    imp.add_argument("archives", nargs="+", type=Path)
    img = sub.add_parser("image")
    img.add_argument("ref")
    img.add_argument("--layer", action="append", type=Path, required=True)
    img.add_argument("--entrypoint", nargs="*", default=[])
    img.add_argument("--cmd", nargs="*", default=[])
    img.add_argument("--env", action="append", default=[])
    img.add_argument("--user", default="")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    running = spec_mod.current()
    if args.command == "up" and args.nodes and cluster.is_up(running) and running.nodes != args.nodes:
        print(f"error: a {running.nodes}-node cluster is up; `make cluster-down` first", file=sys.stderr)
        return 1
    spec = ClusterSpec(nodes=args.nodes) if args.command == "up" and args.nodes else running
    try:
        if args.command == "up":
            cluster.up(spec)
            print(spec.kubeconfig)
        elif args.command in ("down", "purge"):
            left = cluster.down(spec)
            if any(left.values()):
                print(f"left behind: {json.dumps(left)}", file=sys.stderr)
                return 1
            if args.command == "purge":
                shutil.rmtree(spec.data_root, ignore_errors=True)
                print(f"[cluster] removed {spec.data_root}")
        elif args.command == "status":
            print(json.dumps({"up": cluster.is_up(spec), **cluster.inventory(spec)}, indent=1))
        elif args.command == "kubeconfig":
            print(spec.kubeconfig)
        elif args.command == "images":
            for name, img in images.all_images().items():
                print(f"{name}\t{img.ref}\t{img.archive}")
        elif args.command == "moco-image":
            if not cluster.is_up(spec):
                raise procs.ClusterError("the local cluster is not up (`make cluster`)")
            img = moco_image.build(args.version)
            if args.version is not None:
                # a controller release for the upgrade scenario: the controller's image alone
                for n in spec.node_specs:
                    images.load(node.ctr_argv(n), {"moco": img}, n.name)
                print(img.ref)
                return 0
            # the backup/restore Jobs' image: the controller's default is moco-backup with this tag
            backup = backup_image.build(img.tag)
            # the exporter sidecar's image, the controller's default (clusters with `collectors`)
            exporter = exporter_image.exporter_image()
            # the agent image (every mysqld Pod's): never pruned, a cluster may still run an older one
            agent = moco_image.agent_image_def()
            agent_build = moco_image.agent_stamp(agent).read_text()
            ours = {"moco": img, "moco-backup": backup, "mysqld-exporter": exporter}
            for n in spec.node_specs:
                images.load(node.ctr_argv(n), {"moco": img, "mysqld-exporter": exporter}, n.name)
                images.load_stamped(node.ctr_argv(n), agent, agent_build, n.name)
                backup_image.load(node.ctr_argv(n), backup, n.name)
                for ref in images.prune(node.ctr_argv(n), ours):
                    print(f"[images] {n.name}: removed the older {ref}", flush=True)
            print(img.ref)
        elif args.command in ("import", "image"):
            if not cluster.is_up(spec):
                raise procs.ClusterError("the local cluster is not up (`make cluster`)")
            if args.command == "image":
                repo, name, tag = images.parse_ref(args.ref)
                env = (images.PATH_ENV, *args.env)
                img = images.ImageDef(
                    name,
                    tag,
                    tuple(args.layer),
                    tuple(args.entrypoint),
                    tuple(args.cmd),
                    env,
                    args.user,
                    repo=repo,
                )
                img.archive.unlink(missing_ok=True)  # the directories may have changed: rebuild
                archives = [images.build_archive(img)]
            else:
                archives = args.archives
            for n in spec.node_specs:
                for a in archives:
                    images.import_archive(node.ctr_argv(n), a)
                    print(f"[images] {a} -> {n.name}", flush=True)
    except procs.ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
