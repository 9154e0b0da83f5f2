"""A manager process for the leader-election tests (run as a separate process).

    python unit_tests/kube/leader_main.py KUBECONFIG NAMESPACE LEASE IDENTITY

It watches ConfigMaps in NAMESPACE, campaigns for the Lease, and while leader prints
``LEADING <identity>`` once; it exits with the manager's exit code.
"""

from __future__ import annotations

import asyncio
import sys

from moco import log
from moco.kube.client import Client
from moco.kube.leaderelection import LeaderElectionConfig
from moco.kube.manager import Manager, ManagerOptions, run
from moco.kube.resource import CONFIGMAPS


async def main(kubeconfig: str, namespace: str, lease: str, identity: str) -> int:
    client = await Client.from_kubeconfig(kubeconfig)
    cfg = LeaderElectionConfig(namespace=namespace, name=lease, identity=identity)
    mgr = Manager(
        client, ManagerOptions(namespace=namespace, leader_election=cfg, http_address=("127.0.0.1", 0))
    )
    mgr.informer(CONFIGMAPS)

    async def work() -> None:
        print(f"LEADING {identity}", flush=True)
        await asyncio.Event().wait()

    mgr.add_runnable(work, name="work", leader_only=True)
    try:
        code = await mgr.run()
    finally:
        await client.close()
    print(f"EXIT {identity} {code} {mgr.exit_reason}", flush=True)
    return code


if __name__ == "__main__":
    log.setup("INFO", "json")
    sys.exit(run(lambda: main(*sys.argv[1:5])))
