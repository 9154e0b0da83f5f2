"""Security in real Pods: a cluster in a namespace that enforces the ``restricted`` Pod Security
level, an agent API that answers only the controller's certificate, and replication over TLS
verified against moco's CA (mysqld serves the certificate of Secret ``moco-<name>-mysql-tls``; a
renewed one is served without a restart).

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
import time
from collections.abc import Iterator

import pytest

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl, KubectlError
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


def test_replication_between_instances_is_encrypted_and_verified(k: Kubectl) -> None:
    primary = mc.primary_index(k, NAME)
    replicas = [i for i in range(3) if i != primary]
    source = k.get("pod", f"moco-{NAME}-{primary}")["status"]["podIP"]
    for i in replicas:
        got = _sql(
            k,
            i,
            "SELECT c.HOST, c.SSL_ALLOWED, c.SSL_CA_FILE, c.SSL_VERIFY_SERVER_CERTIFICATE,"
            " c.GET_PUBLIC_KEY, s.SERVICE_STATE"
            " FROM performance_schema.replication_connection_configuration c"
            " JOIN performance_schema.replication_connection_status s USING (CHANNEL_NAME)"
            " WHERE CHANNEL_NAME = ''",
        )
        # by the primary's Pod IP (no DNS on the failover path), its certificate's chain checked
        # against the mounted CA (VERIFY_CA: the name is not checked), running
        assert got == f"{source}\tYES\t/mysql-tls/ca.crt\tNO\tNO\tON", f"instance {i}: {got!r}"
    versions = _sql(
        k,
        primary,
        "SELECT sbt.VARIABLE_VALUE FROM performance_schema.threads t"
        " JOIN performance_schema.status_by_thread sbt ON sbt.THREAD_ID = t.THREAD_ID"
        " WHERE t.PROCESSLIST_COMMAND LIKE 'Binlog Dump%' AND sbt.VARIABLE_NAME = 'Ssl_version'",
    ).splitlines()
    assert len(versions) == 2, versions
    assert all(v.startswith("TLSv1.") for v in versions), versions


def test_the_operators_sessions_are_tls(k: Kubectl) -> None:
    """The controller's sessions on the primary (its watch keeps one open) are TLS; the agent's
    own come from 127.0.0.1 inside the Pod."""
    primary = mc.primary_index(k, NAME)
    deadline = time.monotonic() + 30
    while True:
        versions = _sql(
            k,
            primary,
            "SELECT IFNULL(sbt.VARIABLE_VALUE, '') FROM performance_schema.threads t"
            " LEFT JOIN performance_schema.status_by_thread sbt"
            "   ON sbt.THREAD_ID = t.THREAD_ID AND sbt.VARIABLE_NAME = 'Ssl_version'"
            " WHERE t.PROCESSLIST_USER = 'moco-admin'"
            " AND t.PROCESSLIST_HOST NOT IN ('localhost', '127.0.0.1')",
        ).splitlines()
        if versions or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert versions, "no session of the controller on the primary"
    assert all(v.startswith("TLSv1.") for v in versions), versions


def _secret_cert(k: Kubectl) -> certs.CertFacts:
    secret = k.get("secret", f"moco-{NAME}-mysql-tls")
    return certs.read(base64.b64decode(secret["data"]["tls.crt"]))


def _served_not_after(k: Kubectl, index: int) -> dict[str, str]:
    """The end of the certificate each channel of instance ``index`` serves, as mysqld says it."""
    rows = _sql(
        k,
        index,
        "SELECT CHANNEL, VALUE FROM performance_schema.tls_channel_status"
        " WHERE PROPERTY = 'Ssl_server_not_after'",
    )
    return dict(line.split("\t", 1) for line in rows.splitlines())


def _mysqld_text(facts: certs.CertFacts) -> str:
    return facts.not_after.strftime("%b %e %H:%M:%S %Y GMT")


def test_every_instance_serves_the_ca_issued_certificate_on_both_ports(k: Kubectl) -> None:
    facts = _secret_cert(k)
    for i in range(3):
        assert f"moco-{NAME}-{i}.moco-{NAME}.{k.namespace}.svc" in facts.dns_names
        assert _served_not_after(k, i) == {
            "mysql_main": _mysqld_text(facts),
            "mysql_admin": _mysqld_text(facts),
        }


def test_a_renewed_certificate_is_served_without_restarting_mysqld(k: Kubectl) -> None:
    """The Secret is re-issued (deleted: the reconciler issues a new certificate at its next pass,
    asked here with an annotation); the kubelet updates the volume in place and the agent has
    mysqld reload it. Every Pod keeps its uid and its mysqld its restart count."""
    before = _secret_cert(k)
    pods = {i: k.get("pod", f"moco-{NAME}-{i}") for i in range(3)}
    restarts = {
        i: {c["name"]: c["restartCount"] for c in p["status"]["containerStatuses"]} for i, p in pods.items()
    }
    time.sleep(1.5)  # a new certificate ends at least a second later than the old one
    k("delete", "secret", f"moco-{NAME}-mysql-tls")
    k("annotate", "mysqlcluster", NAME, f"e2e.moco/renew={int(time.time())}", "--overwrite")
    deadline = time.monotonic() + 60
    while True:
        try:
            after = _secret_cert(k)
            if after.fingerprint != before.fingerprint:
                break
        except KubectlError:  # not re-created yet
            pass
        assert time.monotonic() < deadline, "the mysqld certificate Secret was not issued again"
        time.sleep(1)
    want = {"mysql_main": _mysqld_text(after), "mysql_admin": _mysqld_text(after)}
    deadline = time.monotonic() + 240  # kubelet sync (about a minute) + the agent's 10 s poll
    served: dict[int, dict[str, str]] = {}
    while True:
        served = {i: _served_not_after(k, i) for i in range(3)}
        if all(v == want for v in served.values()):
            break
        assert time.monotonic() < deadline, f"renewed certificate not served: {served}, want {want}"
        time.sleep(5)
    for i, p in pods.items():
        now = k.get("pod", f"moco-{NAME}-{i}")
        assert now["metadata"]["uid"] == p["metadata"]["uid"], f"Pod {i} was re-created"
        assert {c["name"]: c["restartCount"] for c in now["status"]["containerStatuses"]} == restarts[i]
    mc.wait_healthy(k, NAME)
    test_replication_between_instances_is_encrypted_and_verified(k)
