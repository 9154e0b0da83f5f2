"""The Kubernetes side of the backup and restore programs: read the cluster, write its status.

A thin layer over :mod:`moco.backup.backup` and :mod:`moco.backup.restore` (which know nothing
of Kubernetes), doing what MOCO's BackupManager and RestoreManager do around their dumps:

- backup: the MySQLCluster and its Pods (all of them must exist, ordered by index), the
  ``server_uuid`` of every ready instance (``status.backup.uuidSet``), the source by
  :func:`moco.backup.choose.choose_source`, then ``status.backup`` (conflict retries) and the
  Events ``BackupCreated`` and, when the binlogs could not be saved, ``BackupNoBinlog``;
- restore: waits for the target's Pod 0 to have an IP (600 s, MOCO's), restores into it, then
  ``status.restoredTime`` and the Event ``Restored``. A failure is also written on the program's
  own Job (annotation ``moco.cybozu.com/restore-error``, the one Job its Role lets it patch):
  the controller reads it into the ``Restored`` condition and the ``RestoreFailed`` Event, so
  the cluster says why (a refused credential, a restore point past what the bucket holds), not
  only that the Job failed;
- archive (beyond MOCO): follows the current primary and ships its binlogs continuously.

After a restore moco's users must have the *target's* passwords (the copy carries the source's):
the restore recreates them on the copy from the target's own accounts (see
:mod:`moco.backup.restore`), so ``MYSQL_PASSWORD`` (the target's admin password) is all the Job
needs; passwords found in the environment under MOCO's names (``AGENT_PASSWORD``, ...) are set
over them.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from moco import constants
from moco.api import names
from moco.backup.archiver import Archiver
from moco.backup.backup import BackupRequest, BackupResult, BinlogRange, run_backup
from moco.backup.bucket import Bucket
from moco.backup.choose import Choice, LastBackup, choose_source
from moco.backup.errors import BackupError
from moco.backup.restore import RestoreRequest, RestoreResult, run_restore, wait_target
from moco.backup.scratch import Tools
from moco.kube import errors as kerrors
from moco.kube.client import Client
from moco.kube.events import EventRecorder
from moco.kube.resource import JOBS, PODS, Resource
from moco.log import get_logger
from moco.mysql.conn import Endpoint, connect
from moco.mysql.errors import MySQLError

log = get_logger("moco.backup.kubeside")

MYSQLCLUSTERS: Final = Resource(constants.GROUP, constants.VERSION, "mysqlclusters", "MySQLCluster")
COMPONENT: Final = "moco-backup"
POD_WAIT: Final = 600.0
#: The most characters of an error written on the restore Job (its end: where the cause is).
ERROR_NOTE_MAX: Final = 2000
#: Bound of the one request that writes the error on the Job.
ERROR_NOTE_TIMEOUT: Final = 10.0
Obj = dict[str, Any]


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def go_duration(seconds: float) -> str:
    """A duration as Go prints it (metav1.Duration): ``1h2m3.5s``, ``850ms``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    sec = f"{s:.3f}".rstrip("0").rstrip(".") + "s"
    if h:
        return f"{int(h)}h{int(m)}m{sec}"
    if m:
        return f"{int(m)}m{sec}"
    return sec


def pod_ready(pod: Obj) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def order_pods(pods: list[Obj], replicas: int, cluster: str) -> list[Obj]:
    """Pods by index (the suffix of their names); all of ``replicas`` must be present."""
    if len(pods) != replicas:
        raise BackupError(f"too few Pods for {cluster}: {len(pods)} of {replicas}")
    ordered: list[Obj | None] = [None] * replicas
    for p in pods:
        name = str(p["metadata"]["name"])
        suffix = name.rsplit("-", 1)[-1]
        if not suffix.isdigit() or int(suffix) >= replicas:
            raise BackupError(f"bad pod name: {name}")
        ordered[int(suffix)] = p
    if any(p is None for p in ordered):
        raise BackupError(f"missing Pods for {cluster}")
    return [p for p in ordered if p is not None]


def last_backup(status: Mapping[str, Any]) -> tuple[LastBackup | None, datetime | None]:
    """The previous backup from ``status.backup`` (None when there was none)."""
    b = status.get("backup") or {}
    t = parse_rfc3339(b.get("time"))
    if t is None:
        return None, None
    return (
        LastBackup(
            source_index=int(b.get("sourceIndex") or 0),
            uuid_set=dict(b.get("uuidSet") or {}),
            binlog_filename=str(b.get("binlogFilename") or ""),
            gtid_set=str(b.get("gtidSet") or ""),
        ),
        t,
    )


