"""Backups and point-in-time restores in the cluster, for each object store (s3, gcs, azure).

One scenario per backend, in its own namespace, with the backend's server deployed there
(:mod:`e2e.objectstores`; s3 over TLS, the bucket's CA given as ``caCert``):

1. a 3-instance cluster ``source`` whose BackupPolicy (annotated
   ``moco.cybozu.com/binlog-archive: "true"``) gets the CronJob and the binlog archiver;
   writes go on through the primary (:class:`moco.testing.checker.WriteChecker`, a few a
   second, each acknowledged write recorded with its commit time) from here to step 6;
2. backup 1 (a Job made from the CronJob, as ``kubectl create job --from=cronjob/...``);
3. more writes, a failover (``kill 1`` in the primary's mysqld container), more writes;
4. the writer pauses: ``T1`` is a whole second at least one second after the last write and
   at least one before the next, so "committed up to T1" is the same set for the server's
   clock, the binlog's and the client's; more writes, backup 2 (it saves the binlogs since
   backup 1, across the failover), more writes, the same pause around ``T2``, more writes;
5. the source is deleted (its archiver with it): the restores read the bucket alone.
   Restore 1: a new 3-instance cluster to ``T1`` (backup 1 + the binlogs backup 2 saved).
   On s3 and azure its Secret first holds a key the server refuses (:func:`wrong_credentials`;
   fake-gcs-server checks none): the Job fails, the cluster says so (``Restored=False``,
   reason ``RestoreJobFailed``, the message naming the variable to fix) with a
   ``RestoreFailed`` Event and its instance 0 stays read-only; the Secret is fixed, the Job
   deleted, and the restore runs again and succeeds.
   Also on s3: ``restore3``, an hour ahead (past what the archive holds), is refused with the
   same condition and Event naming ``spec.restore.restorePoint`` and the latest point available;
6. restore 2: a new 1-instance cluster to ``T2`` with ``restore.schema: app`` (past the last
   backup: served by the archive), once the archive's ``state.json`` says it is complete
   past the last acknowledged write (read from the bucket by a client in the cluster);
7. checks: each restored cluster holds exactly the rows the source committed before its
   point (every acknowledged write before it, none after it); restore 1 is Healthy with each
   replica cloned (a ``Cloned`` Event per replica) and holding the same rows; restore 2 has
   schema ``app`` only (not the source's ``other``); ``status.restoredTime``, ``Restored``
   Events, ``status.backup``.

Recorded per backend (junit properties, on the summary line): the two backups' and the
restores' seconds, the acknowledged writes, the archive's lag (seconds from the last write
until the archive was seen complete past it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from e2e import moco_cluster as mc
from e2e import objectstores
from e2e.kubectl import Kubectl
from e2e.mysql_access import READONLY, WRITABLE, access, pod_ips, user_password
from moco.backup.archiver import STATE, archive_prefix, parse_state
from moco.controllers.backuparchive import ANN_BINLOG_ARCHIVE
from moco.mysql.conn import Endpoint, connect
from moco.testing.bucketcheck import Backend, BucketAccess
from moco.testing.checker import DATABASE, TABLE, WriteChecker
from moco.testing.objectstore import AZURITE_KEY

#: the source's creation, two backups, a failover, two restores (one failing first).
pytestmark = pytest.mark.timeout(2400)

SOURCE = "source"
POLICY = "daily"
SA = "backup-owner"
CREDS = "bucket-creds"
#: the writer's pause between two writes: a few writes a second keeps the 2-core node light
WRITE_PAUSE = 0.2
#: acknowledged writes wanted in each phase
PHASE_ACKS = 15
JOB_TIMEOUT = 600.0


@dataclass(frozen=True)
class Bucket:
    """What the manifests name of the backend deployed in the scenario's namespace."""

    access: BucketAccess
    backend: Backend

    def bucket_config(self) -> dict[str, Any]:
        bc: dict[str, Any] = {
            "bucketName": self.access.bucket,
            "endpointURL": self.access.endpoint,
            "backendType": self.backend,
        }
        if self.backend == "s3":
            bc |= {"region": self.access.region, "usePathStyle": True}
        if self.access.ca_cert:
            bc["caCert"] = "/bucket-ca/ca.crt"
        return bc

    def job_config(self, creds: str = CREDS) -> dict[str, Any]:
        jc: dict[str, Any] = {
            "serviceAccountName": SA,
            "envFrom": [{"secretRef": {"name": creds}}],
            "bucketConfig": self.bucket_config(),
            "workVolume": {"emptyDir": {}},
            "threads": 2,
        }
        if self.access.ca_cert:
            server = objectstores.SERVERS[self.backend].name
            jc["volumes"] = [{"name": "bucket-ca", "secret": {"secretName": f"{server}-ca"}}]
            jc["volumeMounts"] = [{"name": "bucket-ca", "mountPath": "/bucket-ca", "readOnly": True}]
        return jc


