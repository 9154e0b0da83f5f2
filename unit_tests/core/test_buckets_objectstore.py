"""The three object-store servers of the test ground, driven through obstore as the backup
programs drive them: multi-megabyte objects put (single request and multipart), read back whole
and by range, listed, deleted; credentials and TLS enforced by the real servers.

Each client is built from nothing but what :class:`moco.testing.objectstore.ObjectStore` hands
out (endpoint, bucket, region, environment, CA), so these tests also prove that hand-out enough.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import obstore
import pytest

from moco.testing import bucketadmin, bucketcheck, ground, objectstore
from moco.testing.bucketcheck import Client
from moco.testing.objectstore import ObjectStore
from moco.testing.pki import CA

pytestmark = pytest.mark.objectstore

MiB = 1 << 20
TIMEOUT = 60.0


def client(store: ObjectStore, *, ca: bytes | None = None, env: Mapping[str, str] | None = None) -> Client:
    return bucketcheck.client(store.access(), ca=ca, env=env)


async def round_trip(c: Client, key: str, data: bytes, *, multipart: bool) -> None:
    rates = await bucketcheck.round_trip(c, key, data, multipart=multipart)
    assert rates["put_mb_s"] > 0
    assert rates["get_mb_s"] > 0


@pytest.mark.parametrize("multipart", [False, True], ids=["single", "multipart"])
async def test_a_multi_megabyte_object_round_trips(object_store: ObjectStore, multipart: bool) -> None:
    data = os.urandom(12 * MiB + 12345)
    key = f"moco/ns/cluster/{object_store.backend}-{multipart}/dump.tar"
    await round_trip(client(object_store), key, data, multipart=multipart)


async def test_objects_of_many_keys_list_by_prefix(object_store: ObjectStore) -> None:
    c = client(object_store)
    keys = [f"moco/ns/list/{i:03d}" for i in range(5)] + ["moco/ns/other/x"]
    for k in keys:
        await asyncio.wait_for(obstore.put_async(c, k, k.encode()), TIMEOUT)
    listed = await asyncio.wait_for(obstore.list(c, prefix="moco/ns/list").collect_async(), TIMEOUT)
    assert sorted(m["path"] for m in listed) == keys[:5]
    tops = await asyncio.wait_for(obstore.list_with_delimiter_async(c, prefix="moco/ns"), TIMEOUT)
    assert sorted(tops["common_prefixes"]) == ["moco/ns/list", "moco/ns/other"]
    await asyncio.wait_for(obstore.delete_async(c, keys), TIMEOUT)


def test_creating_the_bucket_again_is_a_no_op(object_store: ObjectStore) -> None:
    s = object_store
    bucketadmin.create_bucket(s.backend, s.endpoint, s.bucket, s.env, s.ca_cert, s.region)


@pytest.mark.parametrize("backend", ["s3", "azure"])
async def test_wrong_credentials_are_refused(backend: str, request: pytest.FixtureRequest) -> None:
    store: ObjectStore = request.getfixturevalue(f"{backend}_store")
    env = dict(store.env)
    if backend == "s3":
        env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    else:
        env["AZURE_STORAGE_ACCOUNT_KEY"] = "bm90LXRoZS1rZXk="
    with pytest.raises(Exception, match=r"40[13]"):
        await asyncio.wait_for(obstore.put_async(client(store, env=env), "moco/denied", b"x"), TIMEOUT)


def test_bucket_creation_is_signed(s3_store: ObjectStore) -> None:
    """A wrong secret is refused: the server checks the SigV4 signature bucketadmin computes."""
    with pytest.raises(bucketadmin.BucketError, match="403"):
        bucketadmin.create_s3_bucket(
            s3_store.endpoint,
            "other",
            access_key=s3_store.env["AWS_ACCESS_KEY_ID"],
            secret_key="not-the-secret",
            region=s3_store.region,
        )


async def test_tls_verified_with_the_ca_and_refused_without(s3_tls_store: ObjectStore) -> None:
    s = s3_tls_store
    assert s.endpoint.startswith("https://127.0.0.1:")
    assert s.ca_cert is not None
    await round_trip(client(s, ca=s.ca_cert), "moco/tls/dump", os.urandom(6 * MiB), multipart=True)
    with pytest.raises(Exception, match=r"(?i)certificate|tls|ssl"):
        await asyncio.wait_for(obstore.put_async(client(s), "moco/tls/no-ca", b"x"), TIMEOUT)
    other = CA.create("another CA", valid=datetime.timedelta(days=1), backdate=datetime.timedelta(0))
    with pytest.raises(Exception, match=r"(?i)certificate|tls|ssl"):
        await asyncio.wait_for(
            obstore.put_async(client(s, ca=other.cert_pem()), "moco/tls/other", b"x"), TIMEOUT
        )
    with pytest.raises(bucketadmin.BucketError, match=r"(?i)certificate"):
        bucketadmin.create_gcs_bucket(s.endpoint, "x", ca_pem=other.cert_pem())


@pytest.mark.parametrize("backend", ["gcs", "azure"])
async def test_tls_of_the_other_backends(backend: objectstore.Backend) -> None:
    with objectstore.running(backend, tls=True) as s:
        assert s.endpoint.startswith("https://")
        assert s.ca_cert is not None
        await round_trip(client(s, ca=s.ca_cert), "moco/tls/dump", os.urandom(6 * MiB), multipart=True)
        with pytest.raises(Exception, match=r"(?i)certificate|tls|ssl"):
            await asyncio.wait_for(obstore.put_async(client(s), "moco/tls/no-ca", b"x"), TIMEOUT)


def test_a_stopped_server_leaves_nothing() -> None:
    s = objectstore.start("s3", bucket="other")
    top = s.data_dir.parent
    assert s.alive()
    assert (ground.state_dir() / "pids" / str(s.pid)).exists()
    assert s.rss_kib() > 0
    s.stop()
    assert not s.alive()
    assert not top.exists()
    assert not (ground.state_dir() / "pids" / str(s.pid)).exists()
    s.stop()  # idempotent


def test_servers_stop_with_the_program_that_started_them_on_sigterm() -> None:
    script = (
        "import sys, time\n"
        "from moco.testing import objectstore\n"
        "s = objectstore.start('s3')\n"
        "print(s.pid, s.data_dir, flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        pid_s, data_dir = proc.stdout.readline().split()
        pid = int(pid_s)
        assert (ground.state_dir() / "pids" / pid_s).exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert not (ground.state_dir() / "pids" / pid_s).exists()
    assert not Path(data_dir).parent.exists()
