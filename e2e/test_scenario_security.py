"""Security in real Pods: a cluster in a namespace that enforces the ``restricted`` Pod Security
level, an agent API that answers only the controller's certificate, and replication over TLS.

Every handshake is tried from inside the agent container of instance 0 (its own loopback, so
the test needs no route to Pod IPs and runs on kind as on the local provider), with the
agent's own trust bundle to verify the server. The positive control is a client certificate
issued here from the controller's CA (read from its Secret, as only a cluster admin can):
the same call with it is answered, so every refusal below is the agent's check, not a broken
setup. The clone path over mTLS is exercised by ``test_scenario_clone`` (same namespaces).
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterator

import pytest

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl
from e2e.mysql_access import READONLY, user_password
from moco.agentapi import tls
from moco.controllers.certs import CA_SECRET_NAME
from moco.pki import Authority, KeyPair, Usage, certs

pytestmark = pytest.mark.timeout(1500)

NAME = "secure"
POD = f"moco-{NAME}-0"

#: Runs in the agent container: one HTTPS GET /clone on the agent port with the client
#: certificate given (PEM, base64 in argv; "-" for none), verified by the mounted ca.crt.
#: Prints "answered <status line>" or "refused <why>".
PROBE = r"""
import base64, socket, ssl, sys
cert, key, name = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile="/grpc-cert/ca.crt")
if cert != "-":
    from moco.agentapi.tls import client_context
    trust = open("/grpc-cert/ca.crt", "rb").read()
    ctx = client_context(base64.b64decode(cert), base64.b64decode(key), trust)
try:
    with socket.create_connection(("127.0.0.1", 9080), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            s.sendall(b"GET /clone HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")
            data = s.recv(200)
    print("answered " + data.decode(errors="replace").split("\r\n")[0] if data else "refused closed")
except (ssl.SSLError, OSError) as e:
    print("refused " + type(e).__name__ + ": " + str(e)[:120])
"""

PLAIN = r"""
import socket
with socket.create_connection(("127.0.0.1", 9080), timeout=10) as s:
    s.sendall(b"GET /clone HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")
    try:
        data = s.recv(200)
    except OSError as e:
        data = b""
print("answered " + data.decode(errors="replace").split("\r\n")[0] if data.startswith(b"HTTP") else "refused")
"""


@pytest.fixture(scope="module")
def k(kube: Kubectl) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "security") as k:
        mc.apply(k, mc.minimal(NAME, str(k.namespace), replicas=3))
        mc.wait_healthy(k, NAME)
        yield k


def _probe(k: Kubectl, pair: KeyPair | None) -> str:
    cert = "-" if pair is None else base64.b64encode(pair.cert_pem).decode()
    key = "-" if pair is None else base64.b64encode(pair.key_pem).decode()
    name = tls.agent_server_name(str(k.namespace), NAME, 0)
    return _in_agent(k, PROBE, cert, key, name)


def _in_agent(k: Kubectl, script: str, *args: str) -> str:
    """The last line ``script`` prints, run by python in instance 0's agent container."""
    out = k("exec", POD, "-c", "agent", "--", "python", "-c", script, *args, timeout=60)
    return out.strip().splitlines()[-1]


def _authority(kube: Kubectl) -> Authority:
    secret = kube.ns(mc.SYSTEM_NAMESPACE).get("secret", CA_SECRET_NAME)
    a = Authority.from_data({k: base64.b64decode(v) for k, v in secret["data"].items()})
    assert a is not None, f"Secret {mc.SYSTEM_NAMESPACE}/{CA_SECRET_NAME} holds no CA"
    return a


def _issue(ca: KeyPair, cn: str, usage: Usage) -> KeyPair:
    return certs.issue(
        ca, cn, [usage], now=datetime.datetime.now(datetime.UTC), validity=datetime.timedelta(hours=1)
    )


def test_the_namespace_enforces_restricted_and_every_container_complies(k: Kubectl, kube: Kubectl) -> None:
    labels = kube.get("namespace", str(k.namespace))["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = k.get("pod", POD)
    assert pod["status"]["phase"] == "Running"
    for c in pod["spec"]["containers"] + pod["spec"]["initContainers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
        assert sc["readOnlyRootFilesystem"] is True, c["name"]
    assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_controllers_certificate_is_answered(k: Kubectl, kube: Kubectl) -> None:
    ca = _authority(kube)
    out = _probe(k, _issue(ca.current, tls.CONTROLLER_NAME, Usage.CLIENT))
    assert out.startswith("answered HTTP/1.1 401"), out  # past TLS and the name: the token is next


@pytest.mark.parametrize("who", ["no-certificate", "another-ca", "another-name", "a-serving-certificate"])
def test_any_other_client_is_refused(k: Kubectl, kube: Kubectl, who: str) -> None:
    ca = _authority(kube).current
    other_ca = certs.new_ca(
        "not moco", now=datetime.datetime.now(datetime.UTC), validity=datetime.timedelta(days=1)
    )
    pair = {
        "no-certificate": None,
        "another-ca": _issue(other_ca, tls.CONTROLLER_NAME, Usage.CLIENT),
        "another-name": _issue(ca, "someone", Usage.CLIENT),
        "a-serving-certificate": _issue(ca, tls.CONTROLLER_NAME, Usage.SERVER),
    }[who]
    out = _probe(k, pair)
    if who == "another-name":
        assert out.startswith("answered HTTP/1.1 403"), out
    else:
        assert out.startswith("refused"), out


def test_plain_http_is_not_served(k: Kubectl) -> None:
    out = _in_agent(k, PLAIN)
    assert out == "refused", out


def test_the_agent_mounts_its_certificate_secret_not_its_content(k: Kubectl) -> None:
    sts = k.get("statefulset", f"moco-{NAME}")
    text = json.dumps(sts["spec"]["template"])
    assert "BEGIN CERTIFICATE" not in text
    vols = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert vols["grpc-cert"]["secret"]["secretName"] == f"moco-{NAME}-grpc"


def _sql(k: Kubectl, index: int, sql: str) -> str:
    """``sql`` on instance ``index`` as moco-readonly (its mysqld container's client, over TCP)."""
    password = user_password(k, NAME, READONLY[1])
    return k(
        "exec",
        f"moco-{NAME}-{index}",
        "-c",
        "mysqld",
        "--",
        "env",
        f"MYSQL_PWD={password}",
        "mysql",
        "--no-defaults",
        "--connect-timeout=10",
        "-h",
        "127.0.0.1",
        "-u",
        READONLY[0],
        "-N",
        "-B",
        "-e",
        sql,
        timeout=60,
    ).strip()


def test_replication_between_instances_is_encrypted(k: Kubectl) -> None:
    primary = mc.primary_index(k, NAME)
    replicas = [i for i in range(3) if i != primary]
    for i in replicas:
        got = _sql(
            k,
            i,
            "SELECT SSL_ALLOWED, GET_PUBLIC_KEY FROM performance_schema.replication_connection_configuration"
            " WHERE CHANNEL_NAME = ''",
        )
        assert got == "YES\tNO", f"instance {i}: {got!r}"
    versions = _sql(
        k,
        primary,
        "SELECT sbt.VARIABLE_VALUE FROM performance_schema.threads t"
        " JOIN performance_schema.status_by_thread sbt ON sbt.THREAD_ID = t.THREAD_ID"
        " WHERE t.PROCESSLIST_COMMAND LIKE 'Binlog Dump%' AND sbt.VARIABLE_NAME = 'Ssl_version'",
    ).splitlines()
    assert len(versions) == 2, versions
    assert all(v.startswith("TLSv1.") for v in versions), versions
