"""The Kubernetes side of moco-backup against a real kube-apiserver with moco's CRDs: the Pods it
reads, the source it picks, ``status.backup`` (validated by the CRD's schema), the binlog range
it derives from the last backup, ``status.restoredTime`` and the Events.

The MySQL/bucket cores are replaced by recorders here (they are proved on real mysqld in
test_backup_restore_mysql.py); what is real is the apiserver and every object it stores.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from obstore.store import MemoryStore

from moco import constants
from moco.api import MySQLCluster
from moco.backup import kubeside
from moco.backup.backup import BackupRequest, BackupResult
from moco.backup.bucket import Bucket
from moco.backup.choose import WARN_BINLOG_GAP
from moco.backup.errors import BackupError, RestorePointUnavailable
from moco.backup.restore import RestoreRequest, RestoreResult
from moco.backup.scratch import Tools
from moco.controllers import backup
from moco.kube import errors as kerrors
from moco.kube.client import Client
from moco.kube.resource import EVENTS, JOBS, PODS, ROLEBINDINGS, ROLES
from moco.mysql.conn import Endpoint
from moco.testing.envtest import Envtest
from unit_tests.controllers.harness import cluster_manifest

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(120)]

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def make_pods(kube: Client, ns: str, name: str, n: int, ready: list[bool]) -> None:
    for i in range(n):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"moco-{name}-{i}",
                "namespace": ns,
                "labels": {
                    constants.LABEL_APP_NAME: constants.APP_NAME_MYSQL,
                    constants.LABEL_APP_INSTANCE: name,
                    constants.LABEL_APP_CREATED_BY: constants.APP_CREATOR,
                },
            },
            "spec": {"containers": [{"name": "mysqld", "image": "mysql:test"}]},
        }
        await kube.create(PODS, pod, ns)

        def mutate(obj: dict[str, Any], i: int = i) -> bool:
            obj["status"] = {
                "podIP": f"10.0.0.{i + 1}",
                "conditions": [{"type": "Ready", "status": "True" if ready[i] else "False"}],
            }
            return True

        await kube.update_status_with_retry(PODS, f"moco-{name}-{i}", ns, mutate)


async def no_settings(ep: Endpoint) -> tuple[str, ...]:
    """Stands for the scratch options read from a server (none runs here)."""
    return ("--collation-server=utf8mb4_unicode_ci",)


class Recorder:
    """Stands for the backup core: records the request, answers a result."""

    def __init__(self, binlog_error: str = "") -> None:
        self.requests: list[BackupRequest] = []
        self.binlog_error = binlog_error

    async def __call__(self, req: BackupRequest, bucket: Bucket, tools: Tools) -> BackupResult:
        self.requests.append(req)
        n = len(self.requests)
        return BackupResult(
            time=T0 + timedelta(hours=n),
            elapsed=1.5,
            source_uuid=f"uuid-{req.source.host}",
            binlog_filename=f"binlog.00000{n}",
            gtid_set=f"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-{n * 10}",
            dump_size=1000 * n,
            binlog_size=10 if n > 1 else 0,
            work_dir_usage=5000,
            warnings=[f"failed to backup binary logs: {self.binlog_error}"] if self.binlog_error else [],
            binlog_error=self.binlog_error,
        )


async def make_cluster(kube: Client, ns: str, name: str, replicas: int) -> None:
    """The MySQLCluster with the status the controller gives it (instance 0 primary)."""
    await kube.create(kubeside.MYSQLCLUSTERS, cluster_manifest(ns, name, replicas=replicas), ns)

    def mutate(obj: dict[str, Any]) -> bool:
        obj["status"] = {"currentPrimaryIndex": 0}
        return True

    await kube.update_status_with_retry(kubeside.MYSQLCLUSTERS, name, ns, mutate)


async def reasons(kube: Client, ns: str) -> list[str]:
    evs = await kube.list(EVENTS, ns)
    return sorted(str(e["reason"]) for e in evs.get("items") or [])


async def test_backup_writes_mocos_status_and_events(kube: Client, namespace: str, tmp_path: Path) -> None:
    await make_cluster(kube, namespace, "c", 3)
    await make_pods(kube, namespace, "c", 3, [True, True, True])
    bucket = Bucket(MemoryStore(), name="b")
    opts = kubeside.Options(work_dir=tmp_path, threads=2, password="pw")
    uuids = {"0": "u0", "1": "u1", "2": "u2"}

    async def read_uuids(pods: list[dict[str, Any]], password: str) -> dict[str, str]:
        assert password == "pw"
        return dict(uuids)

    rec = Recorder()
    await kubeside.backup(
        kube,
        bucket,
        Tools(),
        opts,
        namespace,
        "c",
        runner=rec,
        read_uuids=read_uuids,
        read_settings=no_settings,
    )
    first = rec.requests[0]
    assert first.source.host == "10.0.0.2"  # a replica (the primary is 0)
    assert first.source.user == constants.BACKUP_USER
    assert first.scratch_args == ("--collation-server=utf8mb4_unicode_ci",)  # read from the source
    assert first.binlogs is None
    cluster = await kube.get(kubeside.MYSQLCLUSTERS, "c", namespace)
    st = cluster["status"]["backup"]
    assert st["time"] == "2026-01-02T04:04:05Z"
    assert st["elapsed"] == "1.5s"
    assert st["sourceIndex"] == 1
    assert st["uuidSet"] == uuids
    assert st["gtidSet"].endswith(":1-10")
    assert st["dumpSize"] == 1000
    assert await reasons(kube, namespace) == ["BackupCreated"]

    # the second backup copies the binlogs since the first, from the same source
    rec2 = Recorder(binlog_error="boom")
    await kubeside.backup(
        kube,
        bucket,
        Tools(),
        opts,
        namespace,
        "c",
        runner=rec2,
        read_uuids=read_uuids,
        read_settings=no_settings,
    )
    second = rec2.requests[0]
    assert second.binlogs is not None
    assert second.binlogs.start_file == "binlog.000001"
    assert second.binlogs.exclude_gtids.endswith(":1-10")
    assert second.binlogs.last_time == datetime(2026, 1, 2, 4, 4, 5, tzinfo=UTC)
    assert not second.binlogs_from_oldest
    st = (await kube.get(kubeside.MYSQLCLUSTERS, "c", namespace))["status"]["backup"]
    assert st["warnings"] == ["failed to backup binary logs: boom"]
    assert await reasons(kube, namespace) == ["BackupCreated", "BackupCreated", "BackupNoBinlog"]

    # every instance was re-created: the primary, no binlogs, a warning (MOCO's rule)
    uuids.update({"0": "x0", "1": "x1", "2": "x2"})
    rec3 = Recorder()
    await kubeside.backup(
        kube,
        bucket,
        Tools(),
        opts,
        namespace,
        "c",
        runner=rec3,
        read_uuids=read_uuids,
        read_settings=no_settings,
    )
    assert rec3.requests[0].source.host == "10.0.0.1"
    assert rec3.requests[0].binlogs is None
    st = (await kube.get(kubeside.MYSQLCLUSTERS, "c", namespace))["status"]["backup"]
    assert st["warnings"] == [WARN_BINLOG_GAP]


async def test_restore_sets_restored_time_and_event(kube: Client, namespace: str, tmp_path: Path) -> None:
    await make_cluster(kube, namespace, "t", 1)
    await make_pods(kube, namespace, "t", 1, [False])
    seen: list[RestoreRequest] = []

    async def runner(req: RestoreRequest, bucket: Bucket, tools: Tools, **kw: Any) -> RestoreResult:
        seen.append(req)
        return RestoreResult(T0, "k", "", "", 0, None, 1.0)

    before = datetime.now(UTC).replace(microsecond=0)
    await kubeside.restore(
        kube,
        Bucket(MemoryStore(), name="b"),
        Tools(),
        kubeside.Options(work_dir=tmp_path, threads=2, password="admin-pw"),
        source_namespace="src-ns",
        source_name="src",
        namespace=namespace,
        name="t",
        restore_point=T0,
        schema="app",
        users=("u1",),
        env={"POD_IP": "10.1.2.3"},
        runner=runner,
        pod_wait=10,
        read_settings=no_settings,
    )
    req = seen[0]
    assert req.scratch_args == ("--collation-server=utf8mb4_unicode_ci",)
    assert (req.target.host, req.target.port, req.target.user) == ("10.0.0.1", 3306, constants.ADMIN_USER)
    assert req.advertise == "10.1.2.3"
    assert (req.schema, req.users, req.source_name) == ("app", ("u1",), "src")
    assert req.passwords == {constants.ADMIN_USER: "admin-pw"}
    cluster = await kube.get(kubeside.MYSQLCLUSTERS, "t", namespace)
    restored = datetime.fromisoformat(cluster["status"]["restoredTime"].replace("Z", "+00:00"))
    assert restored >= before
    assert await reasons(kube, namespace) == ["Restored"]


async def test_the_archivers_primary_lookup_fails_only_with_backup_errors(
    kube: Client, namespace: str
) -> None:
    # the archiver retries a BackupError and ends on anything else: a NotFound (the Pod being
    # re-created after a failover) must not end it
    ns = namespace
    lookup = kubeside.primary_lookup(kube, ns, "arch", "pw")
    with pytest.raises(BackupError, match=f"primary of {ns}/arch"):
        await lookup()  # no cluster
    await make_cluster(kube, ns, "arch", replicas=3)
    with pytest.raises(BackupError, match=f"primary of {ns}/arch"):
        await lookup()  # no Pod
    await make_pods(kube, ns, "arch", 3, [True, True, True])

    def promote(obj: dict[str, Any]) -> bool:
        obj["status"]["currentPrimaryIndex"] = 2
        return True

    await kube.update_status_with_retry(kubeside.MYSQLCLUSTERS, "arch", ns, promote)
    ep = await lookup()
    assert (ep.host, ep.port, ep.user, ep.password) == ("10.0.0.3", 3306, constants.BACKUP_USER, "pw")


async def test_failed_restore_says_why(
    apiserver: Envtest, kube: Client, namespace: str, tmp_path: Path
) -> None:
    # (a short name: the namespace is made of it, and the Job's identity must fit a certificate's CN)
    # the Restored condition of a failed restore said only the Job's "BackoffLimitExceeded": the
    # program records its error on its own Job (the restore Role lets it patch that Job and no
    # other), where the controller reads it into the condition and the RestoreFailed Event
    manifest = cluster_manifest(namespace, "t", replicas=1)
    manifest["spec"]["restore"] = {
        "sourceName": "src",
        "sourceNamespace": "src-ns",
        "restorePoint": "2026-01-02T03:04:05Z",
        "jobConfig": {
            "serviceAccountName": "restorer",
            "bucketConfig": {"bucketName": "b", "endpointURL": "http://s3.example:7070"},
            "workVolume": {"emptyDir": {}},
        },
    }
    cluster = MySQLCluster.parse(await kube.create(kubeside.MYSQLCLUSTERS, manifest, namespace))
    await make_pods(kube, namespace, "t", 1, [False])
    await kube.create(ROLES, backup.restore_role(cluster), namespace)
    await kube.create(ROLEBINDINGS, backup.role_binding(cluster, "moco-restore-t", "restorer"), namespace)
    await kube.create(JOBS, backup.restore_job(cluster, "moco-backup:test"), namespace)
    other = backup.restore_job(cluster, "moco-backup:test")
    other["metadata"] = {"name": "another-job"}
    await kube.create(JOBS, other, namespace)
    identity = f"system:serviceaccount:{namespace}:restorer"
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    why = (
        "spec.restore.restorePoint 2026-01-02T03:04:05Z is past what the bucket holds for src-ns/src: "
        "the latest point available is 2026-01-02T03:00:00Z"
    )

    async def runner(req: RestoreRequest, bucket: Bucket, tools: Tools, **kw: Any) -> RestoreResult:
        raise RestorePointUnavailable(why)

    async with await Client.from_kubeconfig(apiserver.mint_kubeconfig(identity, groups)) as job_sa:
        with pytest.raises(RestorePointUnavailable):
            await kubeside.restore(
                job_sa,
                Bucket(MemoryStore(), name="b"),
                Tools(),
                kubeside.Options(work_dir=tmp_path, threads=2, password="admin-pw"),
                source_namespace="src-ns",
                source_name="src",
                namespace=namespace,
                name="t",
                restore_point=T0,
                schema="",
                users=(),
                env={"POD_IP": "10.1.2.3"},
                runner=runner,
                pod_wait=10,
                read_settings=no_settings,
            )
        with pytest.raises(kerrors.Forbidden):
            await job_sa.patch(JOBS, "another-job", {"metadata": {"annotations": {"a": "b"}}}, namespace)
    job = await kube.get(JOBS, "moco-restore-t", namespace)
    assert job["metadata"]["annotations"][constants.ANN_RESTORE_ERROR] == why
    cluster = MySQLCluster.parse(await kube.get(kubeside.MYSQLCLUSTERS, "t", namespace))
    assert not (cluster.status and cluster.status.restored_time)
