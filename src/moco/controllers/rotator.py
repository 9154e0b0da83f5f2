"""Carry out the credential rotation's steps (:mod:`moco.controllers.rotation` decides them).

The reconciler calls :meth:`Rotator.reconcile` after it has applied the cluster's objects. One
call reads the MySQLCluster and the controller Secret fresh from the API (never from a cache:
a step must see what the previous one wrote), decides, runs *one* step and writes what it did,
then asks to be called again at once; a controller restart anywhere repeats at most the step in
flight, and every step is idempotent:

- START checks that no instance holds a secondary password of a moco user (one left by hand
  or by a lost rotation would make RETAIN skip that user), then writes ``Rotating``;
- STAGE writes new ``_PENDING`` passwords (conflict-checked on the Secret's resourceVersion);
- RETAIN runs ``ALTER USER ... RETAIN CURRENT PASSWORD`` on every instance, all or nothing
  (:mod:`moco.mysql.dualpassword` skips a user that holds a secondary already), verifies on
  each that the new admin password authenticates, and only then writes ``rotateApplied``;
- PROMOTE makes the new passwords current in one Secret write (old ones kept as ``_OLD``) and
  distributes them to the user and my.cnf Secrets;
- COMPLETE_ROTATE checks that both Secrets carry them (GET, not the cache), moves every replica's
  source password to the new one, writes ``Rotated`` with ``rotatedTime`` and removes the
  rotate annotation;
- DISCARD checks all of that again, then runs ``DISCARD OLD PASSWORD`` on every instance,
  verifies that no secondary is left, and writes ``discardApplied``;
- FINISH drops the ``_OLD`` keys, writes ``Idle`` with ``lastRotationID`` and removes both
  annotations.

A step that fails (an instance unreachable, a conflict) is retried after
:attr:`RotatorConfig.retry_s` with a Warning ``RotationRetrying``; the reconcile itself does not
fail for it, so the cluster's other objects and conditions are unaffected. Every SQL and API
call has a timeout. No password reaches a log line, an Event or the status: messages name
users, instances and rotation IDs only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from moco import constants
from moco.api import MySQLCluster
from moco.api.mysqlcluster import DEFAULT_REPLICAS
from moco.controllers import rotation as rot
from moco.controllers import secrets as sec
from moco.controllers.common import Obj
from moco.controllers.mysqlcert import pod_tls_name
from moco.controllers.rotation import Decision, Facts, Phase, RotationState, Step
from moco.kube import errors as kerr
from moco.kube.client import Client
from moco.kube.resource import SECRETS, Resource
from moco.log import get_logger
from moco.mysql import dualpassword as dp
from moco.mysql.conn import Connection, Endpoint, ServerTrust, connect
from moco.mysql.errors import MySQLError

log = get_logger("moco.controllers.rotator")

MYSQLCLUSTERS: Final = Resource(constants.GROUP, constants.VERSION, "mysqlclusters", "MySQLCluster")

#: Every user whose password is rotated (all eight, as MOCO).
USERS: Final = constants.ALL_USERS


@dataclass(frozen=True)
class RotatorConfig:
    system_namespace: str
    #: see :data:`moco.controllers.rotation.DEFAULT_PROPAGATION_S`
    propagation_s: float = rot.DEFAULT_PROPAGATION_S
    #: seconds before a failed or refused step is tried again
    retry_s: float = 10.0
    #: bound of each API call
    api_timeout: float = 10.0
    #: bound of a connection to an instance, and of each statement
    connect_timeout: float = 5.0
    query_timeout: float = 10.0


class Dialer(Protocol):
    """Opens a connection to instance ``index`` as moco-admin with ``password``."""

    async def __call__(self, cluster: MySQLCluster, index: int, password: str) -> Connection: ...


GetPod = Callable[[str, str], Awaitable[Obj | None]]
Apply = Callable[[Resource, Obj], Awaitable[Obj]]
Emit = Callable[[str, str, str], None]


class PodDialer:
    """Production :class:`Dialer`: the Pod's IP (from the informer cache) and the admin port; over
    TLS verified for the Pod's name when its mysqld serves moco's certificate and ``trust`` is
    given (the rotation's statements carry the new passwords)."""

    def __init__(
        self,
        get_pod: GetPod,
        *,
        connect_timeout: float,
        query_timeout: float,
        trust: Callable[[], Awaitable[ServerTrust]] | None = None,
        port: int = constants.MYSQL_ADMIN_PORT,
    ) -> None:
        self._get_pod = get_pod
        self._port = port
        self._connect_timeout = connect_timeout
        self._query_timeout = query_timeout
        self._trust = trust

    async def __call__(self, cluster: MySQLCluster, index: int, password: str) -> Connection:
        pod_name = cluster.pod_name(index)
        pod = await self._get_pod(pod_name, cluster.namespace)
        ip = ((pod or {}).get("status") or {}).get("podIP")
        if not ip:
            raise StepFailed(f"instance {index} ({pod_name}) has no Pod IP yet")
        name = pod_tls_name(pod or {}, cluster.name)
        ssl = (await self._trust()).context(name) if self._trust is not None and name else None
        ep = Endpoint(str(ip), self._port, constants.ADMIN_USER, password, ssl=ssl)
        return await connect(ep, timeout=self._connect_timeout, query_timeout=self._query_timeout)


class StepFailed(Exception):
    """A step could not be completed now (retried); the message holds no password."""


def redacted(message: str, pw: sec.Passwords) -> str:
    """``message`` with every value of the controller Secret masked: a server's error text may
    quote a statement (``... near '<text>'``), and the message goes to a log line and an Event."""
    for value in sorted(set(pw.values.values()), key=len, reverse=True):
        if len(value) >= 8:
            message = message.replace(value, "<redacted>")
    return message


def _replicas(cluster: MySQLCluster) -> int:
    """The instance count (the CRD defaults an unset ``replicas`` to 1)."""
    return DEFAULT_REPLICAS if cluster.spec.replicas is None else cluster.spec.replicas


def _now_text(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Rotator:
    """Runs one rotation step per call (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        cfg: RotatorConfig,
        dialer: Dialer,
        *,
        token_hex: Callable[[int], str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.cfg = cfg
        self.dialer = dialer
        self.token_hex = token_hex
        self.clock = clock

    @staticmethod
    def wanted(obj: Obj) -> bool:
        """Whether ``obj`` (the cached MySQLCluster) asks for rotation work: cheap, no I/O."""
        anns = (obj.get("metadata") or {}).get("annotations") or {}
        if anns.get(constants.ANN_PASSWORD_ROTATE) or anns.get(constants.ANN_PASSWORD_DISCARD):
            return True
        return RotationState.from_status(obj.get("status")).phase != Phase.IDLE

    async def reconcile(self, cluster: MySQLCluster, apply: Apply, emit: Emit) -> float:
        """Run the next step; returns seconds until the next call (0: nothing more to do).

        ``apply`` server-side applies an object (the reconciler's), ``emit`` records an Event
        ``(type, reason, message)`` about the cluster.
        """
        bound = log.bind(cluster=cluster.name, namespace=cluster.namespace)
        try:
            obj = await self.client.get(
                MYSQLCLUSTERS, cluster.name, cluster.namespace, request_timeout=self.cfg.api_timeout
            )
        except kerr.NotFound:
            return 0.0
        cluster = MySQLCluster.parse(obj)
        secret = await self._controller_secret(cluster)
        pw = sec.Passwords.from_secret(secret)
        anns = cluster.metadata.get("annotations") or {}
        facts = Facts(
            state=RotationState.from_status(obj.get("status")),
            rotate_annotation=str(anns.get(constants.ANN_PASSWORD_ROTATE) or ""),
            discard_annotation=str(anns.get(constants.ANN_PASSWORD_DISCARD) or ""),
            keys=pw.rotation_keys(),
            keys_rotation_id=pw.rotation_id,
            replicas=_replicas(cluster),
            offline=bool(cluster.spec.offline),
            now=self.clock(),
        )
        d = rot.decide(facts, propagation_s=self.cfg.propagation_s)
        if d.step == Step.NOTHING:
            return 0.0
        bound.info(
            "rotation step", step=str(d.step), rotation=facts.state.rotation_id or facts.rotate_annotation
        )
        try:
            return await self._run(d, facts, cluster, secret, pw, apply, emit)
        except (MySQLError, kerr.KubeError, StepFailed) as e:
            why = redacted(str(e), pw)
            bound.warning("rotation step failed", step=str(d.step), error=why)
            emit("Warning", "RotationRetrying", f"password rotation step {d.step} failed, retrying: {why}")
            return self.cfg.retry_s

    # --- the steps ---------------------------------------------------------------------------
    async def _run(
        self,
        d: Decision,
        f: Facts,
        cluster: MySQLCluster,
        secret: Obj,
        pw: sec.Passwords,
        apply: Apply,
        emit: Emit,
    ) -> float:
        s = f.state
        match d.step:
            case Step.DROP_ROTATE | Step.DROP_DISCARD:
                if d.message:
                    emit("Warning", d.reason, d.message)
                key = (
                    constants.ANN_PASSWORD_ROTATE
                    if d.step == Step.DROP_ROTATE
                    else constants.ANN_PASSWORD_DISCARD
                )
                await self._drop_annotations(cluster, key)
                return 0.0
            case Step.REFUSE:
                emit("Warning", d.reason, d.message)
                return self.cfg.retry_s
            case Step.WAIT:
                if not s.rotated_time:  # never shorter than asked: the wait starts now
                    await self._write_state(cluster, replace(s, rotated_time=_now_text(f.now)))
                return max(d.wait_s, 1.0)
            case Step.START:
                await self._start(cluster, pw, f.rotate_annotation, s.last_rotation_id, emit)
            case Step.STAGE:
                await self._replace_secret(secret, pw.staged(s.rotation_id, self.token_hex))
            case Step.RETAIN:
                await self._retain(cluster, pw)
                await self._write_state(cluster, replace(s, rotate_applied=True))
                emit(
                    "Normal",
                    "RetainApplied",
                    f"new passwords applied with RETAIN CURRENT PASSWORD on all {_replicas(cluster)} "
                    f"instances (rotationID: {s.rotation_id})",
                )
            case Step.PROMOTE:
                promoted = pw.promoted()
                await self._replace_secret(secret, promoted)
                await self._distribute(cluster, promoted, apply)
            case Step.COMPLETE_ROTATE:
                await self._check_distributed(cluster, pw, apply)
                await self._repoint_replicas(cluster, pw)
                await self._write_state(
                    cluster, replace(s, phase=Phase.ROTATED, rotated_time=_now_text(f.now))
                )
                emit(
                    "Normal",
                    "PasswordRotated",
                    f"new passwords distributed; old and new both work until the discard "
                    f"(rotationID: {s.rotation_id})",
                )
                with contextlib.suppress(kerr.KubeError):
                    await self._drop_annotations(cluster, constants.ANN_PASSWORD_ROTATE)
            case Step.DISCARD:
                await self._check_distributed(cluster, pw, apply)
                await self._repoint_replicas(cluster, pw)
                await self._discard(cluster, pw)
                await self._write_state(cluster, replace(s, discard_applied=True))
                emit(
                    "Normal",
                    "DiscardApplied",
                    f"old passwords discarded on every instance (rotationID: {s.rotation_id})",
                )
            case Step.FINISH:
                if f.keys != sec.RotationKeys.NONE:
                    await self._replace_secret(secret, pw.finished())
                await self._write_state(
                    cluster, RotationState(phase=Phase.IDLE, last_rotation_id=s.rotation_id)
                )
                emit(
                    "Normal",
                    "RotationCompleted",
                    f"password rotation completed (rotationID: {s.rotation_id})",
                )
                with contextlib.suppress(kerr.KubeError):
                    await self._drop_annotations(
                        cluster, constants.ANN_PASSWORD_ROTATE, constants.ANN_PASSWORD_DISCARD
                    )
                return 0.0
            case _:
                return 0.0
        return 0.1  # go on with the next step

    async def _start(
        self, cluster: MySQLCluster, pw: sec.Passwords, rotation_id: str, last: str, emit: Emit
    ) -> None:
        admin = pw.password(constants.ADMIN_USER)
        for index in range(_replicas(cluster)):
            async with await self.dialer(cluster, index, admin) as conn:
                dual = await dp.users_with_dual_password(conn, USERS)
            if dual:
                emit(
                    "Warning",
                    "DualPasswordExists",
                    f"cannot start rotation {rotation_id}: on instance {index} the users {', '.join(dual)} "
                    "already hold a secondary password; discard it (ALTER USER ... DISCARD OLD PASSWORD) "
                    "after checking that no client still uses it",
                )
                raise StepFailed(
                    f"instance {index}: users {', '.join(dual)} already hold a secondary password"
                )
        await self._write_state(
            cluster, RotationState(phase=Phase.ROTATING, rotation_id=rotation_id, last_rotation_id=last)
        )
        emit("Normal", "RotationStarted", f"started password rotation (rotationID: {rotation_id})")

    async def _retain(self, cluster: MySQLCluster, pw: sec.Passwords) -> None:
        """RETAIN on every instance (all or nothing), each verified with the new admin password."""
        current = pw.password(constants.ADMIN_USER)
        pending = pw.pending_password(constants.ADMIN_USER)
        for index in range(_replicas(cluster)):
            conn = await self._dial_either(cluster, index, current, pending)
            async with conn:
                async with dp.writes_allowed(conn):
                    for user in USERS:
                        await dp.retain_current_password(conn, user, pw.pending_password(user))
                missing = [u for u in USERS if not await dp.has_dual_password(conn, u)]
            if missing:
                raise StepFailed(f"instance {index}: no dual password for {', '.join(missing)} after RETAIN")
            async with await self.dialer(cluster, index, pending) as check:
                await check.query_one("SELECT 1")

    async def _dial_either(self, cluster: MySQLCluster, index: int, first: str, second: str) -> Connection:
        """As moco-admin with ``first``, else ``second`` (an instance restored from a backup
        taken mid-rotation may know only one of them)."""
        try:
            return await self.dialer(cluster, index, first)
        except MySQLError:
            return await self.dialer(cluster, index, second)

    async def _discard(self, cluster: MySQLCluster, pw: sec.Passwords) -> None:
        admin = pw.password(constants.ADMIN_USER)
        for index in range(_replicas(cluster)):
            async with await self.dialer(cluster, index, admin) as conn:
                async with dp.writes_allowed(conn):
                    for user in USERS:
                        await dp.discard_old_password(conn, user)
                left = await dp.users_with_dual_password(conn, USERS)
            if left:
                raise StepFailed(f"instance {index}: {', '.join(left)} still hold a secondary password")

    async def _repoint_replicas(self, cluster: MySQLCluster, pw: sec.Passwords) -> None:
        """Every replica of the cluster's primary connects with the current replication password.

        The primary is skipped: its source, if any, is the external one of
        ``replicationSourceSecretName``, whose password is not moco's.
        """
        admin = pw.password(constants.ADMIN_USER)
        repl = pw.password(constants.REPLICATION_USER)
        primary = (cluster.status.current_primary_index if cluster.status else 0) or 0
        for index in range(_replicas(cluster)):
            if index == primary:
                continue
            async with await self.dialer(cluster, index, admin) as conn:
                if await dp.replication_password_is(conn, repl) is False:
                    await dp.set_replication_password(conn, repl)
                    log.info(
                        "replica moved to the new replication password", cluster=cluster.name, index=index
                    )

    # --- the Secrets -------------------------------------------------------------------------
    async def _controller_secret(self, cluster: MySQLCluster) -> Obj:
        return await self.client.get(
            SECRETS,
            cluster.controller_secret_name(),
            self.cfg.system_namespace,
            request_timeout=self.cfg.api_timeout,
        )

    async def _replace_secret(self, current: Obj, pw: sec.Passwords) -> None:
        """PUT the controller Secret with ``pw`` (fails on a concurrent change: decided again)."""
        body = dict(current)
        body["data"] = {k: sec.b64(v) for k, v in sorted(pw.values.items())}
        await self.client.replace(SECRETS, body, request_timeout=self.cfg.api_timeout)

    async def _distribute(self, cluster: MySQLCluster, pw: sec.Passwords, apply: Apply) -> None:
        await apply(SECRETS, sec.user_secret(cluster, pw))
        await apply(SECRETS, sec.mycnf_secret(cluster, pw))

    async def _check_distributed(self, cluster: MySQLCluster, pw: sec.Passwords, apply: Apply) -> None:
        """Both Secrets in the cluster's namespace carry the current passwords (read fresh);
        applied again and :class:`StepFailed` when one does not."""
        for want in (sec.user_secret(cluster, pw), sec.mycnf_secret(cluster, pw)):
            name = want["metadata"]["name"]
            try:
                have = await self.client.get(
                    SECRETS, name, cluster.namespace, request_timeout=self.cfg.api_timeout
                )
            except kerr.NotFound:
                have = {}
            data = have.get("data") or {}
            if any(data.get(k) != v for k, v in want["data"].items()):
                await self._distribute(cluster, pw, apply)
                raise StepFailed(f"Secret {cluster.namespace}/{name} did not carry the new passwords yet")

    # --- the MySQLCluster --------------------------------------------------------------------
    async def _write_state(self, cluster: MySQLCluster, state: RotationState) -> None:
        want = state.to_status()

        def mutate(o: Obj) -> bool:
            status = o.setdefault("status", {})
            if status.get("systemUserRotation") == want:
                return False
            status["systemUserRotation"] = want
            return True

        await self.client.update_status_with_retry(MYSQLCLUSTERS, cluster.name, cluster.namespace, mutate)

    async def _drop_annotations(self, cluster: MySQLCluster, *keys: str) -> None:
        patch: dict[str, Any] = {"metadata": {"annotations": dict.fromkeys(keys)}}
        await self.client.patch(
            MYSQLCLUSTERS, cluster.name, patch, cluster.namespace, request_timeout=self.cfg.api_timeout
        )
