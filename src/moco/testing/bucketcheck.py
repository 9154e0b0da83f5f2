"""What a client needs to reach a test bucket, an obstore client made from it, and a round trip.

:class:`BucketAccess` is the hand-out of a test object store, wherever it runs: on loopback
(:meth:`moco.testing.objectstore.ObjectStore.access`) or as a Service of the e2e cluster
(``e2e/objectstores.py``). :func:`client` builds an obstore client from nothing else, so a test
that passes proves the hand-out complete. :func:`round_trip` puts an object (multipart), reads it
back whole and by range, lists and deletes it.

``python -m moco.testing.bucketcheck create-bucket|round-trip ACCESS_JSON [SIZE_MIB]`` does the
same from inside a Pod (moco's image carries this package): the e2e suite checks buckets from
where backup Jobs run, through Service DNS names. The JSON holds credentials; it is passed to
``kubectl exec``, which only test clusters see.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Final, Literal

import obstore
from obstore.store import AzureStore, GCSStore, S3Store

from moco.testing import bucketadmin

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig

Backend = Literal["s3", "gcs", "azure"]
Client = S3Store | GCSStore | AzureStore
MiB: Final = 1 << 20
OP_TIMEOUT: Final = 120.0


@dataclass(frozen=True)
class BucketAccess:
    """Endpoint, bucket and credentials of a test bucket (``env``: the client's variables)."""

    backend: Backend
    endpoint: str
    bucket: str
    region: str
    path_style: bool
    env: Mapping[str, str] = field(hash=False)
    #: PEM of the CA to trust (``caCert``), None for plain HTTP or the system's roots
    ca_cert: bytes | None = None

    def to_json(self) -> str:
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        doc["env"] = dict(self.env)
        doc["ca_cert"] = self.ca_cert.decode() if self.ca_cert else None
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str) -> BucketAccess:
        doc: dict[str, Any] = json.loads(text)
        ca = doc.get("ca_cert")
        return cls(
            doc["backend"],
            doc["endpoint"],
            doc["bucket"],
            doc["region"],
            bool(doc["path_style"]),
            dict(doc["env"]),
            ca.encode() if ca else None,
        )


def client(access: BucketAccess, *, ca: bytes | None = None, env: Mapping[str, str] | None = None) -> Client:
    """An obstore client of ``access``'s bucket trusting ``ca`` (None: the system roots only)."""
    env = access.env if env is None else env
    opts: ClientConfig = {"timeout": "60s", "connect_timeout": "5s"}
    if ca is not None:
        opts["root_certificate"] = ca.decode()
    if access.endpoint.startswith("http://"):
        opts["allow_http"] = True
    retry: RetryConfig = {"max_retries": 2, "retry_timeout": datetime.timedelta(seconds=20)}
    if access.backend == "s3":
        return S3Store(
            access.bucket,
            endpoint=access.endpoint,
            region=access.region,
            virtual_hosted_style_request=not access.path_style,
            access_key_id=env["AWS_ACCESS_KEY_ID"],
            secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            client_options=opts,
            retry_config=retry,
        )
    if access.backend == "gcs":
        return GCSStore(
            access.bucket,
            service_account_key=env["GOOGLE_SERVICE_ACCOUNT_KEY"],
            client_options=opts,
            retry_config=retry,
        )
    return AzureStore(
        access.bucket,
        account_name=env["AZURE_STORAGE_ACCOUNT_NAME"],
        account_key=env["AZURE_STORAGE_ACCOUNT_KEY"],
        endpoint=env["AZURE_STORAGE_ENDPOINT"],
        client_options=opts,
        retry_config=retry,
    )


async def _bounded(aw: Any) -> Any:
    return await asyncio.wait_for(aw, OP_TIMEOUT)


async def round_trip(c: Client, key: str, data: bytes, *, multipart: bool = True) -> dict[str, float]:
    """Put ``data`` at ``key``, read it back whole and by range, list it, delete it.

    Raises AssertionError on any difference; returns the put and get throughput (MB/s).
    """
    t0 = time.monotonic()
    await _bounded(obstore.put_async(c, key, data, use_multipart=multipart, chunk_size=5 * MiB))
    t1 = time.monotonic()
    got = await _bounded((await _bounded(obstore.get_async(c, key))).bytes_async())
    t2 = time.monotonic()
    assert hashlib.sha256(bytes(got)).digest() == hashlib.sha256(data).digest(), f"{key}: content differs"
    if len(data) > 2 * MiB:
        part = await _bounded(obstore.get_range_async(c, key, start=MiB, end=MiB + 4096))
        assert bytes(part) == data[MiB : MiB + 4096], f"{key}: range differs"
    prefix = key.rsplit("/", 1)[0]
    listed = await _bounded(obstore.list(c, prefix=prefix).collect_async())
    assert [(m["path"], m["size"]) for m in listed] == [(key, len(data))], f"listed {listed}"
    await _bounded(obstore.delete_async(c, key))
    try:
        await _bounded(obstore.head_async(c, key))
    except FileNotFoundError:
        pass
    else:
        raise AssertionError(f"{key} is still there after its deletion")
    assert await _bounded(obstore.list(c, prefix=prefix).collect_async()) == [], "listed after deletion"
    size_mb = len(data) / 1e6
    return {"put_mb_s": size_mb / max(t1 - t0, 1e-9), "get_mb_s": size_mb / max(t2 - t1, 1e-9)}


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("create-bucket", "round-trip"):
        print(__doc__, file=sys.stderr)
        return 2
    access = BucketAccess.from_json(argv[1])
    if argv[0] == "create-bucket":
        bucketadmin.create_bucket(
            access.backend, access.endpoint, access.bucket, access.env, access.ca_cert, access.region
        )
        print(json.dumps({"created": access.bucket, "backend": access.backend}))
        return 0
    size = int(argv[2]) if len(argv) > 2 else 12
    data = os.urandom(size * MiB + 4321)
    key = f"moco/bucketcheck/{access.backend}-{os.getpid()}/object"
    rates = asyncio.run(round_trip(client(access, ca=access.ca_cert), key, data))
    print(
        json.dumps(
            {"backend": access.backend, "bytes": len(data), **{k: round(v, 1) for k, v in rates.items()}}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
