"""The bucket interface against the real servers: versitygw (S3), fake-gcs-server (GCS), azurite
(Azure), built from MOCO's options and the environment MOCO's users set."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from moco.backup.bucket import Bucket, BucketConfig, open_bucket
from moco.backup.errors import BucketAccessDenied, BucketError
from moco.testing.objectstore import ObjectStore


def bucket_of(store: ObjectStore, env: dict[str, str] | None = None, ca_file: str = "") -> Bucket:
    cfg = BucketConfig(
        name=store.bucket,
        backend_type=store.backend,
        endpoint_url=store.endpoint if store.backend == "s3" else "",
        region=store.region,
        use_path_style=store.path_style,
        ca_cert_file=ca_file,
        op_timeout=30.0,
    )
    return open_bucket(cfg, dict(store.env) if env is None else env)


async def _chunks(n: int, size: int) -> AsyncIterator[bytes]:
    for i in range(n):
        yield bytes([i + 1]) * size


@pytest.mark.objectstore
async def test_multipart_round_trip_list_delete(object_store: ObjectStore) -> None:
    b = bucket_of(object_store)
    prefix = f"moco/t-{secrets.token_hex(4)}/c/"
    key = f"{prefix}20260101-000000/clone.tar.zst"
    size = 7 * 1024 * 1024
    sent = await b.put_stream(key, _chunks(5, size), part_size=5 * 1024 * 1024, concurrency=4)
    assert sent == 5 * size
    got = bytearray()
    async for c in b.get_stream(key, chunk_size=1 << 20):
        got += c
    assert bytes(got) == b"".join(bytes([i + 1]) * size for i in range(5))
    await b.put_bytes(f"{prefix}20260101-000000/binlog.tar.zst", b"x")
    assert await b.list(prefix) == [f"{prefix}20260101-000000/binlog.tar.zst", key]
    assert await b.exists(key)
    await b.delete(key)
    assert not await b.exists(key)
    assert await b.list(prefix) == [f"{prefix}20260101-000000/binlog.tar.zst"]


@pytest.mark.objectstore
async def test_bad_s3_credentials_name_the_fix(s3_store: ObjectStore) -> None:
    env = {**s3_store.env, "AWS_SECRET_ACCESS_KEY": "wrong"}
    b = bucket_of(s3_store, env)
    with pytest.raises(BucketAccessDenied, match="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        await b.list("moco/")


@pytest.mark.objectstore
async def test_bad_azure_credentials_name_the_fix(azure_store: ObjectStore) -> None:
    env = dict(azure_store.env)
    env["AZURE_STORAGE_CONNECTION_STRING"] = env["AZURE_STORAGE_CONNECTION_STRING"].replace(
        "AccountKey=", "AccountKey=AAAA"
    )
    b = bucket_of(azure_store, env)
    with pytest.raises(BucketAccessDenied, match="AZURE_STORAGE_CONNECTION_STRING"):
        await b.list("moco/")


@pytest.mark.objectstore
async def test_tls_with_the_ca_cert_file(s3_tls_store: ObjectStore, tmp_path: Path) -> None:
    assert s3_tls_store.ca_cert is not None
    ca = tmp_path / "ca.crt"
    ca.write_bytes(s3_tls_store.ca_cert)
    b = bucket_of(s3_tls_store, ca_file=str(ca))
    await b.put_bytes("moco/bucket-tls/x", b"hello")
    assert await b.get_bytes("moco/bucket-tls/x") == b"hello"
    untrusted = bucket_of(s3_tls_store)
    with pytest.raises(BucketError) as err:
        await untrusted.list("moco/")
    assert not isinstance(err.value, BucketAccessDenied)
