"""A real etcd + kube-apiserver (+ optional kube-controller-manager) on loopback, like envtest.

:class:`Envtest` starts etcd and kube-apiserver on free loopback ports with everything generated
in Python (by :mod:`moco.testing.pki`): a CA, the apiserver's serving certificate, service-account
signing keys and an admin client certificate (group ``system:masters``). Authorization is
``RBAC``, so a credential minted by :meth:`Envtest.mint_kubeconfig` for any user and groups is
subject to real RBAC rules.
It installs the project's CRDs and ValidatingAdmissionPolicies (``manifests/crd/*.yaml`` when the
directory exists) plus any CRD documents passed in (:func:`crd_document` writes the simple ones
tests and benchmarks use), and waits until ``/readyz`` is ok and every CRD is established.

Processes are started with :func:`moco.testing.ground.spawn` and stopped by PID with
:func:`moco.testing.ground.stop`; the work directory is recorded with ``ground.record_dir``.

:meth:`Envtest.compact` compacts etcd to its current revision through etcd's v3 HTTP gateway, so a
watch that restarts from an older resourceVersion gets ``410 Gone``. Resources named in
``uncached`` are served without the apiserver's watch cache (straight from etcd), which is what
makes that 410 deterministic for them.

Command line (state under ``$MOCO_STATE_DIR/envtest``)::

    python -m moco.testing.envtest up     # starts in the background, prints the kubeconfig path
    python -m moco.testing.envtest down   # stops what ``up`` started
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from moco.kube.resource import Resource
from moco.testing import ground, kubeflags, pki
from moco.testing.pki import CA

K8S_VERSION = os.environ.get("MOCO_K8S_VERSION", "v1.35.4")
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CRD_DIR = REPO_ROOT / "manifests" / "crd"


_CLUSTER = "envtest"
_CA_VALID = datetime.timedelta(days=365)
_BACKDATE = datetime.timedelta(hours=1)

_ADMISSION_PLURALS = {
    "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
    "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
}


def k8s_bin_dir() -> Path:
    return Path(os.environ.get("MOCO_K8S_BIN") or ground.cache_dir() / "k8s" / K8S_VERSION / "bin")


def etcd_bin_dir() -> Path:
    return Path(os.environ.get("MOCO_ETCD_BIN") or ground.cache_dir() / "etcd" / "current" / "bin")


def binaries_present() -> bool:
    return (k8s_bin_dir() / "kube-apiserver").is_file() and (etcd_bin_dir() / "etcd").is_file()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- test resources ---------------------------------------------------------------------------
def crd_document(resource: Resource, *, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """A CRD for a test or benchmark resource: one served and stored version, a status subresource.

    ``spec`` and ``status`` are the OpenAPI schemas of the two top-level properties; the singular
    name is the lower-cased kind and the list kind is ``<Kind>List``.
    """
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": str(resource)},
        "spec": {
            "group": resource.group,
            "scope": "Namespaced" if resource.namespaced else "Cluster",
            "names": {
                "plural": resource.plural,
                "singular": resource.kind.lower(),
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
            },
            "versions": [
                {
                    "name": resource.version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": spec, "status": status},
                        }
                    },
                }
            ],
        },
    }


# --- the environment ------------------------------------------------------------------------
class EnvtestError(RuntimeError):
    """The ground could not be started (a binary missing, a process died, not ready in time)."""


@dataclass
class _Proc:
    rec: ground.Recorded
    popen: subprocess.Popen[bytes] | None
    log: Path


@dataclass
class Envtest:
    """etcd + kube-apiserver (+ kube-controller-manager) on loopback; see the module docstring."""

    crd_dirs: Sequence[Path] = (DEFAULT_CRD_DIR,)
    extra_crds: Sequence[dict[str, Any]] = ()
    controller_manager: bool = False
    uncached: Sequence[str] = ()
    apiserver_args: Sequence[str] = ()
    workdir: Path | None = None
    ready_timeout: float = 90.0

    url: str = field(init=False, default="")
    kubeconfig: Path = field(init=False, default=Path())
    etcd_url: str = field(init=False, default="")
    _ca: CA | None = field(init=False, default=None)
    _procs: dict[str, _Proc] = field(init=False, default_factory=dict)
    _ssl: ssl.SSLContext | None = field(init=False, default=None)

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Envtest:
        if not binaries_present():
            raise EnvtestError(
                f"kube-apiserver or etcd missing under {k8s_bin_dir()} / {etcd_bin_dir()}: "
                "run `make k8s-bin etcd`"
            )
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="moco-envtest-", dir="/tmp"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        ground.record_dir(self.workdir)
        try:
            self._write_certs()
            self._start_processes()
            self.install_crds(self._crd_docs())
            self.install_admission_policies(self._manifest_docs())
            if self.controller_manager:
                self.start_controller_manager()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, remove: bool = True) -> None:
        """Stop every process (controller-manager, apiserver, then etcd) by PID; remove the workdir."""
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            proc = self._procs.pop(name, None)
            if proc is not None:
                ground.stop(proc.rec, proc.popen, timeout=15)
        if remove and self.workdir is not None and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)
            ground.forget_dir(self.workdir)

    def __enter__(self) -> Envtest:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- pieces ------------------------------------------------------------------------------
    @property
    def dir(self) -> Path:
        assert self.workdir is not None
        return self.workdir

    @property
    def ca(self) -> CA:
        assert self._ca is not None
        return self._ca

    def _write_certs(self) -> None:
        d = self.dir / "pki"
        d.mkdir(exist_ok=True)
        self._ca = CA.create("moco-envtest-ca", valid=_CA_VALID, backdate=_BACKDATE)
        ca_crt = self.ca.write(d)
        self.ca.issue(
            "kube-apiserver",
            server=True,
            dns=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
            ips=["127.0.0.1", "10.0.0.1"],
        ).write(d, "apiserver")
        pki.write_signing_key(d, pki.new_key())
        admin = self.ca.issue("moco-envtest-admin", organizations=["system:masters"], client=True)
        admin_crt, admin_key = admin.write(d, "admin")
        ctx = ssl.create_default_context(cafile=str(ca_crt))
        ctx.load_cert_chain(str(admin_crt), str(admin_key))
        self._ssl = ctx

    def _start_processes(self, attempts: int = 3) -> None:
        """Start etcd and kube-apiserver and wait for /readyz.

        Free ports are picked before the processes bind them, so another program on the machine may
        take one in between: a start that fails that way is retried on new ports.
        """
        for attempt in range(1, attempts + 1):
            try:
                self._start_etcd()
                self._wait_etcd()
                self._start_apiserver()
                self._wait_ready()
                return
            except EnvtestError as e:
                if attempt == attempts or "address already in use" not in str(e):
                    raise
                self.stop(remove=False)
                shutil.rmtree(self.dir / "etcd", ignore_errors=True)
                for name in ("etcd", "kube-apiserver"):
                    (self.dir / f"{name}.log").unlink(missing_ok=True)

    def _spawn(self, name: str, argv: list[str]) -> _Proc:
        log = self.dir / f"{name}.log"
        popen, rec = ground.spawn(argv, f"envtest {name}", log=log, cwd=self.dir)
        proc = _Proc(rec, popen, log)
        self._procs[name] = proc
        return proc

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        self._spawn(
            "etcd",
            kubeflags.etcd(
                etcd_bin_dir() / "etcd",
                name="envtest",
                data_dir=self.dir / "etcd",
                client_url=self.etcd_url,
                peer_port=peer,
            ),
        )

    def _start_apiserver(self) -> None:
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        certs = self.dir / "pki"
        # etcd is never compacted behind the tests' back: :meth:`compact` does it when asked
        extra = ["--etcd-compaction-interval=0"]
        if self.uncached:
            extra.append("--watch-cache-sizes=" + ",".join(f"{r}#0" for r in self.uncached))
        extra += list(self.apiserver_args)
        args = kubeflags.kube_apiserver(
            k8s_bin_dir() / "kube-apiserver",
            etcd_url=self.etcd_url,
            address="127.0.0.1",
            port=port,
            certs=kubeflags.ApiserverCerts(
                ca_crt=certs / "ca.crt",
                tls_crt=certs / "apiserver.crt",
                tls_key=certs / "apiserver.key",
                sa_pub=certs / "sa.pub",
                sa_key=certs / "sa.key",
                cert_dir=certs,
            ),
            service_range="10.0.0.0/24",
            extra=extra,
        )
        self._spawn("kube-apiserver", args)
        self._write_admin_kubeconfig()

    def _write_admin_kubeconfig(self) -> None:
        d = self.dir / "pki"
        doc = pki.kubeconfig_doc(
            cluster=_CLUSTER,
            server=self.url,
            user="admin",
            ca=(d / "ca.crt").read_bytes(),
            cert=(d / "admin.crt").read_bytes(),
            key=(d / "admin.key").read_bytes(),
        )
        self.kubeconfig = self.dir / "kubeconfig"
        pki.write_kubeconfig(self.kubeconfig, doc)

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            if proc.popen is not None and proc.popen.poll() is not None:
                tail = proc.log.read_text(errors="replace")[-3000:] if proc.log.exists() else ""
                raise EnvtestError(f"{name} exited with {proc.popen.returncode}:\n{tail}")

    def _wait_etcd(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(self.etcd_url + "/health", timeout=2) as resp:
                    if json.loads(resp.read()).get("health") == "true":
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise EnvtestError(f"etcd not healthy within {timeout}s")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                status, body = self.http("GET", "/readyz")
                if status == 200:
                    return
                last = body.decode(errors="replace")[-500:]
            except (OSError, urllib.error.URLError) as e:
                last = str(e)
            time.sleep(0.25)
        raise EnvtestError(f"kube-apiserver not ready within {self.ready_timeout}s: {last}")

    # --- HTTP as admin (synchronous: the ground is not the code under test) -------------------
    def http(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=30) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as e:
            return int(e.code), bytes(e.read())

    def http_json(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        status, raw = self.http(method, path, body)
        if status >= 400:
            raise EnvtestError(f"{method} {path}: {status} {raw[:500]!r}")
        value: dict[str, Any] = json.loads(raw) if raw else {}
        return value

    # --- CRDs --------------------------------------------------------------------------------
    def _manifest_docs(self) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = []
        for d in self.crd_dirs:
            if d.is_dir():
                for f in sorted(d.glob("*.yaml")):
                    docs += [x for x in yaml.safe_load_all(f.read_text()) if x]
        return docs

    def _crd_docs(self) -> list[dict[str, Any]]:
        crds = [x for x in self._manifest_docs() if x.get("kind") == "CustomResourceDefinition"]
        return crds + list(self.extra_crds)

    def install_admission_policies(self, docs: Iterable[dict[str, Any]]) -> None:
        """Create (or replace) ValidatingAdmissionPolicies and their bindings."""
        for doc in docs:
            plural = _ADMISSION_PLURALS.get(doc.get("kind", ""))
            if plural is None:
                continue
            base = f"/apis/admissionregistration.k8s.io/v1/{plural}"
            name = doc["metadata"]["name"]
            status, raw = self.http("POST", base, doc)
            if status == 409:
                current = self.http_json("GET", f"{base}/{name}")
                meta = {**doc["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}
                self.http_json("PUT", f"{base}/{name}", {**doc, "metadata": meta})
            elif status >= 400:
                raise EnvtestError(f"{doc['kind']} {name}: {status} {raw[:1000]!r}")

    def install_crds(self, docs: Iterable[dict[str, Any]], timeout: float = 30.0) -> None:
        """Create (or replace) CRDs and wait until each is established and served."""
        base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        names = []
        for doc in docs:
            name = doc["metadata"]["name"]
            status, raw = self.http("POST", base, doc)
            if status == 409:
                current = self.http_json("GET", f"{base}/{name}")
                updated = {
                    **doc,
                    "metadata": {
                        **doc["metadata"],
                        "resourceVersion": current["metadata"]["resourceVersion"],
                    },
                }
                self.http_json("PUT", f"{base}/{name}", updated)
            elif status >= 400:
                raise EnvtestError(f"CRD {name}: {status} {raw[:1000]!r}")
            names.append((name, doc))
        deadline = time.monotonic() + timeout
        for name, doc in names:
            while True:
                crd = self.http_json("GET", f"{base}/{name}")
                conds = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
                group = doc["spec"]["group"]
                version = next(v["name"] for v in doc["spec"]["versions"] if v.get("served", True))
                served, _ = self.http(
                    "GET", f"/apis/{group}/{version}/{doc['spec']['names']['plural']}?limit=1"
                )
                if conds.get("Established") == "True" and served == 200:
                    break
                if time.monotonic() > deadline:
                    raise EnvtestError(f"CRD {name} not established within {timeout}s: {conds}")
                time.sleep(0.1)

    # --- credentials -------------------------------------------------------------------------
    def mint_kubeconfig(
        self, user: str, groups: Sequence[str] = (), path: Path | None = None, *, server: str | None = None
    ) -> Path:
        """A kubeconfig for ``user`` in ``groups`` (a client certificate signed by the CA).

        ``server`` overrides the apiserver URL (e.g. to go through a test proxy on loopback).
        """
        issued = self.ca.issue(user, organizations=list(groups), client=True)
        doc = pki.kubeconfig_doc(
            cluster=_CLUSTER,
            server=server or self.url,
            user=user,
            ca=self.ca.cert_pem(),
            cert=issued.cert_pem,
            key=issued.key_pem,
        )
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in user)
        path = path or self.dir / f"kubeconfig-{safe}-{time.monotonic_ns()}"
        pki.write_kubeconfig(path, doc)
        return path

    # --- etcd --------------------------------------------------------------------------------
    def _etcd(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(self.etcd_url + path, data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            value: dict[str, Any] = json.loads(resp.read())
            return value

    def etcd_revision(self) -> int:
        out = self._etcd("/v3/kv/range", {"key": base64.b64encode(b"/").decode(), "limit": 1})
        return int(out["header"]["revision"])

    def compact(self) -> int:
        """Compact etcd to its current revision (physically); returns that revision."""
        rev = self.etcd_revision()
        self._etcd("/v3/kv/compaction", {"revision": rev, "physical": True})
        return rev

    # --- kube-controller-manager ---------------------------------------------------------------
    def start_controller_manager(self, timeout: float = 60.0) -> None:
        """Start kube-controller-manager (garbage collector, namespace controller, ...) once."""
        if "kube-controller-manager" in self._procs:
            return
        certs = self.dir / "pki"
        kubeconfig = self.mint_kubeconfig(
            "system:kube-controller-manager", path=self.dir / "kubeconfig-controller-manager"
        )
        self._spawn(
            "kube-controller-manager",
            kubeflags.kube_controller_manager(
                k8s_bin_dir() / "kube-controller-manager",
                kubeconfig=kubeconfig,
                address="127.0.0.1",
                port=free_port(),
                sa_key=certs / "sa.key",
                ca_crt=certs / "ca.crt",
                ca_key=certs / "ca.key",
                extra=["--controllers=*,-bootstrapsigner,-tokencleaner", "--concurrent-gc-syncs=5"],
            ),
        )
        # ready when the service-account controller made the "default" ServiceAccount
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            status, _ = self.http("GET", "/api/v1/namespaces/default/serviceaccounts/default")
            if status == 200:
                return
            time.sleep(0.25)
        raise EnvtestError(f"kube-controller-manager not working within {timeout}s")

    def stop_controller_manager(self) -> None:
        """Stop kube-controller-manager (if running); the apiserver keeps running."""
        proc = self._procs.pop("kube-controller-manager", None)
        if proc is not None:
            ground.stop(proc.rec, proc.popen, timeout=15)

    # --- state for the command line -------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "kubeconfig": str(self.kubeconfig),
            "etcd_url": self.etcd_url,
            "workdir": str(self.dir),
            "procs": {
                n: {"pid": p.rec.pid, "start_time": p.rec.start_time, "what": p.rec.what}
                for n, p in self._procs.items()
            },
        }


def _state_file() -> Path:
    d = ground.state_dir() / "envtest"
    d.mkdir(parents=True, exist_ok=True)
    return d / "state.json"


def _down() -> int:
    path = _state_file()
    if not path.exists():
        print("envtest: nothing to stop")
        return 0
    state = json.loads(path.read_text())
    for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
        p = state["procs"].get(name)
        if p:
            ground.stop(ground.Recorded(int(p["pid"]), int(p["start_time"]), str(p["what"])), timeout=15)
    workdir = Path(state["workdir"])
    shutil.rmtree(workdir, ignore_errors=True)
    ground.forget_dir(workdir)
    path.unlink()
    print("envtest: stopped")
    return 0


def _up(controller_manager: bool) -> int:
    path = _state_file()
    if path.exists():
        state = json.loads(path.read_text())
        alive = all(
            ground.Recorded(int(p["pid"]), int(p["start_time"]), str(p["what"])).alive()
            for p in state["procs"].values()
        )
        if alive:
            print(state["kubeconfig"])
            return 0
        _down()
    workdir = ground.state_dir() / "envtest" / "run"
    shutil.rmtree(workdir, ignore_errors=True)
    env = Envtest(workdir=workdir, controller_manager=controller_manager)
    env.start()
    path.write_text(json.dumps(env.state(), indent=2))
    print(env.kubeconfig)
    return 0


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in ("up", "down"):
        print("usage: python -m moco.testing.envtest up [--controller-manager] | down", file=sys.stderr)
        return 2
    if argv[0] == "down":
        return _down()
    with contextlib.suppress(KeyboardInterrupt):
        return _up("--controller-manager" in argv)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
