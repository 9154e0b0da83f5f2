"""One small async bucket interface over S3, GCS and Azure Blob Storage (obstore underneath).

:func:`open_bucket` builds a :class:`Bucket` from MOCO's bucket options (``--backend-type``,
``--endpoint``, ``--region``, ``--use-path-style``, ``--ca-cert``) and the credentials MOCO's
users put in the Job's environment:

- ``s3``: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (``AWS_SESSION_TOKEN``), or any
  other credential source the AWS SDKs read from the environment (web identity, ECS, IMDS);
- ``gcs``: ``STORAGE_EMULATOR_HOST`` (fake-gcs-server, as in MOCO's e2e: no signature), else
  ``GOOGLE_APPLICATION_CREDENTIALS`` / workload identity;
- ``azure``: ``AZURE_STORAGE_CONNECTION_STRING`` first (Azurite), else the endpoint (or
  ``https://$AZURE_STORAGE_ACCOUNT.blob.core.windows.net``) with the ``AZURE_*`` credentials of
  the Azure SDKs (client secret, federated token, managed identity, account key).

Invariants: every call is bounded (small calls by ``op_timeout`` as a whole; streams by
``op_timeout`` per read or per part, with no bound on the total, which only the data size
decides); every failure is a :class:`~moco.backup.errors.BucketError`, credential refusals a
:class:`~moco.backup.errors.BucketAccessDenied` whose message names the variables to fix;
secrets are never logged nor put in a message.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import obstore
from obstore.exceptions import BaseError, NotFoundError, PermissionDeniedError, UnauthenticatedError
from obstore.store import AzureStore, GCSStore, S3Store

from moco.backup.errors import BucketAccessDenied, BucketError, InvalidArgument, ObjectNotFound
from moco.log import get_logger

if TYPE_CHECKING:
    from obstore.store import ObjectStore

log = get_logger("moco.backup.bucket")

#: What obstore raises: its own hierarchy, and builtin ones for some (a missing object is a
#: FileNotFoundError, an I/O failure an OSError); timeouts come from our own bounds.
_FAILURES: Final = (BaseError, OSError, TimeoutError, ValueError)

BACKEND_TYPES: Final = ("s3", "gcs", "azure")
DEFAULT_OP_TIMEOUT: Final = 120.0
#: Part size of multipart uploads (S3's minimum is 5 MiB); parts are sent ``concurrency`` at a time.
PART_SIZE: Final = 16 * 1024 * 1024
DEFAULT_CONCURRENCY: Final = 8
#: What to set, per backend, when the store refuses the credentials ...
CREDENTIAL_HINTS: Final = {
    "s3": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    "gcs": "GOOGLE_APPLICATION_CREDENTIALS or the service account's workload identity "
    "(STORAGE_EMULATOR_HOST for an emulator)",
    "azure": "AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY / "
    "AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET",
}
#: ... and where they come from: the Job's environment, which a backup (and the binlog archiver)
#: takes from the BackupPolicy and a restore from the cluster's ``spec.restore``.
CREDENTIAL_SOURCE: Final = (
    "the BackupPolicy's jobConfig.env / envFrom for a backup, spec.restore.jobConfig.env / envFrom "
    "for a restore"
)
#: An HTTP status of refusal, as a number of its own: digits inside another number (an elapsed
#: time "0.140371s", a port ":54013") are not one (a TLS failure was once reported as refused
#: credentials that way).
_DENIED_STATUS: Final = re.compile(r"(?<![\w.:])(401|403)(?![\w.])")
_DENIED_MARKS: Final = (
    "Forbidden",
    "Unauthorized",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthenticationFailed",
    "AuthorizationFailure",
    "InvalidAuthenticationInfo",
)


@dataclass(frozen=True)
class BucketConfig:
    """MOCO's bucketConfig, as passed on the command line."""

    name: str
    backend_type: str = "s3"
    endpoint_url: str = ""
    region: str = ""
    use_path_style: bool = False
    ca_cert_file: str = ""
    op_timeout: float = DEFAULT_OP_TIMEOUT


