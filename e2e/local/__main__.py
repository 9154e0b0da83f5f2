"""``python -m e2e.local up|down|status|kubeconfig|images``: the local cluster provider.

``up`` prints the kubeconfig path as its last line; ``down`` prints what existed before and
after and fails if anything is left; ``status`` prints the inventory as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from e2e.local import cluster, images, node, procs
from e2e.local import spec as spec_mod
from e2e.local.spec import ClusterSpec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m e2e.local")
    p.add_argument("command", choices=["up", "down", "status", "kubeconfig", "images", "import"])
    p.add_argument("archives", nargs="*", help="for import: docker-archive tars to load into every node")
    p.add_argument("--nodes", type=int, default=None, help="for up: how many nodes (default 1)")
    args = p.parse_args(argv)
    running = spec_mod.current()
    if (
        args.command == "up"
        and args.nodes is not None
        and cluster.is_up(running)
        and running.nodes != args.nodes
    ):
        print(f"error: a {running.nodes}-node cluster is up; `make cluster-down` first", file=sys.stderr)
        return 1
    spec = ClusterSpec(nodes=args.nodes) if args.command == "up" and args.nodes else running
    try:
        if args.command == "up":
            cluster.up(spec)
            print(spec.kubeconfig)
        elif args.command == "down":
            left = cluster.down(spec)
            if any(left.values()):
                print(f"left behind: {json.dumps(left)}", file=sys.stderr)
                return 1
        elif args.command == "status":
            print(json.dumps({"up": cluster.is_up(spec), **cluster.inventory(spec)}, indent=1))
        elif args.command == "kubeconfig":
            print(spec.kubeconfig)
        elif args.command == "images":
            for name, img in images.all_images().items():
                print(f"{name}\t{img.ref}\t{img.archive}")
        elif args.command == "import":
            for n in spec.node_specs:
                for a in args.archives:
                    images.import_archive(node.ctr_argv(n), Path(a))
    except procs.ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