def backup_status(res: BackupResult, choice: Choice, uuid_set: Mapping[str, str]) -> Obj:
    """``status.backup`` of a finished backup."""
    warnings = [*choice.warnings, *res.warnings]
    return {
        "time": rfc3339(res.time),
        "elapsed": go_duration(res.elapsed),
        "sourceIndex": choice.index,
        "sourceUUID": res.source_uuid,
        "uuidSet": dict(uuid_set),
        "binlogFilename": res.binlog_filename,
        "gtidSet": res.gtid_set,
        "dumpSize": res.dump_size,
        "binlogSize": res.binlog_size,
        "workDirUsage": res.work_dir_usage,
        "warnings": warnings or None,
    }


@dataclass(frozen=True)
class Options:
    """What the command line gives both programs."""

    work_dir: Path
    threads: int
    password: str
    #: an initialised data directory copied for the backup's scratch mysqld (made on first use)
    scratch_template: Path | None = None


async def _uuid_set(pods: list[Obj], password: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, p in enumerate(pods):
        ip = (p.get("status") or {}).get("podIP")
        if not pod_ready(p) or not ip:
            continue
        ep = Endpoint(ip, constants.MYSQL_PORT, constants.BACKUP_USER, password)
        async with await connect(ep, timeout=10.0, query_timeout=30.0) as c:
            row = await c.query_one("SELECT @@server_uuid AS u")
        if row is not None:
            out[str(i)] = str(row["u"])
    return out


#: Server settings CLONE requires to be equal on donor and recipient (error 3868 "Clone
#: Configuration ...") that a scratch mysqld started with defaults does not share with moco's
#: instances: moco's my.cnf sets utf8mb4_unicode_ci, MySQL's default is utf8mb4_0900_ai_ci.
CLONE_MATCHED: Final = ("character_set_server", "collation_server")


async def clone_settings(ep: Endpoint, timeout: float = 30.0) -> tuple[str, ...]:  # noqa: ASYNC109
    """The scratch mysqld's options that make it clone with the instance at ``ep``, either way:
    the backup's scratch server takes the source's copy, the restore's gives the target its own."""
    cols = ", ".join(f"@@{v} AS {v}" for v in CLONE_MATCHED)
    async with await connect(ep, timeout=10.0, query_timeout=timeout) as c:
        row = await c.query_one(f"SELECT {cols}")
    if row is None:
        raise BackupError(f"{ep.address}: no answer to SELECT {cols}")
    return tuple(f"--{v.replace('_', '-')}={row[v]}" for v in CLONE_MATCHED)


BackupRunner = Callable[[BackupRequest, Bucket, Tools], Awaitable[BackupResult]]
RestoreRunner = Callable[..., Awaitable[RestoreResult]]
UUIDReader = Callable[[list[Obj], str], Awaitable[dict[str, str]]]
SettingsReader = Callable[[Endpoint], Awaitable[tuple[str, ...]]]


async def backup(
    client: Client,
    bucket: Bucket,
    tools: Tools,
    opts: Options,
    namespace: str,
    name: str,
    *,
    runner: BackupRunner = run_backup,
    read_uuids: UUIDReader | None = None,
    read_settings: SettingsReader | None = None,
) -> BackupResult:
    """MOCO's backup of ``namespace/name`` (module docstring)."""
    cluster = await client.get(MYSQLCLUSTERS, name, namespace)
    spec, status = cluster.get("spec") or {}, cluster.get("status") or {}
    replicas = int(spec.get("replicas") or 1)
    selector = ",".join(
        f"{k}={v}"
        for k, v in (
            (constants.LABEL_APP_NAME, constants.APP_NAME_MYSQL),
            (constants.LABEL_APP_INSTANCE, name),
            (constants.LABEL_APP_CREATED_BY, constants.APP_CREATOR),
        )
    )
    pods, _ = await client.list_all(PODS, namespace, label_selector=selector)
    ordered = order_pods(pods, replicas, f"{namespace}/{name}")
    uuid_set = await (read_uuids or _uuid_set)(ordered, opts.password)
    last, last_time = last_backup(status)
    primary = int(status.get("currentPrimaryIndex") or 0)
    choice = choose_source([pod_ready(p) for p in ordered], primary, uuid_set, last)
    ip = (ordered[choice.index].get("status") or {}).get("podIP")
    if not ip:
        raise BackupError(f"the source Pod {ordered[choice.index]['metadata']['name']} has no IP")
    log.info(
        "chosen source", cluster=name, namespace=namespace, index=choice.index, skip_binlog=choice.skip_binlog
    )
    rng = None
    if last is not None and last_time is not None and not choice.skip_binlog:
        rng = BinlogRange(start_file=last.binlog_filename, exclude_gtids=last.gtid_set, last_time=last_time)
    source = Endpoint(ip, constants.MYSQL_PORT, constants.BACKUP_USER, opts.password)
    req = BackupRequest(
        namespace=namespace,
        name=name,
        source=source,
        work_dir=opts.work_dir,
        binlogs=rng,
        binlogs_from_oldest=last is not None and choice.index != last.source_index,
        threads=opts.threads,
        scratch_template=opts.scratch_template,
        scratch_args=await (read_settings or clone_settings)(source),
    )
    res = await runner(req, bucket, tools)
    events = EventRecorder(client, COMPONENT)
    if res.binlog_error:
        await events.warning(cluster, "BackupNoBinlog", f"Backup of binlog failed: {res.binlog_error}")
    new = backup_status(res, choice, uuid_set)

    def mutate(obj: Obj) -> bool:
        obj.setdefault("status", {})["backup"] = new
        return True

    updated = await client.update_status_with_retry(MYSQLCLUSTERS, name, namespace, mutate)
    await events.normal(updated, "BackupCreated", "Backup created successfully")
    log.info("backup finished successfully", cluster=name, namespace=namespace)
    return res


def primary_lookup(
    client: Client, namespace: str, name: str, password: str
) -> Callable[[], Awaitable[Endpoint]]:
    """The archiver's question "where is the primary now?": the Pod ``status.currentPrimaryIndex``
    names, as the backup user. Every failure (API error, no such Pod, no IP yet) is a
    :class:`BackupError`, which the archiver takes as passing (it retries)."""

    async def primary() -> Endpoint:
        index = 0
        try:
            cluster = await client.get(MYSQLCLUSTERS, name, namespace)
            index = int((cluster.get("status") or {}).get("currentPrimaryIndex") or 0)
            pod = await client.get(PODS, names.pod_name(name, index), namespace)
        except kerrors.KubeError as e:
            raise BackupError(f"looking up the primary of {namespace}/{name}: {e}") from e
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            raise BackupError(f"the primary Pod {names.pod_name(name, index)} has no IP")
        return Endpoint(str(ip), constants.MYSQL_PORT, constants.BACKUP_USER, password)

    return primary


async def archive(
    client: Client,
    bucket: Bucket,
    tools: Tools,
    opts: Options,
    namespace: str,
    name: str,
    *,
    interval: float = 5.0,
) -> None:
    """Ship the binlogs of ``namespace/name``'s current primary continuously (until cancelled).

    The primary is the one ``status.currentPrimaryIndex`` names, read again every pass
    (:func:`primary_lookup`); a gap (binlogs purged before they were archived) is a Warning
    Event ``BinlogArchiveGap``.
    """
    primary = primary_lookup(client, namespace, name, opts.password)
    events = EventRecorder(client, COMPONENT)

    async def on_gap(message: str) -> None:
        cluster = await client.get(MYSQLCLUSTERS, name, namespace)
        await events.warning(cluster, "BinlogArchiveGap", message)

    a = Archiver(bucket, tools, opts.work_dir, namespace, name, primary, interval=interval, on_gap=on_gap)
    await a.run()


def passwords_from(env: Mapping[str, str], secret: Obj | None, admin: str) -> dict[str, str]:
    """Target passwords by user: the environment first, then the Secret; admin's is MYSQL_PASSWORD."""
    data = (secret or {}).get("data") or {}
    out: dict[str, str] = {}
    for user, key in constants.PASSWORD_KEYS.items():
        if env.get(key):
            out[user] = env[key]
        elif data.get(key):
            out[user] = base64.b64decode(data[key]).decode()
    out[constants.ADMIN_USER] = admin
    return out


async def _target_ip(client: Client, namespace: str, pod: str, timeout: float) -> str:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            p = await client.get(PODS, pod, namespace)
            ip = (p.get("status") or {}).get("podIP")
            if ip:
                return str(ip)
        except kerrors.NotFound:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise BackupError(f"the Pod {namespace}/{pod} has no IP after {timeout}s")
        await asyncio.sleep(1.0)


def own_address(env: Mapping[str, str]) -> str:
    """The address the target reaches this Pod at (POD_IP, else the host name's address)."""
    ip = env.get("POD_IP", "")
    if ip:
        return ip
    return socket.gethostbyname(socket.gethostname())


async def record_failure(client: Client, namespace: str, name: str, message: str) -> None:
    """Write why the restore failed on its Job (module docstring). Best effort: a refused or
    failed write is logged, the program still ends with the error itself."""
    job = names.restore_job_name(name)
    note = message if len(message) <= ERROR_NOTE_MAX else "..." + message[-ERROR_NOTE_MAX:]
    patch = {"metadata": {"annotations": {constants.ANN_RESTORE_ERROR: note}}}
    try:
        async with asyncio.timeout(ERROR_NOTE_TIMEOUT):
            await client.patch(JOBS, job, patch, namespace)
    except (kerrors.KubeError, TimeoutError) as e:
        log.warning(
            "could not write the error on the restore Job", job=job, namespace=namespace, error=str(e)
        )


async def restore(
    client: Client,
    bucket: Bucket,
    tools: Tools,
    opts: Options,
    *,
    source_namespace: str,
    source_name: str,
    namespace: str,
    name: str,
    restore_point: datetime,
    schema: str,
    users: tuple[str, ...],
    env: Mapping[str, str] | None = None,
    runner: RestoreRunner = run_restore,
    pod_wait: float = POD_WAIT,
    read_settings: SettingsReader | None = None,
) -> RestoreResult:
    """MOCO's restore into ``namespace/name`` (module docstring)."""
    try:
        return await _restore(
            client, bucket, tools, opts, source_namespace=source_namespace, source_name=source_name,
            namespace=namespace, name=name, restore_point=restore_point, schema=schema, users=users,
            env=os.environ if env is None else env, runner=runner, pod_wait=pod_wait,
            read_settings=read_settings,
        )  # fmt: skip
    except BackupError as e:
        await record_failure(client, namespace, name, str(e))
        raise


async def _restore(
    client: Client,
    bucket: Bucket,
    tools: Tools,
    opts: Options,
    *,
    source_namespace: str,
    source_name: str,
    namespace: str,
    name: str,
    restore_point: datetime,
    schema: str,
    users: tuple[str, ...],
    env: Mapping[str, str],
    runner: RestoreRunner,
    pod_wait: float,
    read_settings: SettingsReader | None,
) -> RestoreResult:
    pod = names.pod_name(name, 0)
    log.info("waiting for a pod to become ready", name=pod)
    ip = await _target_ip(client, namespace, pod, pod_wait)
    passwords = passwords_from(env, None, opts.password)
    target = Endpoint(ip, constants.MYSQL_PORT, constants.ADMIN_USER, opts.password)

    async def target_settings(ep: Endpoint) -> tuple[str, ...]:
        await wait_target(ep, pod_wait)  # the target's mysqld may still be starting
        return await clone_settings(ep)

    req = RestoreRequest(
        source_namespace=source_namespace,
        source_name=source_name,
        restore_point=restore_point,
        target=target,
        work_dir=opts.work_dir,
        passwords=passwords,
        schema=schema,
        users=users,
        threads=opts.threads,
        bind="0.0.0.0",
        advertise=own_address(env),
        port=constants.MYSQL_PORT,
        scratch_args=await (read_settings or target_settings)(target),
    )
    try:
        res = await runner(req, bucket, tools, target_timeout=pod_wait)
    except MySQLError as e:
        raise BackupError(f"restore into {namespace}/{name} failed: {e}") from e

    def mutate(obj: Obj) -> bool:
        obj.setdefault("status", {})["restoredTime"] = rfc3339(datetime.now(UTC))
        return True

    updated = await client.update_status_with_retry(MYSQLCLUSTERS, name, namespace, mutate)
    await EventRecorder(client, COMPONENT).normal(updated, "Restored", "Restoration finished successfully")
    log.info("restoration finished successfully", cluster=name, namespace=namespace)
    return res


__all__ = [
    "Options",
    "backup",
    "backup_status",
    "clone_settings",
    "go_duration",
    "last_backup",
    "order_pods",
    "passwords_from",
    "primary_lookup",
    "record_failure",
    "restore",
]
