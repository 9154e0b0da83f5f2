"""Real object-store servers on loopback, for the tiers and benchmarks that back up to a bucket.

Three servers, one per ``bucketConfig.backendType`` MOCO knows, installed by
``hack/object-stores.sh`` (``make object-stores``) under ``$MOCO_CACHE/object-stores``:

- ``s3``: versitygw (posix backend) with root credentials made up per start;
- ``gcs``: fake-gcs-server (filesystem backend), no credentials;
- ``azure``: azurite's blob service, with its well-known development account.

:func:`start` runs one on a free loopback port with its data in a fresh temporary directory,
waits until it answers, creates the bucket, and returns an :class:`ObjectStore`: what a client
needs (endpoint, bucket, region, path style, environment variables, the CA to trust). With
``tls=True`` the server speaks HTTPS with a certificate for ``127.0.0.1``/``localhost`` signed by
a CA minted for that start (:mod:`moco.testing.pki`); only a client given that CA verifies it.

Invariants:
- a server listens on 127.0.0.1 only; azurite's telemetry is off (no traffic leaves loopback);
- each server is started through :func:`moco.testing.ground.spawn` (PID file for ``make
  clean-ground``) and its directory is recorded; :meth:`ObjectStore.stop` stops it by PID and
  removes the directory, and so does interpreter exit (``atexit``) and a SIGTERM to the program
  that started it (when that program left SIGTERM's default action in place);
- the environment of :attr:`ObjectStore.env` carries both MOCO's variables (the ones MOCO's own
  backup Jobs read: ``AWS_*``, ``STORAGE_EMULATOR_HOST``, ``AZURE_STORAGE_CONNECTION_STRING``) and
  obstore's (``GOOGLE_*``, ``AZURE_STORAGE_*``), so either kind of client reaches the bucket.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import Final

from moco.testing import bucketadmin, ground
from moco.testing.bucketcheck import Backend, BucketAccess
from moco.testing.pki import CA

BACKENDS: Final[tuple[Backend, ...]] = ("s3", "gcs", "azure")
HOST: Final = "127.0.0.1"
DEFAULT_BUCKET: Final = "moco"
DEFAULT_REGION: Final = "us-east-1"
#: azurite's development account (public, documented by Microsoft; the same in every azurite)
AZURITE_ACCOUNT: Final = "devstoreaccount1"
AZURITE_KEY: Final = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
READY_TIMEOUT: Final = 60.0


class NotInstalled(RuntimeError):
    """The server's program is missing: run ``make object-stores``."""


