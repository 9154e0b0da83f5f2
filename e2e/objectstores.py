"""The three object-store servers as Deployments + Services of the e2e cluster, with their buckets.

:func:`deploy` runs one backend in a namespace (idempotent: applying again changes nothing) and
returns a :class:`moco.testing.bucketcheck.BucketAccess` whose endpoint is the Service's DNS name:
what a BackupPolicy's ``bucketConfig`` (``endpointURL``, ``bucketName``, ``region``,
``usePathStyle``, ``caCert``) and its Job's environment (``env``, from a Secret) name.

- s3: versitygw (posix backend, root keys made up per deployment, kept in a Secret), Service
  ``versitygw:7070``, endpoint ``http(s)://versitygw.<ns>.svc:7070``;
- gcs: fake-gcs-server (filesystem backend), ``fake-gcs-server:4443``,
  ``http(s)://fake-gcs-server.<ns>.svc:4443``;
- azure: azurite's blob service, ``azurite:10000``,
  ``http(s)://azurite.<ns>.svc:10000/devstoreaccount1``.

fake-gcs-server answers its object routes only for its public host, which is the Service's
``<name>.<ns>.svc:4443``: clients must use that name (MOCO's manifests do the same). With
``tls=True`` the server gets a certificate for the Service's names signed by a CA minted here
(``access.ca_cert``), mounted from a Secret.

Buckets are created from inside the cluster, by ``python -m moco.testing.bucketcheck`` in a client
Pod running moco's image (:func:`client_pod`), the way backup Jobs reach the servers. Images come
from :mod:`e2e.local.objectstore_images` (loaded into the local cluster's nodes on first use), or
from ``MOCO_E2E_VERSITYGW_IMAGE`` / ``MOCO_E2E_FAKE_GCS_SERVER_IMAGE`` / ``MOCO_E2E_AZURITE_IMAGE``.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from e2e import images
from e2e.kubectl import Kubectl
from e2e.mysql_access import RESTRICTED_CONTAINER, RESTRICTED_POD
from moco.testing.bucketcheck import Backend, BucketAccess
from moco.testing.objectstore import AZURITE_ACCOUNT, DEFAULT_REGION, client_env
from moco.testing.pki import CA

CONTROLLER_NAMESPACE = "moco-system"
CONTROLLER = "moco-controller"
CLIENT_POD = "objectstore-client"


@dataclass(frozen=True)
class Server:
    """How one backend's server runs in the cluster."""

    backend: Backend
    name: str
    port: int
    image_env: str

    def host(self, namespace: str) -> str:
        return f"{self.name}.{namespace}.svc"

    def endpoint(self, namespace: str, tls: bool) -> str:
        base = f"{'https' if tls else 'http'}://{self.host(namespace)}:{self.port}"
        return f"{base}/{AZURITE_ACCOUNT}" if self.backend == "azure" else base


SERVERS: dict[Backend, Server] = {
    "s3": Server("s3", "versitygw", 7070, "MOCO_E2E_VERSITYGW_IMAGE"),
    "gcs": Server("gcs", "fake-gcs-server", 4443, "MOCO_E2E_FAKE_GCS_SERVER_IMAGE"),
    "azure": Server("azure", "azurite", 10000, "MOCO_E2E_AZURITE_IMAGE"),
}
TLS_DIR = "/tls"


def image_refs(only: Backend | None = None) -> dict[Backend, str]:
    """The servers' images: from the environment, else built and loaded into the local cluster
    (``only``: that backend's image alone is loaded, the others' references are still given:
    importing azurite's 400 MB into each node of a busy 2-core machine can outlast ctr's timeout)."""
    refs: dict[Backend, str] = {b: os.environ.get(s.image_env, "") for b, s in SERVERS.items()}
    if all(refs.values()):
        return refs
    from e2e.local import objectstore_images

    built = objectstore_images.all_images()
    objectstore_images.load({b: img for b, img in built.items() if only is None or b == only})
    return {b: refs[b] or built[b].ref for b in SERVERS}