def secret(name: str, env: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {key: base64.b64encode(v.encode()).decode() for key, v in env.items()},
    }


def wrong_credentials(backend: Backend, env: dict[str, str]) -> tuple[dict[str, str], str] | None:
    """``env`` with a credential the backend's server refuses, and the variable the restore's
    condition must name; None for gcs: fake-gcs-server checks no credential at all (it serves
    any request, signed or not), so a refusal cannot be provoked there."""
    if backend == "s3":
        return env | {"AWS_SECRET_ACCESS_KEY": "not-the-key"}, "AWS_SECRET_ACCESS_KEY"
    if backend == "azure":
        bad = base64.b64encode(b"not-the-account-key-" * 3).decode()
        return {key: v.replace(AZURITE_KEY, bad) for key, v in env.items()}, "AZURE_STORAGE_CONNECTION_STRING"
    return None


def archive_synced(k: Kubectl, pod: str, access: BucketAccess, t: float, timeout: float = 180) -> float:
    """Wait until the binlog archive of the source says it is complete past ``t`` (its
    ``state.json``'s ``syncedTime``, read from the bucket as a client in the cluster reads it);
    the seconds from ``t`` until it was seen so (an upper bound of the archive's lag)."""
    key = archive_prefix(str(k.namespace), SOURCE) + STATE

    def synced() -> float | None:
        text = objectstores.read_object(k, pod, access, key)
        at = parse_state(text.encode()).synced_time if text else 0.0
        return at if at > t else None

    mc.wait(k, SOURCE, f"the binlog archive synced past {rfc3339(t)}", synced, timeout)
    return round(time.time() - t, 1)


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def restore_cluster(
    k: Kubectl, name: str, point: float, jc: dict[str, Any], replicas: int, schema: str = ""
) -> dict[str, Any]:
    m = mc.minimal(name, str(k.namespace), replicas=replicas)
    restore: dict[str, Any] = {
        "sourceName": SOURCE,
        "sourceNamespace": str(k.namespace),
        "restorePoint": rfc3339(point),
        "jobConfig": jc,
    }
    if schema:
        restore["schema"] = schema
    m["spec"]["restore"] = restore
    return m


# --- Jobs -----------------------------------------------------------------------------------------
def job_outcome(k: Kubectl, job: str) -> str:
    """``Complete``, ``Failed`` (also on a first failed Pod: the Job's retries would only make
    the scenario slower) or ``""`` (still running)."""
    status = k.get("job", job).get("status") or {}
    for c in status.get("conditions") or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed"):
            return str(c["type"])
    return "Failed" if status.get("failed") else ""


def job_logs(k: Kubectl, job: str) -> str:
    return k("logs", f"job/{job}", "--tail=60", check=False, timeout=30)