def programs() -> dict[str, Path]:
    """The installed programs by name (versitygw, fake-gcs-server, azurite), from the installer."""
    script = Path(__file__).resolve().parents[3] / "hack" / "object-stores.sh"
    out = subprocess.run(
        ["bash", str(script), "--print"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return {k: Path(v) for k, v in (line.split("=", 1) for line in out.split())}


@dataclass(frozen=True, eq=False)
class ObjectStore:
    """A running server with its bucket, and what a client needs to reach it."""

    backend: Backend
    #: the URL clients send requests to (azure: the account's URL, ``.../devstoreaccount1``)
    endpoint: str
    bucket: str
    region: str
    path_style: bool
    #: environment variables a client (MOCO's or obstore's) needs, credentials included
    env: Mapping[str, str]
    #: PEM of the CA that signed the server's certificate (``caCert``), None without TLS
    ca_cert: bytes | None
    pid: int
    data_dir: Path
    _rec: ground.Recorded = field(repr=False, compare=False)
    _proc: subprocess.Popen[bytes] = field(repr=False, compare=False)

    @property
    def tls(self) -> bool:
        return self.ca_cert is not None

    def access(self) -> BucketAccess:
        """What a client needs (see :mod:`moco.testing.bucketcheck`): no process details."""
        return BucketAccess(
            self.backend, self.endpoint, self.bucket, self.region, self.path_style, self.env, self.ca_cert
        )

    def alive(self) -> bool:
        """True while the server process we started still runs."""
        return self._rec.alive()

    def rss_kib(self) -> int:
        """Resident set size of the server process (KiB), 0 once it is gone."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0
        line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), "VmRSS: 0 kB")
        return int(line.split()[1])

    def stop(self) -> None:
        """Stop the server by PID and remove its directory. Idempotent."""
        ground.stop(self._rec, self._proc, timeout=10)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)
        ground.forget_dir(self.data_dir.parent)
        _running.discard(self)


_running: set[ObjectStore] = set()
_hooks_lock = threading.Lock()
_hooks_installed = False


def _stop_all() -> None:
    for store in list(_running):
        store.stop()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _stop_all()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_hooks() -> None:
    """Stop the servers at interpreter exit and on SIGTERM (when nobody else handles it)."""
    global _hooks_installed
    with _hooks_lock:
        if _hooks_installed:
            return
        _hooks_installed = True
        atexit.register(_stop_all)
        if threading.current_thread() is threading.main_thread() and (
            signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        ):
            signal.signal(signal.SIGTERM, _on_sigterm)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _mint_tls(directory: Path) -> tuple[bytes, Path, Path]:
    """A CA and a server certificate for loopback; returns (CA PEM, cert path, key path)."""
    import datetime

    ca = CA.create(
        "moco object-store test CA", valid=datetime.timedelta(days=2), backdate=datetime.timedelta(hours=1)
    )
    leaf = ca.issue("object-store", server=True, dns=["localhost"], ips=[HOST])
    crt, key = leaf.write(directory, "server")
    return ca.cert_pem(), crt, key


def _argv(backend: Backend, prog: dict[str, Path], port: int, data: Path,
          tls: tuple[Path, Path] | None) -> list[str]:  # fmt: skip
    if backend == "s3":
        argv = [str(prog["versitygw"]), "--port", f"{HOST}:{port}"]
        argv += ["--region", DEFAULT_REGION, "--quiet"]
        if tls:
            argv += ["--cert", str(tls[0]), "--key", str(tls[1])]
        return [*argv, "posix", str(data)]
    if backend == "gcs":
        scheme = "https" if tls else "http"
        argv = [str(prog["fake-gcs-server"]), "-backend", "filesystem", "-filesystem-root", str(data)]
        argv += ["-host", HOST, "-port", str(port), "-scheme", scheme, "-log-level", "warn"]
        argv += ["-public-host", f"{HOST}:{port}", "-external-url", f"{scheme}://{HOST}:{port}"]
        if tls:
            argv += ["-cert-location", str(tls[0]), "-private-key-location", str(tls[1])]
        return argv
    node = shutil.which("node") or "/usr/bin/node"
    argv = [node, str(prog["azurite"]), "--blobHost", HOST, "--blobPort", str(port), "--location", str(data)]
    argv += ["--skipApiVersionCheck", "--loose", "--disableProductStyleUrl", "--disableTelemetry", "--silent"]
    if tls:
        argv += ["--cert", str(tls[0]), "--key", str(tls[1])]
    return argv


def _endpoint(backend: Backend, port: int, tls: bool) -> str:
    base = f"{'https' if tls else 'http'}://{HOST}:{port}"
    return f"{base}/{AZURITE_ACCOUNT}" if backend == "azure" else base


def client_env(backend: Backend, endpoint: str, *, access: str = "", secret: str = "",
               region: str = DEFAULT_REGION) -> dict[str, str]:  # fmt: skip
    """The environment variables a client of ``backend`` at ``endpoint`` needs (see module doc)."""
    if backend == "s3":
        return {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": region}
    if backend == "gcs":
        # obstore: a "service account" whose base URL is the emulator and that asks for no token
        # (never the metadata server); MOCO (Go's GCS client): STORAGE_EMULATOR_HOST.
        key = {
            "gcs_base_url": endpoint,
            "disable_oauth": True,
            "client_email": "",
            "private_key": "",
            "private_key_id": "",
        }
        # Go's client takes ``host:port`` (plain HTTP) or a URL with its scheme
        host = endpoint.removeprefix("http://")
        return {"GOOGLE_SERVICE_ACCOUNT_KEY": json.dumps(key), "STORAGE_EMULATOR_HOST": host}
    blob = endpoint.rstrip("/")
    scheme = blob.split("://", 1)[0]
    return {
        "AZURE_STORAGE_ACCOUNT_NAME": AZURITE_ACCOUNT,
        "AZURE_STORAGE_ACCOUNT_KEY": AZURITE_KEY,
        "AZURE_STORAGE_ENDPOINT": blob,
        "AZURE_STORAGE_CONNECTION_STRING": (
            f"DefaultEndpointsProtocol={scheme};AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={blob};"
        ),
    }


def _answers(url: str, ca_pem: bytes | None) -> bool:
    """True once the server answers HTTP at all (any status: it parsed our request)."""
    import ssl

    ctx = ssl.create_default_context(cadata=ca_pem.decode()) if ca_pem else None
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def start(backend: Backend, *, bucket: str = DEFAULT_BUCKET, tls: bool = False) -> ObjectStore:
    """Start ``backend``'s server on loopback with ``bucket`` created; see the module doc."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    prog = programs()
    needed = {"s3": "versitygw", "gcs": "fake-gcs-server", "azure": "azurite"}[backend]
    if not prog[needed].exists():
        raise NotInstalled(f"{prog[needed]} is missing: run `make object-stores`")
    _install_hooks()
    top = Path(tempfile.mkdtemp(prefix=f"moco-objstore-{backend}-"))
    ground.record_dir(top)
    data = top / "data"
    data.mkdir()
    ca_pem, tls_files = None, None
    if tls:
        ca_pem, crt, key = _mint_tls(top)
        tls_files = (crt, key)
    access, secret = f"moco{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    port = _free_port()
    endpoint = _endpoint(backend, port, tls)
    argv = _argv(backend, prog, port, data, tls_files)
    # versitygw's root credentials go by environment, not argv (where `ps` would show them)
    server_env = {**os.environ, "ROOT_ACCESS_KEY": access, "ROOT_SECRET_KEY": secret}
    proc, rec = ground.spawn(
        argv, f"object store {backend} :{port}", log=top / "server.log", env=server_env, cwd=top
    )
    env = client_env(backend, endpoint, access=access, secret=secret)
    store = ObjectStore(backend, endpoint, bucket, DEFAULT_REGION, True, MappingProxyType(env), ca_pem,
                        proc.pid, data, rec, proc)  # fmt: skip
    _running.add(store)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        probe = endpoint.rsplit("/", 1)[0] if backend == "azure" else endpoint
        while not _answers(probe + "/", ca_pem):
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (top / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{backend} server did not answer on {endpoint} (rc={proc.poll()}): {log}")
            time.sleep(0.1)
        bucketadmin.create_bucket(backend, endpoint, bucket, env, ca_pem, DEFAULT_REGION)
    except BaseException:
        store.stop()
        raise
    return store


@contextlib.contextmanager
def running(backend: Backend, *, bucket: str = DEFAULT_BUCKET, tls: bool = False) -> Iterator[ObjectStore]:
    """``with running("s3") as store:`` -- :func:`start`, stopped at the end of the block."""
    store = start(backend, bucket=bucket, tls=tls)
    try:
        yield store
    finally:
        store.stop()