def _args(server: Server, namespace: str, tls: bool) -> list[str]:
    if server.backend == "s3":
        args = ["--port", f":{server.port}", "--region", DEFAULT_REGION, "--quiet"]
        if tls:
            args += ["--cert", f"{TLS_DIR}/tls.crt", "--key", f"{TLS_DIR}/tls.key"]
        return [*args, "posix", "/data"]
    if server.backend == "gcs":
        scheme = "https" if tls else "http"
        public = f"{server.host(namespace)}:{server.port}"
        args = ["-backend", "filesystem", "-filesystem-root", "/data", "-host", "0.0.0.0"]
        args += ["-port", str(server.port), "-scheme", scheme, "-log-level", "warn"]
        args += ["-public-host", public, "-external-url", f"{scheme}://{public}"]
        if tls:
            args += ["-cert-location", f"{TLS_DIR}/tls.crt", "-private-key-location", f"{TLS_DIR}/tls.key"]
        return args
    args = ["--blobHost", "0.0.0.0", "--blobPort", str(server.port), "--location", "/data"]
    args += ["--skipApiVersionCheck", "--loose", "--disableProductStyleUrl", "--disableTelemetry", "--silent"]
    if tls:
        args += ["--cert", f"{TLS_DIR}/tls.crt", "--key", f"{TLS_DIR}/tls.key"]
    return args


def manifests(
    backend: Backend,
    namespace: str,
    image: str,
    *,
    server_env: dict[str, str] | None = None,
    tls: tuple[bytes, bytes] | None = None,
) -> list[dict[str, Any]]:
    """Secret(s), Deployment and Service of ``backend`` (pure: the caller applies them).

    ``server_env`` goes into a Secret the container reads its environment from (versitygw's root
    keys); ``tls`` is (certificate PEM, key PEM).
    """
    server = SERVERS[backend]
    labels = {"app.kubernetes.io/name": server.name, "app.kubernetes.io/part-of": "moco-e2e"}
    container: dict[str, Any] = {
        "name": server.name,
        "image": image,
        "imagePullPolicy": images.pull_policy(),
        "args": _args(server, namespace, tls is not None),
        "ports": [{"name": "api", "containerPort": server.port}],
        "readinessProbe": {"tcpSocket": {"port": server.port}, "periodSeconds": 1},
        # /tmp: fake-gcs-server stages XML multipart uploads there, and the image has none
        # writable ("mkdir /tmp/fake-gcs-xml-upload-...: permission denied" failed every
        # multipart backup upload)
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
        # scenario namespaces enforce the restricted Pod Security level
        "securityContext": RESTRICTED_CONTAINER,
    }
    volumes: list[dict[str, Any]] = [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    objs: list[dict[str, Any]] = []

    def secret(name: str, data: dict[str, bytes]) -> None:
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
            }
        )

    if server_env:
        secret(f"{server.name}-env", {k: v.encode() for k, v in server_env.items()})
        container["envFrom"] = [{"secretRef": {"name": f"{server.name}-env"}}]
    if tls:
        secret(f"{server.name}-tls", {"tls.crt": tls[0], "tls.key": tls[1]})
        container["volumeMounts"].append({"name": "tls", "mountPath": TLS_DIR, "readOnly": True})
        volumes.append({"name": "tls", "secret": {"secretName": f"{server.name}-tls"}})
    objs.append(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": server.name, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 5,
                        "securityContext": RESTRICTED_POD,
                        "containers": [container],
                        "volumes": volumes,
                    },
                },
            },
        }
    )
    objs.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": server.name, "namespace": namespace, "labels": labels},
            "spec": {
                "selector": labels,
                "ports": [{"name": "api", "port": server.port, "targetPort": "api"}],
            },
        }
    )
    return objs


def _existing_env(k: Kubectl, name: str) -> dict[str, str]:
    """The decoded data of Secret ``name``, or {} (so a second deploy keeps the same keys)."""
    out = k("get", "secret", name, "-o", "json", "--ignore-not-found")
    if not out.strip():
        return {}
    data: dict[str, str] = json.loads(out).get("data") or {}
    return {key: base64.b64decode(v).decode() for key, v in data.items()}


def _mint(server: Server, namespace: str) -> tuple[bytes, bytes, bytes]:
    """(CA PEM, certificate PEM, key PEM) for the Service's DNS names."""
    ca = CA.create(
        f"moco e2e {server.name} CA", valid=datetime.timedelta(days=7), backdate=datetime.timedelta(hours=1)
    )
    names = [
        server.name,
        f"{server.name}.{namespace}",
        server.host(namespace),
        f"{server.host(namespace)}.cluster.local",
    ]
    leaf = ca.issue(server.name, server=True, dns=names)
    return ca.cert_pem(), leaf.cert_pem, leaf.key_pem


