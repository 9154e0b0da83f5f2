"""The bucket interface over obstore's in-memory and local-directory stores, and its options."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from obstore.store import LocalStore, MemoryStore

from moco.backup.bucket import Bucket, BucketConfig, open_bucket, parse_connection_string
from moco.backup.errors import BucketAccessDenied, InvalidArgument, ObjectNotFound


async def _chunks(n: int, size: int) -> AsyncIterator[bytes]:
    for i in range(n):
        yield bytes([i % 251]) * size


@pytest.mark.parametrize("kind", ["memory", "local"])
async def test_put_get_list_delete(kind: str, tmp_path: Path) -> None:
    store = MemoryStore() if kind == "memory" else LocalStore(tmp_path)
    b = Bucket(store, name="b")
    sent = await b.put_stream(
        "moco/ns/c/20260101-000000/clone.tar.zst", _chunks(7, 3 * 1024 * 1024), part_size=5 * 1024 * 1024
    )
    assert sent == 7 * 3 * 1024 * 1024
    await b.put_bytes("moco/ns/c/20260101-000000/meta.json", b"{}")
    await b.put_bytes("moco/ns/other/20260101-000000/meta.json", b"{}")
    got = b"".join(
        [c async for c in b.get_stream("moco/ns/c/20260101-000000/clone.tar.zst", chunk_size=1 << 20)]
    )
    assert got == b"".join([c async for c in _chunks(7, 3 * 1024 * 1024)])
    assert await b.list("moco/ns/c/") == [
        "moco/ns/c/20260101-000000/clone.tar.zst",
        "moco/ns/c/20260101-000000/meta.json",
    ]
    assert await b.exists("moco/ns/c/20260101-000000/meta.json")
    await b.delete("moco/ns/c/20260101-000000/meta.json")
    await b.delete("moco/ns/c/20260101-000000/meta.json")  # idempotent
    assert not await b.exists("moco/ns/c/20260101-000000/meta.json")
    assert await b.get_bytes("moco/ns/other/20260101-000000/meta.json") == b"{}"


async def test_missing_object_is_object_not_found() -> None:
    b = Bucket(MemoryStore(), name="b")
    with pytest.raises(ObjectNotFound, match="no object"):
        await b.get_bytes("nope")
    with pytest.raises(ObjectNotFound):
        _ = [c async for c in b.get_stream("nope")]


def test_connection_string_keeps_equal_signs() -> None:
    cs = parse_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=abc==;"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    )
    assert cs["AccountKey"] == "abc=="
    assert cs["BlobEndpoint"] == "http://127.0.0.1:10000/devstoreaccount1"


def test_options_are_checked() -> None:
    with pytest.raises(InvalidArgument, match="backend-type"):
        open_bucket(BucketConfig("b", backend_type="ftp"), {})
    with pytest.raises(InvalidArgument, match="AZURE_STORAGE_CONNECTION_STRING"):
        open_bucket(BucketConfig("b", backend_type="azure"), {})
    with pytest.raises(InvalidArgument, match="no bucket name"):
        open_bucket(BucketConfig(""), {})


def test_bad_ca_cert_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(InvalidArgument, match="not a PEM"):
        open_bucket(BucketConfig("b", endpoint_url="https://127.0.0.1:1", ca_cert_file=str(bad)), {})


def test_each_backend_builds() -> None:
    s3 = open_bucket(
        BucketConfig("b", endpoint_url="http://127.0.0.1:9000", use_path_style=True, region="x"),
        {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
    )
    assert s3.backend == "s3"
    gcs = open_bucket(BucketConfig("b", backend_type="gcs"), {"STORAGE_EMULATOR_HOST": "127.0.0.1:4443"})
    assert gcs.backend == "gcs"
    az = open_bucket(
        BucketConfig("b", backend_type="azure"),
        {
            "AZURE_STORAGE_CONNECTION_STRING": "AccountName=devstoreaccount1;AccountKey=a2V5;"
            "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1"
        },
    )
    assert az.backend == "azure"


@pytest.mark.parametrize(
    ("backend", "variable"),
    [
        ("s3", "AWS_SECRET_ACCESS_KEY"),
        ("gcs", "GOOGLE_APPLICATION_CREDENTIALS"),
        ("azure", "AZURE_STORAGE_KEY"),
    ],
)
def test_refused_credentials_name_the_variables_and_where_a_restore_sets_them(
    backend: str, variable: str
) -> None:
    """A refusal seen by a restore names the variables and the fields that set them for a
    restore (``spec.restore.jobConfig``) as well as for a backup (the BackupPolicy's)."""
    b = Bucket(MemoryStore(), name="b", backend=backend)
    err = b._error(PermissionError("Server returned non-2xx status code: 403 Forbidden"), "listing of x/")
    assert isinstance(err, BucketAccessDenied)
    assert variable in str(err)
    assert "spec.restore.jobConfig.env / envFrom" in str(err)
    assert "the BackupPolicy's jobConfig.env / envFrom" in str(err)


@pytest.mark.parametrize(
    "text",
    [
        # a TLS failure whose elapsed time holds "403" (CI: test_tls_with_the_ca_cert_file)
        "Generic S3 error: Error performing list request: ... after 0 retries (elapsed 0.140371s):"
        " invalid peer certificate: UnknownIssuer",
        "connect to https://127.0.0.1:54013/moco failed: connection refused",
        "request 4011 of 9: timed out",
    ],
)
def test_a_status_code_is_a_number_of_its_own_not_digits_inside_another(text: str) -> None:
    err = Bucket(MemoryStore(), name="b")._error(OSError(text), "listing of x/")
    assert not isinstance(err, BucketAccessDenied), str(err)


@pytest.mark.parametrize(
    "text",
    ["Client error with status 403 Forbidden: AccessDenied", "HTTP status client error (401) for url", "403"],
)
def test_a_refusal_by_status_code_is_access_denied(text: str) -> None:
    err = Bucket(MemoryStore(), name="b")._error(OSError(text), "listing of x/")
    assert isinstance(err, BucketAccessDenied), str(err)
