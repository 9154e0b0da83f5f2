"""The three object-store servers in the cluster: each deployed from the image the local provider
builds, its bucket created, and a multi-megabyte object round-tripped through obstore from a Pod
running moco's image (as a backup Job would, by the Service's DNS name). TLS with ``caCert``:
versitygw over HTTPS, verified with the minted CA and refused without it.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator

import pytest

from e2e import objectstores
from e2e.kubectl import Kubectl
from moco.testing.bucketcheck import Backend
from moco.testing.objectstore import BACKENDS

MiB = 1 << 20


@pytest.fixture(scope="module")
def image_refs() -> dict[Backend, str]:
    return objectstores.image_refs()


@pytest.fixture(scope="module")
def client(kube: Kubectl, k: Kubectl) -> str:
    return objectstores.client_pod(k, objectstores.controller_image(kube))


def test_the_three_servers_serve_a_bucket_in_the_cluster(
    k: Kubectl, client: str, image_refs: dict[Backend, str]
) -> None:
    for backend in BACKENDS:
        access = objectstores.deploy(k, backend, pod=client, image=image_refs[backend])
        assert access.endpoint.startswith(f"http://{objectstores.SERVERS[backend].name}.{k.namespace}.svc:")
        out = json.loads(objectstores.bucketcheck(k, client, "round-trip", access, "16"))
        assert out["backend"] == backend
        assert out["bytes"] > 16 * MiB
        # deploying again keeps the server and its credentials; the bucket is there already
        again = objectstores.deploy(k, backend, pod=client, image=image_refs[backend])
        assert again == access


@pytest.fixture
def tls_ns(kube: Kubectl) -> Iterator[Kubectl]:
    name = f"moco-e2e-tls-{secrets.token_hex(3)}"
    kube("create", "namespace", name)
    yield kube.ns(name)
    kube("delete", "namespace", name, "--wait=false")


def test_tls_to_the_bucket_is_verified_with_the_ca(
    tls_ns: Kubectl, k: Kubectl, client: str, image_refs: dict[Backend, str]
) -> None:
    # the client Pod lives in the session's namespace and reaches the other one by DNS name
    access = objectstores.deploy(tls_ns, "s3", pod=client, pod_k=k, image=image_refs["s3"], tls=True)
    assert access.endpoint.startswith("https://versitygw.")
    assert access.ca_cert is not None
    out = json.loads(objectstores.bucketcheck(k, client, "round-trip", access, "8"))
    assert out["bytes"] > 8 * MiB
    with pytest.raises(RuntimeError, match=r"(?i)certificate"):
        objectstores.bucketcheck(k, client, "round-trip", dataclasses.replace(access, ca_cert=None), "1")


def test_every_server_has_a_writable_tmp() -> None:
    # fake-gcs-server stages multipart uploads in /tmp; the restricted Pods' images have none
    # writable (every multipart backup upload to it failed with "permission denied")
    for backend in BACKENDS:
        objs = objectstores.manifests(backend, "ns", "img")
        (dep,) = [o for o in objs if o["kind"] == "Deployment"]
        pod = dep["spec"]["template"]["spec"]
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], backend
