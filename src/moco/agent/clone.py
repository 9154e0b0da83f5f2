"""Clone on the controller's request: validation, the single running clone, its outcome.

The controller asks the agent of an empty replica to copy a donor (``POST /clone`` on the agent
port, see :mod:`moco.agent.server`). :class:`Cloner` runs at most one clone at a time in the
background and keeps the state of the last one for ``GET /clone``:

``idle`` -> ``running`` -> ``succeeded`` | ``failed``

A clone is refused when the instance holds transactions (``gtid_executed`` not empty: cloning
would destroy data) or when one is already running. After a successful clone the instance is
initialised again (:func:`moco.agent.initialize.initialize`): users missing after a clone from
an external source are created, through the ``init_user`` credential of the request (with which
the agent also follows the restarted instance, since its own user is gone then).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from moco import constants
from moco.agent.errors import AgentError, CloneError
from moco.agent.initialize import initialize
from moco.agent.metrics import AgentMetrics
from moco.log import get_logger
from moco.mysql import ops
from moco.mysql.conn import Endpoint, connect
from moco.mysql.errors import AccessDenied, MySQLError, Timeout, Unreachable
from moco.mysql.status import CLONE_COMPLETED, get_clone_status

log = get_logger("moco.agent.clone")

State = Literal["idle", "running", "succeeded", "failed"]


@dataclass(frozen=True)
class CloneRequest:
    """A validated request. Missing credentials default to moco's clone-donor user."""

    donor_host: str
    donor_port: int
    user: str
    password: str = field(repr=False)
    init_user: str = ""
    init_password: str = field(default="", repr=False)
    boot_timeout_s: float = 600.0


def parse_request(body: Mapping[str, Any], donor_password: str) -> CloneRequest:
    """Validate a request body; raises :class:`CloneError` with the reason."""
    host = body.get("donor_host")
    port = body.get("donor_port", constants.MYSQL_PORT)
    if not isinstance(host, str) or not host or any(c.isspace() for c in host):
        raise CloneError("donor_host must be a host name")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise CloneError("donor_port must be a port number")
    user = body.get("user") or constants.CLONE_DONOR_USER
    password = body.get("password") or (donor_password if user == constants.CLONE_DONOR_USER else "")
    init_user = body.get("init_user") or ""
    init_password = body.get("init_password") or ""
    timeout = body.get("boot_timeout_s", 600.0)
    for name, v in (("user", user), ("password", password), ("init_user", init_user)):
        if not isinstance(v, str):
            raise CloneError(f"{name} must be a string")
    if not password:
        raise CloneError("no password for the donor user")
    if not isinstance(init_password, str):
        raise CloneError("init_password must be a string")
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 86400:
        raise CloneError("boot_timeout_s must be a number of seconds in (0, 86400]")
    return CloneRequest(host, port, user, password, init_user, init_password, float(timeout))


async def wait_clone_outcome(ep: Endpoint, deadline: float) -> None:
    """Wait (until ``deadline``, monotonic) for the restarted instance to report a finished clone."""
    last: MySQLError | None = None
    while time.monotonic() < deadline:
        try:
            async with await connect(ep, timeout=min(max(deadline - time.monotonic(), 0.1), 5.0)) as c:
                st = await get_clone_status(c)
        except (Unreachable, Timeout) as e:
            last = e
            await asyncio.sleep(0.2)
            continue
        if st is None or st.state in (None, "Not Started", "In Progress"):
            await asyncio.sleep(0.2)
            continue
        if st.state != CLONE_COMPLETED:
            raise CloneError(f"clone {st.state}: ({st.error_no}) {st.error_message}")
        return
    raise CloneError(f"the instance did not come back from the clone in time (last error: {last})")


@dataclass
class CloneProgress:
    """The state of the last clone (mutable, owned by :class:`Cloner`)."""

    state: State = "idle"
    donor: str = ""
    error: str = ""
    started_at: float | None = None
    finished_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "donor": self.donor,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


class Cloner:
    """Runs one clone at a time for the local instance."""

    def __init__(
        self,
        clone_endpoint: Endpoint,
        admin: Endpoint,
        bootstrap: Sequence[Endpoint],
        passwords: Mapping[str, str],
        metrics: AgentMetrics,
    ) -> None:
        self._clone_ep = clone_endpoint
        self._admin = admin
        self._bootstrap = tuple(bootstrap)
        self._passwords = dict(passwords)
        self._metrics = metrics
        self.progress = CloneProgress()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, req: CloneRequest) -> None:
        """Check the preconditions and start the clone in the background."""
        if self.running:
            raise CloneError("a clone is already running")
        async with await connect(self._clone_ep) as conn:
            row = await conn.query_one("SELECT @@global.gtid_executed AS g")
        if row is not None and str(row["g"] or "").strip():
            raise CloneError("the instance holds transactions: refusing to clone over them")
        self.progress = CloneProgress("running", f"{req.donor_host}:{req.donor_port}", "", time.time())
        self._task = asyncio.create_task(self._run(req), name="moco-agent-clone")

    async def wait(self) -> CloneProgress:
        """Wait for the running clone (if any) to end; returns its progress."""
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.progress

    async def stop(self) -> None:
        """Cancel a running clone (on shutdown)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self, req: CloneRequest) -> None:
        self._metrics.clone_count.inc()
        start = time.monotonic()
        try:
            deadline = time.monotonic() + req.boot_timeout_s
            init_ep = (
                Endpoint(self._admin.host, self._admin.port, req.init_user, req.init_password)
                if req.init_user
                else None
            )
            conn = await connect(self._clone_ep)
            try:
                await ops.clone_from(
                    conn,
                    donor_host=req.donor_host,
                    donor_port=req.donor_port,
                    user=req.user,
                    password=req.password,
                    timeout=req.boot_timeout_s,
                )
            except AccessDenied:
                # After a clone from an external source our users are gone: follow the outcome
                # with the source's init user instead.
                if init_ep is None:
                    raise
                await wait_clone_outcome(init_ep, deadline)
            bootstrap = list(self._bootstrap)
            if init_ep is not None:
                bootstrap.insert(0, init_ep)
            await initialize(self._admin, bootstrap, self._passwords)
        except (MySQLError, AgentError) as e:
            self._metrics.clone_failure_count.inc()
            self.progress.state = "failed"
            self.progress.error = str(e)
            log.warning("clone failed", donor=self.progress.donor, error=str(e))
        else:
            self._metrics.clone_duration.observe(time.monotonic() - start)
            self.progress.state = "succeeded"
            log.info("clone succeeded", donor=self.progress.donor, seconds=round(time.monotonic() - start, 1))
        finally:
            self.progress.finished_at = time.time()
