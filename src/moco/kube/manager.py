"""The manager: shared informers, controllers and runnables, leader election, probes and metrics.

Life of :meth:`Manager.run` (controller-runtime's manager):

1. serve ``/healthz`` and ``/readyz`` (aiohttp) on ``options.http_address`` (controller-runtime's
   health probe address), and ``/metrics`` as ``options.metrics`` says (see below);
2. start every informer and wait until all have synced (``/readyz`` fails until then);
3. start the runnables that do not need leadership;
4. with leader election configured, campaign for the Lease; once leader (or at once without
   election) start the controllers and the leader-only runnables;
5. run until SIGTERM/SIGINT or :meth:`Manager.stop`: then stop the controllers (draining their
   queues), release the lease, stop the informers and the HTTP server, and return 0.

Losing the lease, or a runnable ending with an error, ends the run with exit code 1: a process
that is no longer sure to be the only leader must not go on acting (the Deployment restarts it).

Metrics (controller-runtime's metrics server, :class:`MetricsServing`): ``/metrics`` is served on
its own address, or beside the probes when it has none (one server: tests and benchmarks); over
HTTPS when given an SSL context (``--metrics-secure``); and, with a guard
(:class:`moco.kube.metricsauth.MetricsGuard`), only to a bearer token the apiserver
authenticates and authorises for ``get`` on ``/metrics``. ``options.metrics = None`` serves no
metrics at all (``--metrics-bind-address=0``). The probes stay plain and open: the kubelet calls
them without credentials, and they tell only whether the process is alive and synced.

Informers are shared: :meth:`Manager.informer` returns one informer per (resource, namespace,
selectors). ``options.namespace`` scopes every informer to one namespace (a Role suffices) or,
when ``None``, watches the whole cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from moco.kube.client import Client
from moco.kube.controller import Controller
from moco.kube.exposition import exposition
from moco.kube.informer import Informer
from moco.kube.leaderelection import LeaderElectionConfig, LeaderElector
from moco.kube.metricsauth import MetricsGuard
from moco.kube.resource import Resource
from moco.kube.store import IndexFunc
from moco.log import get_logger
from moco.tasks import cancel_and_wait

log = get_logger("moco.kube.manager")

Runnable = Callable[[], Awaitable[None]]
EXIT_OK = 0
EXIT_FAILED = 1


Address = tuple[str, int]


@dataclass(frozen=True)
class MetricsServing:
    """How ``/metrics`` is served (controller-runtime's ``metricsserver.Options``)."""

    #: where; None: on the probe server (``ManagerOptions.http_address``), plain HTTP only
    address: Address | None = None
    #: HTTPS with this context (``SecureServing``); None: plain HTTP
    tls: ssl.SSLContext | None = None
    #: every request authenticated and authorised by the apiserver; None: anyone may read
    guard: MetricsGuard | None = None

    def __post_init__(self) -> None:
        if self.address is None and self.tls is not None:
            raise ValueError(
                "MetricsServing.tls needs MetricsServing.address: the probe server stays plain HTTP "
                "for the kubelet, so secure metrics need an address of their own"
            )


@dataclass(frozen=True)
class ManagerOptions:
    namespace: str | None = None
    leader_election: LeaderElectionConfig | None = None
    #: the probe server (``/healthz``, ``/readyz``); None: none
    http_address: Address | None = ("0.0.0.0", 8081)
    #: None: no ``/metrics`` at all
    metrics: MetricsServing | None = MetricsServing()
    sync_timeout: float = 120.0
    handle_signals: bool = True


@dataclass
class _Runnable:
    name: str
    fn: Runnable
    leader_only: bool
    task: asyncio.Task[None] | None = field(default=None)


class Manager:
    def __init__(self, client: Client, options: ManagerOptions | None = None):
        self.client = client
        self.options = options or ManagerOptions()
        self.elector = (
            LeaderElector(client, self.options.leader_election) if self.options.leader_election else None
        )
        self._informers: dict[tuple[Any, ...], Informer] = {}
        self._runnables: list[_Runnable] = []
        self._stop = asyncio.Event()
        self._synced = False
        self._started = False
        self._runners: list[web.AppRunner] = []
        #: the port the probe server listens on (also /metrics' when it has no address of its own)
        self.http_port: int | None = None
        #: the port /metrics is served on (None: not served)
        self.metrics_port: int | None = None
        self.exit_reason = ""

    # --- set-up ------------------------------------------------------------------------------
    def informer(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        **kwargs: Any,
    ) -> Informer:
        """The shared informer for ``resource`` (in ``namespace`` or the manager's scope)."""
        ns = namespace if namespace is not None else self.options.namespace
        key = (resource, ns, label_selector, field_selector)
        inf = self._informers.get(key)
        if inf is None:
            inf = Informer(
                self.client,
                resource,
                ns,
                label_selector=label_selector,
                field_selector=field_selector,
                **kwargs,
            )
            self._informers[key] = inf
            if self._started:
                inf.start()
        if indexers:
            missing = {k: v for k, v in indexers.items() if not inf.store.has_indexer(k)}
            if missing:
                inf.store.add_indexers(missing)
        return inf

    def add_controller(self, controller: Controller) -> None:
        self.add_runnable(controller.run, name=f"controller {controller.name}", leader_only=True)

    def add_runnable(self, fn: Runnable, *, name: str = "", leader_only: bool = True) -> None:
        """Run ``fn`` once caches are synced (and, if ``leader_only``, while leader)."""
        self._runnables.append(_Runnable(name or getattr(fn, "__name__", "runnable"), fn, leader_only))

    # --- state -------------------------------------------------------------------------------
    @property
    def synced(self) -> bool:
        return self._synced

    @property
    def is_leader(self) -> bool:
        return self.elector.is_leader if self.elector else self._started

    def stop(self) -> None:
        """Ask :meth:`run` to end cleanly (what SIGTERM does)."""
        self._stop.set()

    # --- HTTP --------------------------------------------------------------------------------
    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, _: web.Request) -> web.Response:
        if self._synced and not self._stop.is_set():
            return web.Response(text="ok")
        return web.Response(status=503, text="caches not synced")

    async def _metrics(self, request: web.Request) -> web.Response:
        guard = self.options.metrics.guard if self.options.metrics else None
        if guard is not None:
            verdict = await guard.check(request.method, request.path, request.headers.get("Authorization"))
            if not verdict.allowed:
                return web.Response(status=verdict.status, text=verdict.message + "\n")
        body = exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _serve(self, app: web.Application, address: Address, tls: ssl.SSLContext | None) -> int:
        """Start one server; the port it listens on (the one asked, or the one given for 0)."""
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        host, port = address
        await web.TCPSite(runner, host, port, ssl_context=tls).start()
        return int(runner.addresses[0][1]) if runner.addresses else port

    async def _start_http(self) -> None:
        metrics = self.options.metrics
        if self.options.http_address is not None:
            app = web.Application()
            app.router.add_get("/healthz", self._healthz)
            app.router.add_get("/readyz", self._readyz)
            beside = metrics is not None and metrics.address is None
            if beside:
                app.router.add_get("/metrics", self._metrics)
            self.http_port = await self._serve(app, self.options.http_address, None)
            if beside:
                self.metrics_port = self.http_port
            log.info(
                "serving probes" + (" and metrics" if beside else ""),
                host=self.options.http_address[0],
                port=self.http_port,
            )
        if metrics is not None and metrics.address is not None:
            app = web.Application()
            app.router.add_get("/metrics", self._metrics)
            self.metrics_port = await self._serve(app, metrics.address, metrics.tls)
            log.info(
                "serving metrics",
                host=metrics.address[0],
                port=self.metrics_port,
                https=metrics.tls is not None,
                authenticated=metrics.guard is not None,
            )

    # --- running -----------------------------------------------------------------------------
    def _start_runnables(self, leader_only: bool) -> None:
        for r in self._runnables:
            if r.leader_only == leader_only and r.task is None:
                r.task = asyncio.create_task(r.fn(), name=r.name)  # type: ignore[arg-type]

    def _install_signals(self) -> list[int]:
        if not self.options.handle_signals:
            return []
        loop = asyncio.get_running_loop()
        installed: list[int] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop)
                installed.append(sig)
        return installed

    async def _wait_first(self, *aws: asyncio.Future[Any] | asyncio.Task[Any]) -> None:
        await asyncio.wait(aws, return_when=asyncio.FIRST_COMPLETED)

    async def run(self) -> int:
        """Run until stopped; returns the process exit code (see the module docstring)."""
        signals = self._install_signals()
        stop_task = asyncio.create_task(self._stop.wait(), name="manager stop")
        elector_task: asyncio.Task[None] | None = None
        code = EXIT_OK
        try:
            await self._start_http()
            self._started = True
            for inf in self._informers.values():
                inf.start()
            sync = asyncio.create_task(self._wait_synced(), name="manager sync")
            await self._wait_first(sync, stop_task)
            if not sync.done():
                sync.cancel()
                return EXIT_OK
            if not sync.result():
                self.exit_reason = "caches did not sync"
                return EXIT_FAILED
            self._synced = True
            self._start_runnables(leader_only=False)
            if self.elector is not None:
                elector_task = asyncio.create_task(self.elector.run(), name="leader election")
                leading = asyncio.create_task(self.elector.leading.wait())
                await self._wait_first(leading, stop_task, elector_task)
                leading.cancel()
                if not self.elector.is_leader:
                    return EXIT_OK if self._stop.is_set() else EXIT_FAILED
            self._start_runnables(leader_only=True)
            watched: list[asyncio.Future[Any] | asyncio.Task[Any]] = [stop_task]
            watched += [r.task for r in self._runnables if r.task is not None]
            if elector_task is not None:
                watched.append(elector_task)
            while not self._stop.is_set():
                await self._wait_first(*watched)
                if elector_task is not None and elector_task.done():
                    self.exit_reason = "leadership lost"
                    code = EXIT_FAILED
                    break
                ended = [
                    r for r in self._runnables if r.task is not None and r.task.done() and r.task in watched
                ]
                for r in ended:
                    watched.remove(r.task)  # type: ignore[arg-type]
                    exc = r.task.exception() if not r.task.cancelled() else None  # type: ignore[union-attr]
                    if exc is not None:
                        self.exit_reason = f"{r.name} failed: {exc!r}"
                        log.error("runnable failed", runnable=r.name, error=repr(exc))
                        code = EXIT_FAILED
                if code != EXIT_OK:
                    break
            return code
        finally:
            await self._shutdown(elector_task, stop_task, signals)
            log.info("manager stopped", code=code, reason=self.exit_reason or "stop requested")

    async def _wait_synced(self) -> bool:
        results = await asyncio.gather(
            *(inf.wait_for_sync(self.options.sync_timeout) for inf in self._informers.values())
        )
        return all(results)

    async def _shutdown(
        self, elector_task: asyncio.Task[None] | None, stop_task: asyncio.Task[Any], signals: list[int]
    ) -> None:
        self._stop.set()
        tasks = [r.task for r in self._runnables if r.task is not None and not r.task.done()]
        await asyncio.gather(*(cancel_and_wait(t) for t in tasks), return_exceptions=True)
        if elector_task is not None and not elector_task.done():
            await asyncio.gather(cancel_and_wait(elector_task), return_exceptions=True)
        for inf in self._informers.values():
            await inf.stop()
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        stop_task.cancel()
        loop = asyncio.get_running_loop()
        for sig in signals:
            loop.remove_signal_handler(sig)


def run(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run ``main()`` on a uvloop event loop; returns its exit code."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())
