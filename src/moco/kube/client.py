"""The one place that talks to the apiserver.

:class:`Client` owns a kubernetes-asyncio ``ApiClient`` (built from a kubeconfig file or the
in-cluster service account) and sends raw REST requests through its aiohttp session, so that
every resource, including custom ones, is handled the same way as plain dicts.

Invariants:

- every request has a timeout (``timeout`` seconds by default, per call overridable); a watch
  has a connect timeout and an inactivity timeout instead (a silent stream is an error);
- every request, watches included, first takes a token from the client-side bucket
  (``qps``/``burst``, client-go's defaults for controllers: 20/30);
- every failure is raised as a :mod:`moco.kube.errors` class, never as an aiohttp exception;
- server-side apply uses ``application/apply-patch+yaml`` with a field manager and ``force``;
- :meth:`Client.update_with_retry` re-reads and re-applies a mutate function on ``Conflict``.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from moco import urgency
from moco.kube import errors
from moco.kube.ratelimit import TokenBucket
from moco.kube.resource import Resource
from moco.kube.store import Obj

DEFAULT_QPS = 20.0
DEFAULT_BURST = 30
DEFAULT_TIMEOUT = 30.0
CONFLICT_RETRIES = 5

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


class Client:
    """Dict-based client for any resource, rate-limited, with timeouts and mapped errors."""

    def __init__(
        self,
        api_client: Any,
        *,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        timeout: float = DEFAULT_TIMEOUT,
    ):
        self.api_client = api_client
        self.limiter = TokenBucket(qps, burst)
        self.timeout = timeout
        self.host = str(api_client.configuration.host).rstrip("/")

    # --- construction ------------------------------------------------------------------------
    @classmethod
    async def from_kubeconfig(
        cls, path: str | Path | None = None, *, context: str | None = None, **kwargs: Any
    ) -> Client:
        """A client from a kubeconfig file (``$KUBECONFIG`` or ``~/.kube/config`` by default)."""
        if path is None:
            path = os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config"))
        cfg = k8s_client.Configuration()
        await k8s_config.load_kube_config(
            config_file=str(path), context=context, client_configuration=cfg, persist_config=False
        )
        return cls(k8s_client.ApiClient(configuration=cfg), **kwargs)

    @classmethod
    def in_cluster(cls, **kwargs: Any) -> Client:
        """A client from the Pod's service account."""
        cfg = k8s_client.Configuration()
        k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        return cls(k8s_client.ApiClient(configuration=cfg), **kwargs)

    @classmethod
    async def auto(cls, kubeconfig: str | Path | None = None, **kwargs: Any) -> Client:
        """In-cluster when running in a Pod and no kubeconfig is named, else the kubeconfig."""
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return cls.in_cluster(**kwargs)
        return await cls.from_kubeconfig(kubeconfig, **kwargs)

    async def close(self) -> None:
        await self.api_client.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- raw requests ------------------------------------------------------------------------
    @property
    def _session(self) -> aiohttp.ClientSession:
        session: aiohttp.ClientSession = self.api_client.rest_client.pool_manager
        return session

    async def _headers(self, content_type: str | None) -> dict[str, str]:
        headers: dict[str, str] = {"Accept": "application/json", "User-Agent": "moco"}
        if content_type:
            headers["Content-Type"] = content_type
        await self.api_client.update_params_for_auth(headers, [], ["BearerToken"])
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int | bool | None] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        request_timeout: float | None = None,
    ) -> Obj:
        """One request; returns the decoded JSON body, raises :mod:`errors` on failure.

        Urgent work (:mod:`moco.urgency`, a failover's writes) never waits for the rate limit."""
        await self.limiter.acquire(urgent=urgency.is_urgent())
        params = _query(query)
        data = None
        if body is not None:
            data = body if isinstance(body, str | bytes) else json.dumps(body)
        headers = await self._headers(content_type if data is not None else None)
        limit = request_timeout if request_timeout is not None else self.timeout
        try:
            async with self._session.request(
                method,
                self.host + path,
                params=params,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=limit),
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except TimeoutError as e:
            raise errors.Timeout(f"{method} {path}: no answer within {limit}s") from e
        except aiohttp.ClientError as e:
            raise errors.Unreachable(f"{method} {path}: {e}") from e
        decoded = _decode(raw)
        if status >= 400:
            raise errors.from_status(status, decoded)
        return decoded

    # --- generic verbs -----------------------------------------------------------------------
    async def get(self, res: Resource, name: str, namespace: str | None = None, **kw: Any) -> Obj:
        return await self.request("GET", res.path(namespace, name), **kw)

    async def list(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
        request_timeout: float | None = None,
    ) -> Obj:
        """One page of a list (the raw ``*List`` object, with ``metadata.continue``)."""
        query = {
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "limit": limit,
            "continue": continue_,
            "resourceVersion": resource_version,
        }
        return await self.request("GET", res.path(namespace), query=query, request_timeout=request_timeout)

    async def list_all(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> tuple[builtins.list[Obj], str]:
        """Every object (following ``continue``) and the list's resourceVersion."""
        items: builtins.list[Obj] = []
        token: str | None = None
        while True:
            page = await self.list(
                res,
                namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=page_size,
                continue_=token,
            )
            kind = res.kind
            for item in page.get("items") or []:
                # list items carry no apiVersion/kind: put them back so objects look like a get's
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", kind)
                items.append(item)
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, str(meta.get("resourceVersion", ""))

    async def create(self, res: Resource, obj: Obj, namespace: str | None = None, **kw: Any) -> Obj:
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        return await self.request("POST", res.path(ns), body=obj, **kw)

    async def replace(self, res: Resource, obj: Obj, *, subresource: str | None = None, **kw: Any) -> Obj:
        """PUT (conflict-checked when ``metadata.resourceVersion`` is set)."""
        meta = obj["metadata"]
        return await self.request(
            "PUT", res.path(meta.get("namespace"), meta["name"], subresource), body=obj, **kw
        )

    async def update_status(self, res: Resource, obj: Obj, **kw: Any) -> Obj:
        """PUT the status subresource."""
        return await self.replace(res, obj, subresource="status", **kw)

    async def delete(
        self,
        res: Resource,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str | None = None,
        uid: str | None = None,
        resource_version: str | None = None,
        dry_run: bool = False,
        **kw: Any,
    ) -> Obj:
        """DELETE; ``uid`` / ``resource_version`` become preconditions.

        Every option travels in the DeleteOptions body: the apiserver reads no query option of
        a DELETE that has a body, so a ``dryRun`` query would delete for real. A ``query`` is
        refused for that reason.
        """
        if "query" in kw:
            raise TypeError(
                "delete() takes its options as arguments (dry_run=, propagation=, uid=, "
                "resource_version=), not as a query: the apiserver ignores the query of a DELETE"
            )
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation:
            body["propagationPolicy"] = propagation
        if dry_run:
            body["dryRun"] = ["All"]
        pre = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if pre:
            body["preconditions"] = pre
        return await self.request("DELETE", res.path(namespace, name), body=body, **kw)

    async def patch(
        self,
        res: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
        **kw: Any,
    ) -> Obj:
        query: dict[str, str | int | bool | None] = {"fieldManager": field_manager}
        if force is not None:
            query["force"] = force
        return await self.request(
            "PATCH",
            res.path(namespace, name, subresource),
            query=query,
            body=patch,
            content_type=PATCH_TYPES[patch_type],
            **kw,
        )

    async def apply(
        self,
        res: Resource,
        obj: Obj,
        *,
        field_manager: str,
        force: bool = True,
        subresource: str | None = None,
        **kw: Any,
    ) -> Obj:
        """Server-side apply of ``obj`` (which carries apiVersion, kind and metadata.name)."""
        meta = obj["metadata"]
        body = json.dumps(obj)  # JSON is YAML: the apply content type accepts it
        return await self.patch(
            res,
            meta["name"],
            body,
            meta.get("namespace"),
            patch_type="apply",
            subresource=subresource,
            field_manager=field_manager,
            force=force,
            **kw,
        )

    async def update_with_retry(
        self,
        res: Resource,
        name: str,
        namespace: str | None,
        mutate: Callable[[Obj], bool | Awaitable[bool | None] | None],
        *,
        subresource: str | None = None,
        retries: int = CONFLICT_RETRIES,
        cached: Obj | None = None,
    ) -> Obj:
        """Get, mutate in place, PUT; on Conflict get again and re-apply ``mutate``.

        ``mutate`` returning ``False`` means "nothing to change": the object is returned unsent.
        ``cached`` (the object from an informer cache) is tried first, on a copy: when ``mutate``
        finds nothing to change there, no request is sent at all; otherwise the change is made
        on a fresh GET as without it (a cache never decides what is written).
        """
        if cached is not None:
            changed = mutate(copy.deepcopy(cached))
            if asyncio.iscoroutine(changed):
                changed = await changed
            if changed is False:
                return cached
        for attempt in range(retries + 1):
            obj = await self.get(res, name, namespace)
            changed = mutate(obj)
            if asyncio.iscoroutine(changed):
                changed = await changed
            if changed is False:
                return obj
            try:
                return await self.replace(res, obj, subresource=subresource)
            except errors.Conflict:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")

    async def update_status_with_retry(
        self,
        res: Resource,
        name: str,
        namespace: str | None,
        mutate: Callable[[Obj], bool | Awaitable[bool | None] | None],
        *,
        retries: int = CONFLICT_RETRIES,
        cached: Obj | None = None,
    ) -> Obj:
        """:meth:`update_with_retry` on the status subresource."""
        return await self.update_with_retry(
            res, name, namespace, mutate, subresource="status", retries=retries, cached=cached
        )

    # --- watch -------------------------------------------------------------------------------
    @asynccontextmanager
    async def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        timeout_seconds: int = 300,
        allow_bookmarks: bool = True,
        label_selector: str | None = None,
        field_selector: str | None = None,
        inactivity_timeout: float = 60.0,
        connect_timeout: float = DEFAULT_TIMEOUT,
    ) -> AsyncIterator[AsyncIterator[Obj]]:
        """Open a watch; yields an iterator of watch events (``{"type": ..., "object": ...}``).

        The server closes the stream after ``timeout_seconds``; if no line arrives for
        ``inactivity_timeout`` seconds the iterator raises :class:`errors.Timeout`.
        """
        await self.limiter.acquire()
        query = {
            "watch": True,
            "resourceVersion": resource_version or None,
            "allowWatchBookmarks": allow_bookmarks,
            "timeoutSeconds": timeout_seconds,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
        }
        headers = await self._headers(None)
        path = res.path(namespace)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_connect=connect_timeout, sock_read=inactivity_timeout
        )
        try:
            resp = await self._session.request(
                "GET", self.host + path, params=_query(query), headers=headers, timeout=timeout
            )
        except TimeoutError as e:
            raise errors.Timeout(f"watch {path}: no answer within {connect_timeout}s") from e
        except aiohttp.ClientError as e:
            raise errors.Unreachable(f"watch {path}: {e}") from e
        try:
            if resp.status >= 400:
                raise errors.from_status(resp.status, _decode(await resp.read()))
            yield _events(resp, path, inactivity_timeout)
        finally:
            resp.close()


async def _events(resp: aiohttp.ClientResponse, path: str, inactivity: float) -> AsyncIterator[Obj]:
    try:
        while True:
            line = await resp.content.readline()
            if not line:
                return
            line = line.strip()
            if line:
                yield json.loads(line)
    except TimeoutError as e:
        raise errors.Timeout(f"watch {path}: silent for {inactivity}s") from e
    except aiohttp.ClientPayloadError as e:
        # a stream ended by the server mid-chunk is an ordinary end of the watch
        raise errors.Unreachable(f"watch {path}: {e}") from e
    except aiohttp.ClientError as e:
        raise errors.Unreachable(f"watch {path}: {e}") from e


def _query(query: Mapping[str, str | int | bool | None] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (query or {}).items():
        if v is None:
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


def _decode(raw: bytes) -> Obj:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"message": raw.decode("utf-8", "replace")[:500]}
    return value if isinstance(value, dict) else {"items": value}