def controller_image(kube: Kubectl) -> str:
    """moco's image as the deployed controller runs it (it carries moco.testing and obstore)."""
    dep = kube.ns(CONTROLLER_NAMESPACE).get("deployment", CONTROLLER)
    image: str = dep["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def client_pod(k: Kubectl, image: str) -> str:
    """A Pod running moco's ``image`` to reach the servers from inside the cluster (idempotent)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": CLIENT_POD, "labels": {"app.kubernetes.io/name": CLIENT_POD}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "securityContext": RESTRICTED_POD,
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": images.pull_policy(),
                    "command": ["sleep", "86400"],
                    "securityContext": RESTRICTED_CONTAINER,
                }
            ],
        },
    }
    k.apply(json.dumps(pod))
    k.wait_ready(f"pod/{CLIENT_POD}", timeout=120)
    return CLIENT_POD


def bucketcheck(
    k: Kubectl, pod: str, command: str, access: BucketAccess, *args: str, timeout: float = 180
) -> str:
    """``python -m moco.testing.bucketcheck COMMAND`` in ``pod``; returns its last output line."""
    rc, out = k.exec_rc(
        pod, "python", "-m", "moco.testing.bucketcheck", command, access.to_json(), *args, timeout=timeout
    )
    if rc != 0:
        raise RuntimeError(f"bucketcheck {command} ({access.backend}) failed ({rc}):\n{out[-3000:]}")
    return out.strip().splitlines()[-1]


#: Prints the text of one object of the bucket (nothing when it does not exist), run in the client
#: Pod: ``python -c READ_OBJECT ACCESS_JSON KEY``.
READ_OBJECT = """
import asyncio, sys
import obstore
from moco.testing.bucketcheck import BucketAccess, client

async def main() -> None:
    access = BucketAccess.from_json(sys.argv[1])
    try:
        got = await asyncio.wait_for(obstore.get_async(client(access, ca=access.ca_cert), sys.argv[2]), 60)
        sys.stdout.write(bytes(await asyncio.wait_for(got.bytes_async(), 60)).decode())
    except FileNotFoundError:  # obstore's NotFound
        pass

asyncio.run(main())
"""


def read_object(k: Kubectl, pod: str, access: BucketAccess, key: str, *, timeout: float = 90) -> str:
    """The text of object ``key`` as a client in the cluster reads it from ``pod`` ("" when absent)."""
    rc, out = k.exec_rc(pod, "python", "-c", READ_OBJECT, access.to_json(), key, timeout=timeout)
    if rc != 0:
        raise RuntimeError(f"reading {key} ({access.backend}) failed ({rc}):\n{out[-3000:]}")
    return out


def deploy(
    k: Kubectl,
    backend: Backend,
    *,
    pod: str,
    image: str,
    bucket: str = "moco",
    tls: bool = False,
    pod_k: Kubectl | None = None,
) -> BucketAccess:
    """Run ``backend``'s server in ``k``'s namespace, wait until it is ready, create ``bucket``
    from ``pod`` (see :func:`client_pod`; ``pod_k``: kubectl of the Pod's namespace, default
    ``k``); returns what a client in the cluster needs.
    """
    namespace = k.namespace
    if namespace is None:
        raise ValueError("deploy needs a namespaced Kubectl")
    server = SERVERS[backend]
    server_env: dict[str, str] = {}
    access_key = secret_key = ""
    if backend == "s3":
        server_env = _existing_env(k, f"{server.name}-env") or {
            "ROOT_ACCESS_KEY": f"moco{secrets.token_hex(4)}",
            "ROOT_SECRET_KEY": secrets.token_urlsafe(24),
        }
        access_key, secret_key = server_env["ROOT_ACCESS_KEY"], server_env["ROOT_SECRET_KEY"]
    ca_pem: bytes | None = None
    tls_pair: tuple[bytes, bytes] | None = None
    if tls:
        old = _existing_env(k, f"{server.name}-tls")
        ca_old = _existing_env(k, f"{server.name}-ca").get("ca.crt", "")
        if old and ca_old:
            ca_pem, tls_pair = ca_old.encode(), (old["tls.crt"].encode(), old["tls.key"].encode())
        else:
            ca_pem, crt, key = _mint(server, namespace)
            tls_pair = (crt, key)
            k.apply(
                json.dumps(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": f"{server.name}-ca"},
                        "data": {"ca.crt": base64.b64encode(ca_pem).decode()},
                    }
                )
            )
    for obj in manifests(backend, namespace, image, server_env=server_env, tls=tls_pair):
        k.apply(json.dumps(obj))
    k("rollout", "status", f"deployment/{server.name}", "--timeout=180s", timeout=190)
    endpoint = server.endpoint(namespace, tls)
    env = client_env(backend, endpoint, access=access_key, secret=secret_key)
    access = BucketAccess(backend, endpoint, bucket, DEFAULT_REGION, True, env, ca_pem)
    # the Deployment is available; the Service's endpoints and kube-proxy's rules may follow later
    deadline = time.monotonic() + 60
    while True:
        try:
            bucketcheck(pod_k or k, pod, "create-bucket", access, timeout=60)
            return access
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
