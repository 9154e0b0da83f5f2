"""The agent process: initialise mysqld, then serve probes, the agent API and metrics.

Three HTTP listeners (aiohttp):

* probes on 9081: ``GET /healthz`` (200 when mysqld answers, else 503) and ``GET /readyz``
  (200 or 503 with the reason, :func:`moco.agent.readiness.decide_readiness`);
* the agent API on 9080 (messages: :mod:`moco.agentapi.model`): ``POST /clone`` answers 202
  and runs the clone in the background (:mod:`moco.agent.clone`), ``GET /clone`` reports its
  progress. Over mutual TLS when the agent is given its certificate files
  (:class:`moco.agentapi.tls.ReloadingServerContext`; ``moco-agent`` always is): a client
  without a certificate of the controller's CA never completes the handshake, and one whose
  certificate is not the controller's (:func:`moco.agentapi.tls.peer_refusal`) is answered 403.
  Every request also needs ``Authorization: Bearer <MOCO_AGENT_TOKEN>`` (compared in constant
  time); with no token configured every request is refused;
* metrics on 8080: ``GET /metrics``.

Log rotation, the agent certificate's reload and mysqld's (:mod:`moco.agent.mysqltls`: ``ALTER
INSTANCE RELOAD TLS`` when the mounted certificate changes) run beside them. :meth:`Agent.run`
returns when its stop event is set (SIGTERM in the CLI), after closing the listeners and the connection.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel, ValidationError

from moco import constants
from moco.agent import isolation
from moco.agent.clone import Cloner
from moco.agent.config import AgentConfig
from moco.agent.credentials import exporter_reload_loop
from moco.agent.cron import parse as parse_cron
from moco.agent.errors import AgentError, CloneError, InitError
from moco.agent.initialize import InitResult, initialize
from moco.agent.metrics import AgentMetrics
from moco.agent.mysqltls import TLSReloader
from moco.agent.probes import LocalDB, alive, gather_facts
from moco.agent.readiness import decide_readiness
from moco.agent.rotate import rotation_loop
from moco.agentapi import CLONE_PATH, CloneRequest, ErrorBody
from moco.agentapi.tls import ReloadingServerContext, peer_refusal
from moco.log import get_logger
from moco.mysql.errors import MySQLError, Timeout, Unreachable
from moco.tasks import cancel_and_wait

log = get_logger("moco.agent.server")


class Agent:
    """One agent for the mysqld of its Pod."""

    def __init__(self, config: AgentConfig, *, tls: ReloadingServerContext | None = None) -> None:
        self.config = config.validate()
        #: the agent API's mutual TLS (None: plain HTTP, for tests of the agent alone)
        self.tls = tls
        self.metrics = AgentMetrics(config.cluster_name, config.index)
        # endpoints resolved at each connection: a password rotation moves them (credentials)
        self.db = LocalDB(functools.partial(config.endpoint, constants.AGENT_USER))
        self.cloner = Cloner(
            functools.partial(config.endpoint, constants.AGENT_USER),
            functools.partial(config.endpoint, constants.ADMIN_USER),
            config.bootstrap_endpoints(),
            config.passwords,
            self.metrics,
        )
        self.stop_event = asyncio.Event()
        self._runners: list[web.AppRunner] = []
        self.bound_ports: dict[str, int] = {}

    # --- initialisation ----------------------------------------------------------------------
    async def initialize(self) -> InitResult:
        """Initialise the instance, waiting for mysqld to accept connections (bounded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.init_timeout_s
        while True:
            try:
                return await initialize(
                    self.config.endpoint(constants.ADMIN_USER),
                    self.config.bootstrap_endpoints(),
                    self.config.passwords,
                )
            except (Unreachable, Timeout) as e:
                if loop.time() >= deadline:
                    raise InitError(f"mysqld did not become reachable: {e}") from e
                log.info("waiting for mysqld", error=str(e))
                await asyncio.sleep(1.0)

    # --- probes ------------------------------------------------------------------------------
    async def _healthz(self, _: web.Request) -> web.Response:
        try:
            conn = await self.db.get()
        except MySQLError as e:
            return web.Response(status=503, text=f"cannot connect: {e}\n")
        if await alive(conn):
            return web.Response(text="ok\n")
        await self.db.reset()
        return web.Response(status=503, text="mysqld does not answer\n")

    async def _readyz(self, _: web.Request) -> web.Response:
        try:
            facts = await gather_facts(await self.db.get())
        except MySQLError as e:
            await self.db.reset()
            return web.Response(status=503, text=f"cannot read status: {e}\n")
        self.metrics.observe_readiness(replica=facts.replica is not None, lag_s=facts.lag_s)
        verdict = decide_readiness(facts, self.config.policy)
        return web.Response(status=200 if verdict.ready else 503, text=verdict.reason + "\n")

    # --- agent API ---------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        token = self.config.token
        header = request.headers.get("Authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        return bool(token) and hmac.compare_digest(given.encode(), token.encode())

    @web.middleware
    async def _only_controller(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """With TLS, only the controller's certificate may call the API (403 otherwise)."""
        if self.tls is not None:
            transport = request.transport
            refusal = peer_refusal(None if transport is None else transport.get_extra_info("peercert"))
            if refusal is not None:
                log.warning("agent API call refused", peer=request.remote, reason=refusal)
                return self._error(f"forbidden: {refusal}", 403)
        return await handler(request)

    @staticmethod
    def _answer(message: BaseModel, status: int = 200) -> web.Response:
        return web.json_response(text=message.model_dump_json(), status=status)

    @classmethod
    def _error(cls, message: str, status: int) -> web.Response:
        return cls._answer(ErrorBody(error=message), status)

    async def _clone_post(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            log.warning("clone request refused: bad token", peer=request.remote)
            return self._error("unauthorized", 401)
        try:
            req = CloneRequest.model_validate_json(await request.read())
        except ValidationError as e:
            reasons = "; ".join(f"{'.'.join(map(str, x['loc'])) or 'body'}: {x['msg']}" for x in e.errors())
            return self._error(f"invalid clone request: {reasons}", 400)
        try:
            progress = await self.cloner.start(req)
        except CloneError as e:
            return self._error(str(e), 409)
        except MySQLError as e:
            return self._error(f"cannot reach mysqld: {e}", 503)
        log.info("clone started", donor=progress.donor, clone_id=progress.clone_id)
        return self._answer(progress, 202)

    async def _clone_get(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error("unauthorized", 401)
        return self._answer(self.cloner.progress)

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), content_type="text/plain")

    # --- lifecycle ---------------------------------------------------------------------------
    def apps(self) -> dict[str, web.Application]:
        probe = web.Application()
        probe.add_routes([web.get("/healthz", self._healthz), web.get("/readyz", self._readyz)])
        api = web.Application(middlewares=[self._only_controller])
        api.add_routes([web.post(CLONE_PATH, self._clone_post), web.get(CLONE_PATH, self._clone_get)])
        metrics = web.Application()
        metrics.add_routes([web.get("/metrics", self._metrics)])
        return {"probe": probe, "agent": api, "metrics": metrics}

    async def start_listeners(self) -> None:
        """Start the three listeners (port 0 picks a free port; see :attr:`bound_ports`)."""
        ports = {
            "probe": self.config.probe_port,
            "agent": self.config.agent_port,
            "metrics": self.config.metrics_port,
        }
        for name, app in self.apps().items():
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
            await runner.setup()
            tls = self.tls.context if name == "agent" and self.tls is not None else None
            site = web.TCPSite(runner, self.config.listen_host, ports[name], ssl_context=tls)
            await site.start()
            self._runners.append(runner)
            self.bound_ports[name] = int(runner.addresses[0][1])

    async def close(self) -> None:
        await self.cloner.stop()
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        await self.db.close()

    async def run(self, *, skip_init: bool = False) -> None:
        """Initialise, serve until :attr:`stop_event` is set, then shut down."""
        if not skip_init:
            result = await self.initialize()
            log.info("instance initialised", fresh=result.fresh, created=list(result.created_users))
        await self.start_listeners()
        log.info("agent serving", ports=self.bound_ports)
        rotation = asyncio.create_task(
            rotation_loop(
                self.db.get,
                Path(self.config.log_dir),
                parse_cron(self.config.log_rotation_schedule),
                self.metrics,
                size_limit=self.config.log_rotation_size,
            ),
            name="moco-agent-rotation",
        )
        background = [
            rotation,
            isolation.start(functools.partial(self.config.endpoint, constants.ADMIN_USER)),
            asyncio.create_task(
                exporter_reload_loop(
                    Path(constants.MYCNF_SECRET_PATH) / constants.mycnf_key(constants.EXPORTER_USER),
                    f"http://127.0.0.1:{constants.EXPORTER_PORT}/-/reload",
                ),
                name="moco-agent-exporter-reload",
            ),
            asyncio.create_task(
                TLSReloader(
                    functools.partial(self.config.endpoint, constants.ADMIN_USER), self.config.mysql_tls_dir
                ).run(self.stop_event),
                name="moco-agent-mysql-tls",
            ),
        ]
        if self.tls is not None:
            background.append(asyncio.create_task(self.tls.watch(self.stop_event), name="moco-agent-tls"))
        try:
            await self.stop_event.wait()
        finally:
            for task in background:
                task.cancel()
            for task in background:
                await cancel_and_wait(task)
            await self.close()
            log.info("agent stopped")


__all__ = ["Agent", "AgentError"]