def run_backup(k: Kubectl, job: str) -> float:
    """A Job from the backup CronJob (``kubectl create job --from``), waited for; its seconds."""
    t0 = time.monotonic()
    k("create", "job", f"--from=cronjob/moco-backup-{SOURCE}", job)
    outcome = mc.wait(k, SOURCE, f"backup Job {job} finished", lambda: job_outcome(k, job), JOB_TIMEOUT)
    assert outcome == "Complete", f"backup Job {job}: {outcome}\n{job_logs(k, job)}"
    return round(time.monotonic() - t0, 1)


def restore_failed(k: Kubectl, name: str) -> dict[str, Any]:
    """Wait for ``Restored=False`` with reason ``RestoreJobFailed``; the condition."""

    def failed() -> dict[str, Any] | None:
        for c in mc.status(k, name).get("conditions") or []:
            if c["type"] == "Restored" and c.get("reason") == "RestoreJobFailed":
                return dict(c)
        return None

    cond: dict[str, Any] = mc.wait(k, name, "Restored=False (RestoreJobFailed)", failed, 600)
    assert cond["status"] == "False", cond
    return cond


def events(k: Kubectl, name: str, reason: str) -> list[dict[str, Any]]:
    items = k.get("events", f"--field-selector=involvedObject.name={name},reason={reason}")["items"]
    return list(items)


# --- writes ---------------------------------------------------------------------------------------
class Writer:
    """The checker through the source's primary, with pauses that make a clean restore point."""

    def __init__(self, chk: WriteChecker) -> None:
        self.chk = chk
        #: wall clock = monotonic + offset (acks carry monotonic times)
        self.offset = time.time() - time.monotonic()

    def wall(self, mono: float) -> float:
        return mono + self.offset

    async def phase(self, n: int = PHASE_ACKS, timeout: float = 180) -> None:  # noqa: ASYNC109
        """Wait until ``n`` more writes were acknowledged."""
        start = len(self.chk.acks)
        deadline = time.monotonic() + timeout
        while len(self.chk.acks) < start + n:
            assert time.monotonic() < deadline, f"{n} writes not acknowledged in {timeout}s"
            await asyncio.sleep(0.1)

    async def quiet_point(self) -> float:
        """Pause the writer around a whole second T (>= 1 s after the last write, >= 1 s before
        the next one); returns T (UNIX seconds)."""
        await self.chk.stop()
        last = self.wall(self.chk.acks[-1].acked)
        point = float(math.ceil(last + 1.0))
        await asyncio.sleep(max(0.0, point + 1.2 - time.time()))
        self.chk.start()
        return point

    def acked_before(self, point: float) -> set[int]:
        return {a.seq for a in self.chk.acks if self.wall(a.acked) < point}

    def acked_after(self, point: float) -> set[int]:
        return {a.seq for a in self.chk.acks if self.wall(a.sent) >= point}


async def rows(ep: Endpoint, before: float | None = None) -> set[int]:
    """The checker's rows on ``ep`` (those whose commit time is before ``before``, if given)."""
    sql = f"SELECT seq FROM {DATABASE}.{TABLE}"
    args: tuple[Any, ...] = ()
    if before is not None:
        sql += " WHERE at < FROM_UNIXTIME(%s)"
        args = (before,)
    async with await connect(ep, timeout=5.0, query_timeout=30.0) as c:
        await c.execute("SET time_zone = '+00:00'")
        found = await c.query(sql, args)
    return {int(r["seq"]) for r in found}


async def replica_rows(ep: Endpoint, expect: set[int], timeout: float = 120) -> set[int]:  # noqa: ASYNC109
    """The rows of a replica once they are ``expect`` (or what it has after ``timeout``)."""
    deadline = time.monotonic() + timeout
    got = await rows(ep)
    while got != expect and time.monotonic() < deadline:
        await asyncio.sleep(1)
        got = await rows(ep)
    return got


async def read_only(ep: Endpoint) -> bool:
    async with await connect(ep, timeout=5.0, query_timeout=30.0) as c:
        row = await c.query_one("SELECT @@super_read_only AS ro")
    return bool(row and int(row["ro"]))