class Bucket:
    """Objects under one bucket; keys are ``/``-separated paths without a leading ``/``."""

    def __init__(
        self, store: ObjectStore, *, name: str, backend: str = "s3", op_timeout: float = 120.0
    ) -> None:
        self.store = store
        self.name = name
        self.backend = backend
        self.op_timeout = op_timeout

    def _error(self, exc: BaseException, what: str, key: str = "") -> BucketError:
        where = f"bucket {self.name!r} ({self.backend})"
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, NotFoundError | FileNotFoundError):
            return ObjectNotFound(f"{where}: {what}: no object {key!r}", key=key)
        denied = (
            isinstance(exc, PermissionDeniedError | UnauthenticatedError)
            or any(m in str(exc) for m in _DENIED_MARKS)
            or _DENIED_STATUS.search(str(exc)) is not None
        )
        if denied:
            hint = f"{CREDENTIAL_HINTS.get(self.backend, 'the bucket credentials')} ({CREDENTIAL_SOURCE})"
            return BucketAccessDenied(f"{where}: {what} was refused ({text[:300]}): check {hint}", key=key)
        if isinstance(exc, TimeoutError) and not str(exc):
            return BucketError(f"{where}: {what} timed out after {self.op_timeout}s", key=key)
        return BucketError(f"{where}: {what} failed: {text[:500]}", key=key)

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        part_size: int = PART_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> int:
        """Upload a stream as one object (multipart, ``concurrency`` parts in flight); returns its size.

        Each part is bounded by the HTTP client's timeouts; the stream as a whole by its source.
        """
        sent = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal sent
            async for c in chunks:
                sent += len(c)
                yield c

        try:
            await obstore.put_async(
                self.store,
                key,
                counted(),
                chunk_size=part_size,
                max_concurrency=max(concurrency, 1),
            )
        except _FAILURES as e:
            raise self._error(e, f"upload of {key}", key) from e
        log.info("object uploaded", bucket=self.name, key=key, bytes=sent)
        return sent

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Upload a small object in one request."""
        try:
            async with asyncio.timeout(self.op_timeout):
                await obstore.put_async(self.store, key, data, use_multipart=False)
        except _FAILURES as e:
            raise self._error(e, f"upload of {key}", key) from e

    async def get_stream(self, key: str, *, chunk_size: int = 8 * 1024 * 1024) -> AsyncIterator[bytes]:
        """The object's bytes, chunk by chunk; every read is bounded by ``op_timeout``."""
        try:
            async with asyncio.timeout(self.op_timeout):
                res = await obstore.get_async(self.store, key)
        except _FAILURES as e:
            raise self._error(e, f"download of {key}", key) from e
        stream = res.stream(min_chunk_size=chunk_size)
        while True:
            try:
                async with asyncio.timeout(self.op_timeout):
                    chunk = await anext(stream)
            except StopAsyncIteration:
                return
            except _FAILURES as e:
                raise self._error(e, f"download of {key}", key) from e
            yield bytes(chunk)

    async def get_bytes(self, key: str) -> bytes:
        """A small object's bytes."""
        try:
            async with asyncio.timeout(self.op_timeout):
                res = await obstore.get_async(self.store, key)
                return bytes(await res.bytes_async())
        except _FAILURES as e:
            raise self._error(e, f"download of {key}", key) from e

    async def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (a path prefix: ``a/b/`` lists ``a/b/...``), sorted."""
        keys: list[str] = []
        try:
            async with asyncio.timeout(self.op_timeout):
                async for batch in obstore.list(self.store, prefix.rstrip("/") or None, chunk_size=1000):
                    keys.extend(str(m["path"]) for m in batch)
        except _FAILURES as e:
            raise self._error(e, f"listing of {prefix}") from e
        return sorted(keys)

    async def exists(self, key: str) -> bool:
        """Whether an object exists under ``key``."""
        try:
            async with asyncio.timeout(self.op_timeout):
                await obstore.head_async(self.store, key)
        except (NotFoundError, FileNotFoundError):
            return False
        except _FAILURES as e:
            raise self._error(e, f"head of {key}", key) from e
        return True

    async def delete(self, key: str) -> None:
        """Delete an object (no error when it is absent)."""
        try:
            async with asyncio.timeout(self.op_timeout):
                await obstore.delete_async(self.store, key)
        except (NotFoundError, FileNotFoundError):
            return
        except _FAILURES as e:
            raise self._error(e, f"delete of {key}", key) from e


def parse_connection_string(text: str) -> dict[str, str]:
    """``Key=Value;Key=Value`` of an Azure storage connection string (values may hold ``=``)."""
    out: dict[str, str] = {}
    for part in text.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _client_options(cfg: BucketConfig, endpoint: str) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "connect_timeout": timedelta(seconds=min(cfg.op_timeout, 30.0)),
        # a stream (a multipart part, a download) may be long; each read must progress
        "read_timeout": timedelta(seconds=cfg.op_timeout),
        "timeout": timedelta(days=1),
    }
    if endpoint.startswith("http://"):
        opts["allow_http"] = True
    if cfg.ca_cert_file:
        pem = Path(cfg.ca_cert_file).read_text()
        try:
            ssl.create_default_context(cadata=pem)
        except (ssl.SSLError, ValueError) as e:
            raise InvalidArgument(f"--ca-cert {cfg.ca_cert_file}: not a PEM certificate ({e})") from e
        opts["root_certificate"] = pem
    return opts


def _s3(cfg: BucketConfig, env: Mapping[str, str]) -> ObjectStore:
    kw: dict[str, Any] = {"virtual_hosted_style_request": not cfg.use_path_style}
    if cfg.region:
        kw["region"] = cfg.region
    elif not env.get("AWS_REGION") and not env.get("AWS_DEFAULT_REGION"):
        kw["region"] = "us-east-1"
    if cfg.endpoint_url:
        kw["endpoint"] = cfg.endpoint_url
    for var, opt in (
        ("AWS_ACCESS_KEY_ID", "access_key_id"),
        ("AWS_SECRET_ACCESS_KEY", "secret_access_key"),
        ("AWS_SESSION_TOKEN", "session_token"),
    ):
        if env.get(var):
            kw[opt] = env[var]
    return S3Store(cfg.name, client_options=_client_options(cfg, cfg.endpoint_url), **kw)  # type: ignore[arg-type]


def _gcs(cfg: BucketConfig, env: Mapping[str, str]) -> ObjectStore:
    kw: dict[str, Any] = {}
    emulator = env.get("STORAGE_EMULATOR_HOST", "")
    base = cfg.endpoint_url or emulator
    if emulator and "://" not in base:
        base = f"http://{base}"
    if base:
        kw["base_url"] = base.rstrip("/")
    if emulator:
        # an emulator takes no token: a key that disables OAuth keeps the client from ever
        # asking a metadata server for one
        kw["service_account_key"] = json.dumps(
            {
                "gcs_base_url": base.rstrip("/"),
                "disable_oauth": True,
                "client_email": "",
                "private_key": "",
                "private_key_id": "",
            }
        )
    elif env.get("GOOGLE_APPLICATION_CREDENTIALS"):
        kw["application_credentials"] = env["GOOGLE_APPLICATION_CREDENTIALS"]
    return GCSStore(cfg.name, client_options=_client_options(cfg, base), **kw)  # type: ignore[arg-type]


def _azure(cfg: BucketConfig, env: Mapping[str, str]) -> ObjectStore:
    kw: dict[str, Any] = {}
    conn = env.get("AZURE_STORAGE_CONNECTION_STRING", "")
    if conn:
        cs = parse_connection_string(conn)
        if not cs.get("AccountName"):
            raise InvalidArgument("AZURE_STORAGE_CONNECTION_STRING has no AccountName")
        kw["account_name"] = cs["AccountName"]
        if cs.get("AccountKey"):
            kw["account_key"] = cs["AccountKey"]
        if cs.get("SharedAccessSignature"):
            kw["sas_key"] = cs["SharedAccessSignature"]
        endpoint = cfg.endpoint_url or cs.get("BlobEndpoint", "")
    else:
        account = env.get("AZURE_STORAGE_ACCOUNT", "") or env.get("AZURE_STORAGE_ACCOUNT_NAME", "")
        endpoint = cfg.endpoint_url
        if not endpoint and not account:
            raise InvalidArgument(
                "the azure backend needs AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT "
                "(or an --endpoint)"
            )
        if account:
            kw["account_name"] = account
        key = env.get("AZURE_STORAGE_KEY", "") or env.get("AZURE_STORAGE_ACCOUNT_KEY", "")
        if key:
            kw["account_key"] = key
    if endpoint:
        kw["endpoint"] = endpoint.rstrip("/")
    return AzureStore(cfg.name, client_options=_client_options(cfg, endpoint), **kw)  # type: ignore[arg-type]


def open_bucket(cfg: BucketConfig, env: Mapping[str, str]) -> Bucket:
    """The :class:`Bucket` named by ``cfg`` with the credentials found in ``env``."""
    if not cfg.name:
        raise InvalidArgument("no bucket name")
    builders = {"s3": _s3, "gcs": _gcs, "azure": _azure}
    build = builders.get(cfg.backend_type)
    if build is None:
        raise InvalidArgument(f"--backend-type {cfg.backend_type!r}: not one of {', '.join(BACKEND_TYPES)}")
    try:
        store = build(cfg, env)
    except BaseError as e:
        raise InvalidArgument(f"bucket {cfg.name!r} ({cfg.backend_type}): {str(e).splitlines()[0]}") from e
    return Bucket(store, name=cfg.name, backend=cfg.backend_type, op_timeout=cfg.op_timeout)


__all__ = [
    "BACKEND_TYPES",
    "CREDENTIAL_HINTS",
    "CREDENTIAL_SOURCE",
    "Bucket",
    "BucketConfig",
    "open_bucket",
    "parse_connection_string",
]
