"""The plugin's reads and writes, through :class:`moco.kube.client.Client`, each with a timeout.

A :class:`Session` is bound to one namespace (the resolved ``-n``). Every apiserver failure is
turned into a :mod:`moco.plugin.errors` class whose message says which object, in which
namespace, and what to check; nothing here prints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from moco import constants
from moco.api import names
from moco.kube import errors as kerrors
from moco.kube.client import Client
from moco.kube.resource import EVENTS, PODS, SECRETS, Resource
from moco.kube.store import Obj
from moco.plugin.errors import ApiFailure, NotFound
from moco.plugin.target import Target

MYSQLCLUSTERS: Final = Resource(constants.GROUP, constants.VERSION, "mysqlclusters", "MySQLCluster")
#: Bound of each apiserver request (kubectl's --request-timeout is unbounded by default; a
#: command that hangs on a dead apiserver helps nobody).
REQUEST_TIMEOUT: Final = 15.0
#: Completion must answer while the user waits at the prompt.
COMPLETION_TIMEOUT: Final = 3.0


def _failure(what: str, e: kerrors.KubeError) -> ApiFailure:
    if isinstance(e, kerrors.Forbidden):
        return ApiFailure(f"{what}: forbidden by RBAC ({e.message}); ask for access to it")
    if isinstance(e, kerrors.Unauthorized):
        return ApiFailure(
            f"{what}: the apiserver does not accept the credentials; check --kubeconfig/--context"
        )
    if isinstance(e, kerrors.Timeout | kerrors.Unreachable):
        return ApiFailure(f"{what}: cannot reach the apiserver ({e.message}); check --kubeconfig/--context")
    return ApiFailure(f"{what}: {e.message}")


class Session:
    """Reads and patches in one namespace."""

    def __init__(self, client: Client, namespace: str):
        self.client = client
        self.namespace = namespace

    @classmethod
    @asynccontextmanager
    async def open(
        cls, target: Target, *, request_timeout: float = REQUEST_TIMEOUT
    ) -> AsyncIterator[Session]:
        try:
            client = await Client.from_kubeconfig(
                target.kubeconfig, context=target.context, timeout=request_timeout
            )
        except Exception as e:  # a malformed kubeconfig: kubernetes-asyncio's ConfigException, KeyError, ...
            raise ApiFailure(
                f"cannot use kubeconfig {target.kubeconfig} (context {target.context}): {e}"
            ) from e
        try:
            yield cls(client, target.namespace)
        finally:
            await client.close()

    def ref(self, name: str) -> str:
        return f"{self.namespace}/{name}"

    # --- MySQLClusters -----------------------------------------------------------------------
    async def cluster(self, name: str) -> Obj:
        try:
            return await self.client.get(MYSQLCLUSTERS, name, self.namespace)
        except kerrors.NotFound as e:
            if (
                "mysqlclusters" in e.message
                and "the server could not find the requested resource" in e.message
            ):
                raise NotFound(
                    "the apiserver does not serve mysqlclusters.moco.cybozu.com: is moco installed?"
                ) from e
            raise NotFound(
                f"MySQLCluster {self.ref(name)} not found; check the name and the namespace (-n), "
                "`kubectl get mysqlclusters -A` lists them"
            ) from e
        except kerrors.KubeError as e:
            raise _failure(f"reading MySQLCluster {self.ref(name)}", e) from e

    async def cluster_names(self) -> list[str]:
        try:
            page = await self.client.list(MYSQLCLUSTERS, self.namespace, request_timeout=COMPLETION_TIMEOUT)
        except kerrors.KubeError as e:
            raise _failure(f"listing MySQLClusters in {self.namespace}", e) from e
        return sorted(str((i.get("metadata") or {}).get("name", "")) for i in page.get("items") or [])

    async def patch_cluster(self, name: str, patch: dict[str, Any]) -> Obj:
        try:
            return await self.client.patch(MYSQLCLUSTERS, name, patch, self.namespace)
        except kerrors.NotFound as e:
            raise NotFound(f"MySQLCluster {self.ref(name)} was deleted meanwhile") from e
        except kerrors.KubeError as e:
            raise _failure(f"updating MySQLCluster {self.ref(name)}", e) from e

    # --- Pods --------------------------------------------------------------------------------
    async def pod(self, cluster: str, pod: str) -> Obj:
        try:
            return await self.client.get(PODS, pod, self.namespace)
        except kerrors.NotFound as e:
            raise NotFound(
                f"Pod {pod} of MySQLCluster {self.ref(cluster)} does not exist (yet); "
                f"see `kubectl moco status {cluster}`"
            ) from e
        except kerrors.KubeError as e:
            raise _failure(f"reading Pod {self.ref(pod)}", e) from e

    async def pods(self, cluster: str) -> list[Obj]:
        """The mysqld Pods of ``cluster`` (MOCO's two labels: a Job's Pod may share the instance one)."""
        selector = (
            f"{constants.LABEL_APP_NAME}={constants.APP_NAME_MYSQL},{constants.LABEL_APP_INSTANCE}={cluster}"
        )
        try:
            items, _ = await self.client.list_all(PODS, self.namespace, label_selector=selector)
        except kerrors.KubeError as e:
            raise _failure(f"listing the Pods of MySQLCluster {self.ref(cluster)}", e) from e
        return items

    async def patch_pod(self, cluster: str, pod: str, patch: dict[str, Any]) -> Obj:
        try:
            return await self.client.patch(PODS, pod, patch, self.namespace)
        except kerrors.NotFound as e:
            raise NotFound(
                f"Pod {pod} of MySQLCluster {self.ref(cluster)} disappeared; "
                f"see `kubectl moco status {cluster}` and retry"
            ) from e
        except kerrors.KubeError as e:
            raise _failure(f"annotating Pod {self.ref(pod)}", e) from e

    # --- Events and Secrets ------------------------------------------------------------------
    async def events(self, cluster: str, pod_names: list[str]) -> list[Obj]:
        """Events about the cluster, and the warnings about the Pods named ``pod_names``."""
        out: list[Obj] = []
        queries = [
            f"involvedObject.kind=MySQLCluster,involvedObject.name={cluster}",
            "involvedObject.kind=Pod,type=Warning",
        ]
        wanted = set(pod_names)
        for query in queries:
            try:
                items, _ = await self.client.list_all(EVENTS, self.namespace, field_selector=query)
            except kerrors.KubeError as e:
                raise _failure(f"listing the Events of MySQLCluster {self.ref(cluster)}", e) from e
            for ev in items:
                obj = ev.get("involvedObject") or {}
                if obj.get("kind") == "Pod" and obj.get("name") not in wanted:
                    continue
                out.append(ev)
        return out

    async def user_secret(self, cluster: str) -> Obj:
        name = names.user_secret_name(cluster)
        try:
            return await self.client.get(SECRETS, name, self.namespace)
        except kerrors.NotFound as e:
            raise NotFound(
                f"Secret {self.ref(name)} of MySQLCluster {self.ref(cluster)} does not exist yet; "
                "the controller creates it on its first reconcile: check the controller's log"
            ) from e
        except kerrors.KubeError as e:
            raise _failure(f"reading Secret {self.ref(name)}", e) from e