async def schemas(ep: Endpoint) -> set[str]:
    async with await connect(ep, timeout=5.0, query_timeout=30.0) as c:
        found = await c.query("SELECT schema_name AS s FROM information_schema.schemata")
    return {str(r["s"]) for r in found}


# --- the scenario ---------------------------------------------------------------------------------
def diagnostics(k: Kubectl, kube: Kubectl) -> str:
    """What a failed run needs before its namespace goes: clusters, Jobs, Pods, Events, the
    logs of every container of the namespace and the controller's last lines."""
    out = [mc.diagnostics(k, SOURCE)]
    for what in ("mysqlclusters", "jobs", "pods", "deployments"):
        out.append(k("get", what, "-o", "wide", check=False, timeout=30))
    out.append(k("get", "events", "--sort-by=.lastTimestamp", check=False, timeout=30)[-6000:])
    for pod in k.get("pods")["items"]:
        name = pod["metadata"]["name"]
        for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
            log = k("logs", name, "-c", c["name"], "--tail=40", check=False, timeout=30)
            out.append(f"--- {name}/{c['name']}\n{log}")
    ctl = kube.ns(mc.SYSTEM_NAMESPACE)
    out.append("--- controller\n" + ctl("logs", f"deployment/{mc.CONTROLLER}", "--tail=80", check=False))
    return "\n".join(out)


@pytest.fixture
def ns(kube: Kubectl, request: pytest.FixtureRequest) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, f"backup-{request.node.callspec.params['backend']}") as k:
        yield k


@pytest.mark.parametrize("backend", ["s3", "gcs", "azure"])
async def test_backup_failover_and_point_in_time_restores(
    ns: Kubectl, kube: Kubectl, backend: Backend, record_testsuite_property: Callable[[str, object], None]
) -> None:
    try:
        await scenario(ns, kube, backend, record_testsuite_property)
    except BaseException:
        print(await asyncio.to_thread(diagnostics, ns, kube), flush=True)
        raise


