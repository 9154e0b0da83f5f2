"""The client of the agent's clone API (used by the controller; tests use it too).

One short-lived HTTPS request per call, each bounded by ``timeout``. With ``tls`` (the
controller's client context, :func:`moco.agentapi.tls.client_context`) the call is mutually
authenticated: the agent's certificate is checked for ``server_name`` (the Pod's DNS name, see
:func:`moco.agentapi.tls.agent_server_name`) while the connection goes to ``host`` (the Pod's
IP), and the agent checks the controller's certificate. The Bearer token of the cluster's
Secret authenticates too. Without ``tls`` the call is plain HTTP (tests of the agent alone).

Errors: :class:`AgentUnreachable` (no answer: connection refused or reset, timeout, a TLS
handshake the agent or the client refused, a body that is not the model) and :class:`AgentRefused` (the agent
answered with an error status; ``status`` and the agent's message).
"""

from __future__ import annotations

import ssl

import aiohttp
from pydantic import ValidationError

from moco import constants
from moco.agentapi.model import CLONE_PATH, CloneProgress, CloneRequest, ErrorBody


class AgentAPIError(Exception):
    """A call to the agent API failed."""


class AgentUnreachable(AgentAPIError):
    """The agent did not answer (or answered something that is not the API's)."""


class AgentRefused(AgentAPIError):
    """The agent answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class AgentClient:
    """The agent API of one Pod (``host``:``port``, default MOCO's agent port 9080)."""

    def __init__(
        self,
        host: str,
        token: str,
        *,
        port: int = constants.AGENT_PORT,
        timeout: float = 10.0,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        if tls is not None and not server_name:
            raise ValueError("AgentClient: server_name is required with tls (the agent certificate's name)")
        self.base = f"{'https' if tls else 'http'}://{host}:{port}"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._tls = tls
        self._server_name = server_name

    async def _call(self, method: str, body: CloneRequest | None = None) -> CloneProgress:
        url = self.base + CLONE_PATH
        payload = None if body is None else body.model_dump(mode="json")
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.request(
                    method,
                    url,
                    json=payload,
                    headers=self._headers,
                    ssl=self._tls if self._tls is not None else True,
                    server_hostname=self._server_name if self._tls is not None else None,
                ) as resp,
            ):
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as e:
            raise AgentUnreachable(f"{method} {url}: {type(e).__name__}: {e}") from e
        if status >= 400:
            try:
                message = ErrorBody.model_validate_json(text).error
            except ValidationError:
                message = text[:200]
            raise AgentRefused(status, message)
        try:
            return CloneProgress.model_validate_json(text)
        except ValidationError as e:
            raise AgentUnreachable(f"{method} {url}: not a clone progress: {e}") from e

    async def start_clone(self, request: CloneRequest) -> CloneProgress:
        """``POST /clone``: the progress of the clone just started."""
        return await self._call("POST", request)

    async def clone_progress(self) -> CloneProgress:
        """``GET /clone``: the progress of the agent's last clone."""
        return await self._call("GET")
