"""Create a bucket on an S3, GCS or Azure Blob server, from nothing but its endpoint and keys.

The backup programs never create buckets (a user's bucket exists before a BackupPolicy names it),
and obstore has no call for it; the test grounds do, on servers they started themselves: on
loopback (:mod:`moco.testing.objectstore`) and in the e2e cluster (``e2e/objectstores.py``). Each
request is signed the way its service requires, written out here so that no SDK is needed:

- S3: ``PUT /<bucket>`` (path style) signed with AWS Signature Version 4;
- GCS: ``POST /storage/v1/b`` with the bucket's name (an emulator takes no credentials);
- Azure: ``PUT /<account>/<container>?restype=container`` signed with the account's SharedKey.

Creation is idempotent: "already exists" (HTTP 409 on every service) counts as success. Every
request has a timeout; a server that does not answer raises :class:`BucketError`.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Final

EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
AZURE_API_VERSION: Final = "2021-08-06"


class BucketError(RuntimeError):
    """The server refused to create the bucket or did not answer."""


def _ssl_context(ca_pem: bytes | None) -> ssl.SSLContext | None:
    if ca_pem is None:
        return None
    return ssl.create_default_context(cadata=ca_pem.decode())


def _send(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    ca_pem: bytes | None,
    timeout: float,
) -> int:
    """Send one request; returns the HTTP status (also for 4xx/5xx answers)."""
    # no body: no data (urllib would add a form Content-Type, which a SharedKey signature covers)
    req = urllib.request.Request(url, data=body or None, method=method, headers=dict(headers))
    if not body:
        req.add_header("Content-Length", "0")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=_ssl_context(ca_pem)) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        if e.code == 409:
            return 409
        raise BucketError(f"{method} {url}: HTTP {e.code}: {e.read()[:500]!r}") from None
    except (urllib.error.URLError, OSError) as e:
        raise BucketError(f"{method} {url}: {e}") from None


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_headers(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    now: datetime.datetime,
    payload_sha256: str = EMPTY_SHA256,
) -> dict[str, str]:
    """Headers (``x-amz-date``, ``x-amz-content-sha256``, ``Authorization``) signing a request.

    Pure (the time is an argument) so a unit test can check it against AWS's published example.
    The query string must be empty or already in canonical order; the grounds send none.
    """
    parts = urllib.parse.urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    host = parts.netloc
    signed = "host;x-amz-content-sha256;x-amz-date"
    canonical = "\n".join(
        [
            method,
            urllib.parse.quote(parts.path or "/", safe="/-_.~"),
            parts.query,
            f"host:{host}\nx-amz-content-sha256:{payload_sha256}\nx-amz-date:{amz_date}\n",
            signed,
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "x-amz-date": amz_date,
        "x-amz-content-sha256": payload_sha256,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        ),
    }


def create_s3_bucket(
    endpoint: str,
    bucket: str,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    ca_pem: bytes | None = None,
    timeout: float = 10.0,
) -> None:
    """``PUT /<bucket>`` on a path-style S3 endpoint (region ``us-east-1`` needs no body)."""
    url = f"{endpoint.rstrip('/')}/{bucket}"
    body = b""
    if region != "us-east-1":
        body = (
            '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        ).encode()
    headers = sigv4_headers(
        "PUT",
        url,
        access_key=access_key,
        secret_key=secret_key,
        region=region,
        now=datetime.datetime.now(datetime.UTC),
        payload_sha256=hashlib.sha256(body).hexdigest(),
    )
    _send("PUT", url, headers, body, ca_pem=ca_pem, timeout=timeout)


def create_gcs_bucket(
    endpoint: str, bucket: str, *, ca_pem: bytes | None = None, timeout: float = 10.0
) -> None:
    """``POST /storage/v1/b`` of the JSON API (an emulator: no credentials)."""
    url = f"{endpoint.rstrip('/')}/storage/v1/b?project=moco"
    body = json.dumps({"name": bucket}).encode()
    _send("POST", url, {"Content-Type": "application/json"}, body, ca_pem=ca_pem, timeout=timeout)


def azure_shared_key(method: str, url: str, *, account: str, key_b64: str, headers: Mapping[str, str]) -> str:
    """The ``Authorization`` value of a body-less request signed with the account's SharedKey.

    ``headers`` are the request's ``x-ms-*`` headers. The resource is ``/<account><path>`` and
    the query's parameters, one per line, sorted (Azure's "2009-09-19 and later" rules).
    """
    parts = urllib.parse.urlsplit(url)
    ms = "".join(
        f"{k.lower()}:{v.strip()}\n" for k, v in sorted(headers.items()) if k.lower().startswith("x-ms-")
    )
    resource = f"/{account}{parts.path}"
    for name, values in sorted(urllib.parse.parse_qs(parts.query).items()):
        resource += f"\n{name.lower()}:{','.join(sorted(values))}"
    to_sign = f"{method}\n" + "\n" * 11 + ms + resource
    digest = hmac.new(base64.b64decode(key_b64), to_sign.encode(), hashlib.sha256).digest()
    return f"SharedKey {account}:{base64.b64encode(digest).decode()}"


def create_azure_container(
    endpoint: str,
    container: str,
    *,
    account: str,
    key_b64: str,
    ca_pem: bytes | None = None,
    timeout: float = 10.0,
) -> None:
    """Create a blob container; ``endpoint`` is the account's URL (``http://host:port/<account>``)."""
    url = f"{endpoint.rstrip('/')}/{container}?restype=container"
    headers = {
        "x-ms-date": datetime.datetime.now(datetime.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "x-ms-version": AZURE_API_VERSION,
    }
    headers["Authorization"] = azure_shared_key("PUT", url, account=account, key_b64=key_b64, headers=headers)
    _send("PUT", url, headers, b"", ca_pem=ca_pem, timeout=timeout)


def create_bucket(
    backend: str,
    endpoint: str,
    bucket: str,
    env: Mapping[str, str],
    ca_pem: bytes | None = None,
    region: str = "us-east-1",
) -> None:
    """Create ``bucket`` with the credentials a client of ``backend`` has in ``env`` (idempotent).

    ``env`` holds what :func:`moco.testing.objectstore.client_env` hands out: ``AWS_*`` for S3,
    nothing for GCS (an emulator), ``AZURE_STORAGE_ACCOUNT_NAME``/``_KEY`` for Azure.
    """
    if backend == "s3":
        create_s3_bucket(
            endpoint,
            bucket,
            access_key=env["AWS_ACCESS_KEY_ID"],
            secret_key=env["AWS_SECRET_ACCESS_KEY"],
            region=region,
            ca_pem=ca_pem,
        )
    elif backend == "gcs":
        create_gcs_bucket(endpoint, bucket, ca_pem=ca_pem)
    elif backend == "azure":
        create_azure_container(
            endpoint,
            bucket,
            account=env["AZURE_STORAGE_ACCOUNT_NAME"],
            key_b64=env["AZURE_STORAGE_ACCOUNT_KEY"],
            ca_pem=ca_pem,
        )
    else:
        raise ValueError(f"unknown backend {backend!r}")