async def scenario(
    k: Kubectl, kube: Kubectl, backend: Backend, record_testsuite_property: Callable[[str, object], None]
) -> None:
    t_start = time.monotonic()
    figures: dict[str, object] = {}

    def prop(key: str, value: object) -> None:
        figures[key] = value
        record_testsuite_property(f"backup_{backend}_{key}", value)
        print(f"[backup {backend}] {key}={value} at {time.monotonic() - t_start:.0f}s", flush=True)

    # the object store and its bucket, reached by the Service's DNS name
    image = objectstores.controller_image(kube)
    pod = await asyncio.to_thread(objectstores.client_pod, k, image)
    ref = (await asyncio.to_thread(objectstores.image_refs, backend))[backend]
    bucket_access = await asyncio.to_thread(
        objectstores.deploy, k, backend, pod=pod, image=ref, tls=backend == "s3"
    )
    bucket = Bucket(bucket_access, backend)
    k.apply(json.dumps(secret(CREDS, dict(bucket_access.env))))
    k.apply(json.dumps({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA}}))
    policy = {
        "apiVersion": "moco.cybozu.com/v1beta2",
        "kind": "BackupPolicy",
        "metadata": {"name": POLICY, "annotations": {ANN_BINLOG_ARCHIVE: "true"}},
        "spec": {"schedule": "@daily", "jobConfig": bucket.job_config()},
    }
    k.apply(json.dumps(policy))
    source = mc.minimal(SOURCE, str(k.namespace), replicas=3)
    source["spec"]["backupPolicyName"] = POLICY
    mc.apply(k, source)
    prop("source_healthy_s", round(await asyncio.to_thread(mc.wait_healthy, k, SOURCE), 1))
    archiver = f"moco-binlog-archive-{SOURCE}"
    await asyncio.to_thread(k, "rollout", "status", f"deployment/{archiver}", "--timeout=300s", timeout=310)

    with access(k, SOURCE) as acc:
        async with await connect(acc.primary(WRITABLE), timeout=5.0, query_timeout=30.0) as c:
            await c.execute("CREATE DATABASE IF NOT EXISTS other")
            await c.execute("CREATE TABLE IF NOT EXISTS other.t (id INT PRIMARY KEY)")
            await c.execute("INSERT IGNORE INTO other.t VALUES (1)")
        chk = WriteChecker(primary=acc.primary, pause=WRITE_PAUSE, connect_timeout=2.0, write_timeout=5.0)
        await chk.setup(timeout=60)
        w = Writer(chk)
        chk.start()
        try:
            await w.phase()
            prop("backup1_s", await asyncio.to_thread(run_backup, k, "backup-1"))
            await w.phase()
            old = await asyncio.to_thread(mc.primary_index, k, SOURCE)
            await asyncio.to_thread(
                k, "exec", f"moco-{SOURCE}-{old}", "-c", "mysqld", "--", "sh", "-c", "kill 1"
            )

            def moved() -> bool:
                return mc.primary_index(k, SOURCE) != old and mc.is_healthy(k, SOURCE)

            await asyncio.to_thread(mc.wait, k, SOURCE, f"a primary other than {old}", moved, 420)
            await w.phase()
            t1 = await w.quiet_point()
            await w.phase()
            prop("backup2_s", await asyncio.to_thread(run_backup, k, "backup-2"))
            await w.phase()
            t2 = await w.quiet_point()
            await w.phase()
            # the archive must hold a transaction after T2: its marker past the last write
            last = w.wall(chk.acks[-1].acked)
            prop("archive_lag_s", await asyncio.to_thread(archive_synced, k, pod, bucket_access, last))
        finally:
            await chk.stop()
        prop("acknowledged", len(chk.acks))
        assert chk.gaps(), "the writes never moved to another primary"
        expect1 = await rows(acc.primary(READONLY), before=t1)
        expect2 = await rows(acc.primary(READONLY), before=t2)
    for point, expect in ((t1, expect1), (t2, expect2)):
        assert w.acked_before(point) <= expect, "acknowledged writes missing on the source"
        assert not (w.acked_after(point) & expect), "the quiet window was not quiet"
    assert expect1 < expect2

    st = mc.status(k, SOURCE)["backup"]
    assert st["sourceUUID"], st
    assert st["gtidSet"], st
    assert st["binlogSize"] > 0, st
    assert events(k, SOURCE, "BackupCreated"), "no BackupCreated Event"
    # the restores read the bucket alone: the source (and its archiver) is gone before they start
    t0 = time.monotonic()
    await asyncio.to_thread(k, "delete", "mysqlcluster", SOURCE, "--wait=true", timeout=300)
    prop("source_deleted_s", round(time.monotonic() - t0, 1))

    # restore 1 (to T1), first with a credential the store refuses (where it checks any)
    wrong = wrong_credentials(backend, dict(bucket_access.env))
    k.apply(json.dumps(secret("restore-creds", wrong[0] if wrong else dict(bucket_access.env))))
    r1, r2, r3 = "restore1", "restore2", "restore3"
    t0 = time.monotonic()
    mc.apply(k, restore_cluster(k, r1, t1, bucket.job_config("restore-creds"), replicas=3))
    mc.apply(k, restore_cluster(k, r2, t2, bucket.job_config(), replicas=1, schema=DATABASE))
    # an hour ahead: past what the archive holds, refused (not restored to less); the check is
    # the engine's, the same for every backend: on one
    far = float(math.floor(time.time()) + 3600)
    refuse_far = backend == "s3"
    if refuse_far:
        mc.apply(k, restore_cluster(k, r3, far, bucket.job_config(), replicas=1))
    if wrong:
        cond = await asyncio.to_thread(restore_failed, k, r1)
        assert f"moco-restore-{r1}" in cond["message"], cond
        assert wrong[1] in cond["message"], f"the condition does not name {wrong[1]}: {cond}"
        assert await asyncio.to_thread(events, k, r1, "RestoreFailed"), "no RestoreFailed Event"
        log = job_logs(k, f"moco-restore-{r1}")
        assert "403" in log or "denied" in log.lower() or "signature" in log.lower(), log
        assert not mc.status(k, r1).get("restoredTime")
        # no instance is labelled primary while the cluster restores: instance 0 by its Pod IP
        ip = (await asyncio.to_thread(pod_ips, k, r1)).get(f"moco-{r1}-0")
        assert ip, f"moco-{r1}-0 has no IP"
        ro = Endpoint(ip, 3306, READONLY[0], user_password(k, r1, READONLY[1]))
        assert await read_only(ro), f"moco-{r1}-0 is writable after a failed restore"
        k.apply(json.dumps(secret("restore-creds", dict(bucket_access.env))))
        k("delete", "job", f"moco-restore-{r1}", "--wait=true", timeout=120)
        t0 = time.monotonic()
    if refuse_far:
        cond3 = await asyncio.to_thread(restore_failed, k, r3)
        named = f"spec.restore.restorePoint {rfc3339(far)} is past what the bucket holds"
        assert named in cond3["message"], cond3
        assert "the latest point available is" in cond3["message"], cond3
        told = await asyncio.to_thread(events, k, r3, "RestoreFailed")
        assert any(named in str(e.get("message")) for e in told), told
        prop(f"{r3}_refused_s", round(time.monotonic() - t0, 1))
        k("delete", "mysqlcluster", r3, "--wait=false")

    for name in (r1, r2):

        def restored(name: str = name) -> str:
            return str(mc.status(k, name).get("restoredTime") or "")

        await asyncio.to_thread(mc.wait, k, name, f"{name} restoredTime", restored, 900)
        prop(f"{name}_s", round(time.monotonic() - t0, 1))
        assert await asyncio.to_thread(events, k, name, "Restored"), f"no Restored Event on {name}"
    for name in (r1, r2):
        await asyncio.to_thread(mc.wait_healthy, k, name)

    with access(k, r1) as acc1:
        got1 = await rows(acc1.primary(READONLY))
        assert got1 == expect1, (
            f"restore to T1: {len(got1)} rows, {len(expect1)} expected; "
            f"missing {sorted(expect1 - got1)[:20]}, extra {sorted(got1 - expect1)[:20]}"
        )
        for ep in await asyncio.to_thread(acc1.instances, READONLY):
            got = await replica_rows(ep, expect1)
            assert got == expect1, f"{ep.address}: {len(got)} rows, {len(expect1)} expected"
    roles = mc.roles(k, r1)
    assert sorted(roles.values()) == ["primary", "replica", "replica"], roles
    # the replicas hold the restored rows because they were cloned from the restored primary
    # (its binlogs begin after the restore: replication alone could not have brought them)
    cloned = [str(e.get("message")) for e in await asyncio.to_thread(events, k, r1, "Cloned")]
    for pod, role in roles.items():
        index = pod.rsplit("-", 1)[-1]
        if role == "replica":
            assert any(m.startswith(f"instance {index} was cloned") for m in cloned), (pod, cloned)
    with access(k, r2) as acc2:
        got2 = await rows(acc2.primary(READONLY))
        assert got2 == expect2, (
            f"restore of schema {DATABASE} to T2 (past the last backup): {len(got2)} rows, "
            f"{len(expect2)} expected; missing {sorted(expect2 - got2)[:20]}, "
            f"extra {sorted(got2 - expect2)[:20]}"
        )
        assert "other" not in await schemas(acc2.primary(READONLY))
    prop("total_s", round(time.monotonic() - t_start, 1))
    print(json.dumps({"backend": backend, **figures}))
