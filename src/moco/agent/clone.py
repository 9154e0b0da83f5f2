"""Clone on the controller's request: the single running clone, its outcome, its progress.

The controller asks the agent of an empty replica to copy a donor (``POST /clone`` with a
:class:`moco.agentapi.CloneRequest`, see :mod:`moco.agent.server`). :class:`Cloner` runs at most
one clone at a time in the background and keeps the :class:`moco.agentapi.CloneProgress` of the
last one for ``GET /clone``: ``idle`` -> ``running`` -> ``succeeded`` | ``failed``. Each progress
carries the agent's ``instance_id`` (new at every start) and the clone's ``clone_id``, so a
controller polling a restarted agent learns at once that its clone is gone.

A clone is refused when the instance holds transactions (``gtid_executed`` not empty: cloning
would destroy data) or when one is already running. The clone itself is
:func:`moco.mysql.clone.clone_instance` (bounded by progress; error 3707 of an unsupervised
mysqld means "cloned, restarting": kubelet restarts the mysqld container). Once the restarted
instance answers it is initialised again (:func:`moco.agent.initialize.initialize`): users
missing after a clone from an external source are created through the request's ``init_user``
(with which the agent also follows the restart, since its own user is gone then).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence

from moco import constants
from moco.agent.credentials import EndpointSource, resolve
from moco.agent.errors import AgentError, CloneError
from moco.agent.initialize import initialize
from moco.agent.metrics import AgentMetrics
from moco.agentapi import CloneProgress, CloneRequest, CloneState
from moco.log import get_logger
from moco.mysql.clone import CloneBounds, Donor, Progress, clone_instance
from moco.mysql.conn import Endpoint, connect
from moco.mysql.errors import MySQLError
from moco.tasks import cancel_and_wait

log = get_logger("moco.agent.clone")


def donor_of(req: CloneRequest, donor_password: str) -> Donor:
    """The donor of a request; an empty user is moco's clone-donor user (raises :class:`CloneError`)."""
    user = req.user or constants.CLONE_DONOR_USER
    password = req.password or (donor_password if user == constants.CLONE_DONOR_USER else "")
    if not password:
        raise CloneError("no password for the donor user")
    return Donor(req.donor_host, req.donor_port, user, password)


class Cloner:
    """Runs one clone at a time for the local instance."""

    def __init__(
        self,
        clone_endpoint: EndpointSource,
        admin: EndpointSource,
        bootstrap: Sequence[Endpoint],
        passwords: Mapping[str, str],
        metrics: AgentMetrics,
        *,
        instance_id: str | None = None,
    ) -> None:
        self._clone_ep = clone_endpoint
        self._admin = admin
        self._bootstrap = tuple(bootstrap)
        #: kept as given (not copied): a :class:`~moco.agent.credentials.MountedPasswords`
        #: answers the password of the moment
        self._passwords = passwords
        self._metrics = metrics
        #: this agent process; a restarted agent has another one.
        self.instance_id = instance_id or uuid.uuid4().hex
        self.progress = CloneProgress(instance_id=self.instance_id)
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _set(self, **changes: object) -> None:
        self.progress = self.progress.model_copy(update=changes)

    async def start(self, req: CloneRequest) -> CloneProgress:
        """Check the preconditions and start the clone in the background; its first progress."""
        if self.running:
            raise CloneError("a clone is already running")
        donor = donor_of(req, self._passwords.get(constants.CLONE_DONOR_USER, ""))
        async with await connect(resolve(self._clone_ep)) as conn:
            row = await conn.query_one("SELECT @@global.gtid_executed AS g")
        if row is not None and str(row["g"] or "").strip():
            raise CloneError("the instance holds transactions: refusing to clone over them")
        self.progress = CloneProgress(
            state=CloneState.RUNNING,
            instance_id=self.instance_id,
            clone_id=uuid.uuid4().hex,
            donor=donor.address,
            started_at=time.time(),
        )
        self._task = asyncio.create_task(self._run(req, donor), name="moco-agent-clone")
        return self.progress

    async def wait(self) -> CloneProgress:
        """Wait for the running clone (if any) to end; returns its progress."""
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.progress

    async def stop(self) -> None:
        """Cancel a running clone (on shutdown)."""
        if self._task is not None and not self._task.done():
            await cancel_and_wait(self._task)

    def _on_progress(self, p: Progress) -> None:
        self._set(stage=p.stage, bytes_done=p.bytes_done)

    async def _run(self, req: CloneRequest, donor: Donor) -> None:
        self._metrics.clone_count.inc()
        self._metrics.clone_in_progress.set(1)
        try:
            await self._clone(req, donor)
        finally:
            self._metrics.clone_in_progress.set(0)

    async def _clone(self, req: CloneRequest, donor: Donor) -> None:
        start = time.monotonic()
        admin = resolve(self._admin)
        init_ep = (
            Endpoint(admin.host, admin.port, req.init_user, req.init_password) if req.init_user else None
        )
        try:
            await clone_instance(
                resolve(self._clone_ep),
                donor,
                after=[init_ep] if init_ep is not None else [],
                bounds=CloneBounds(stall_timeout=req.stall_timeout_s, boot_timeout=req.boot_timeout_s),
                on_progress=self._on_progress,
            )
            bootstrap = list(self._bootstrap)
            if init_ep is not None:
                bootstrap.insert(0, init_ep)
            await initialize(resolve(self._admin), bootstrap, self._passwords)
        except (MySQLError, AgentError) as e:
            self._metrics.clone_failure_count.inc()
            self._set(state=CloneState.FAILED, error=str(e), finished_at=time.time())
            log.warning("clone failed", donor=donor.address, error=str(e))
        else:
            self._metrics.clone_duration.observe(time.monotonic() - start)
            self._set(state=CloneState.SUCCEEDED, finished_at=time.time())
            log.info("clone succeeded", donor=donor.address, seconds=round(time.monotonic() - start, 1))


__all__ = ["Cloner", "donor_of"]
