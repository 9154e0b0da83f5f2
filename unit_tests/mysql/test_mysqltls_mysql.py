"""mysqld serving a certificate of moco's CA, on real servers: replicas and the operator verify it.

The files are laid out as the kubelet lays out a Secret volume (``tls.crt`` -> ``..data/tls.crt``,
``..data`` -> a timestamped directory, swapped by one rename), and mysqld gets moco's my.cnf
TLS settings (:func:`moco.mycnf.defaults.tls_settings`). Each certificate names 127.0.0.1 (the
address the instances listen on here) unless a test says otherwise.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from moco.agent.mysqltls import Action, TLSReloader
from moco.mysql import ops
from moco.mysql.conn import Connection, ServerTrust, connect
from moco.mysql.errors import UntrustedServer
from moco.mysql.status import get_replica_status, get_status
from moco.pki import KeyPair, certs
from moco.testing import mysqltls
from moco.testing.mysqld import Mysqld
from unit_tests.fixtures.mysqld import MysqldFactory
from unit_tests.mysql.helpers import REPL_PASSWORD, REPL_USER, create_repl_user, eventually, make_table

pytestmark = pytest.mark.mysql

NOW = datetime.datetime.now(datetime.UTC)


def new_ca(name: str = "moco agent CA") -> KeyPair:
    return mysqltls.new_ca(name, now=NOW)


def leaf(
    ca: KeyPair, *, ips: Sequence[str] = ("127.0.0.1",), dns: Sequence[str] = (), days: int = 90
) -> KeyPair:
    return mysqltls.leaf(ca, ips=ips, dns=dns, days=days, now=NOW)


mount = mysqltls.mount
tls_args = mysqltls.mysqld_args


async def serving(factory: MysqldFactory, directory: Path, pair: KeyPair, trust: bytes) -> Mysqld:
    mount(directory, pair, trust)
    (m,) = await factory(1, extra_args=tls_args(directory))
    return m


async def served_not_after(conn: Connection) -> str:
    name = "Ssl_server_not_after"
    row = await conn.query_one(
        "SELECT VARIABLE_VALUE AS v FROM performance_schema.global_status WHERE VARIABLE_NAME = %s", (name,)
    )
    assert row is not None
    return str(row["v"])


def not_after_text(pair: KeyPair) -> str:
    """The certificate's end as mysqld's ``Ssl_server_not_after`` spells it."""
    return certs.read(pair.cert_pem).not_after.strftime("%b %e %H:%M:%S %Y GMT")


async def _replicate(
    src: Mysqld, rep: Mysqld, *, host: str, verify_ca: str, verify_name: bool = True
) -> tuple[Connection, Connection]:
    s = await connect(src.endpoint())
    r = await connect(rep.endpoint())
    await ops.set_writable(s)
    await create_repl_user(s)
    await ops.change_source(
        r,
        host=host,
        port=src.port,
        user=REPL_USER,
        password=REPL_PASSWORD,
        verify_ca=verify_ca,
        verify_name=verify_name,
    )
    await ops.start_replica(r)
    return s, r


async def _writes_reach(s: Connection, r: Connection, what: str) -> dict[str, object] | None:
    """Write three rows on ``s``, wait until ``r`` applied them, and return ``r``'s replication
    connection configuration (TLS columns)."""
    await make_table(s, rows=3)
    sst = await get_status(s)

    async def caught_up() -> bool:
        return await ops.wait_for_gtid(r, sst.gtid_executed, timeout=1)

    await eventually(caught_up, what=what)
    return await r.query_one(
        "SELECT SSL_ALLOWED, SSL_CA_FILE, SSL_VERIFY_SERVER_CERTIFICATE, GET_PUBLIC_KEY"
        " FROM performance_schema.replication_connection_configuration WHERE CHANNEL_NAME = ''"
    )


async def _io_failed(r: Connection) -> bool:
    rs = await get_replica_status(r)
    return rs is not None and rs.last_io_errno != 0


async def test_replica_verifies_a_source_serving_a_certificate_of_the_ca(
    mysqld_factory: MysqldFactory, tmp_path: Path
) -> None:
    ca = new_ca()
    src_pair, rep_pair = leaf(ca), leaf(ca)
    src = await serving(mysqld_factory, tmp_path / "src", src_pair, ca.cert_pem)
    rep = await serving(mysqld_factory, tmp_path / "rep", rep_pair, ca.cert_pem)
    ca_file = str(tmp_path / "rep" / "ca.crt")
    s, r = await _replicate(src, rep, host=src.host, verify_ca=ca_file)
    try:
        config = await _writes_reach(s, r, "replica caught up over verified TLS")
        assert config == {
            "SSL_ALLOWED": "YES",
            "SSL_CA_FILE": ca_file,
            "SSL_VERIFY_SERVER_CERTIFICATE": "YES",
            "GET_PUBLIC_KEY": "NO",
        }
        rs = await get_replica_status(r)
        assert rs is not None
        assert rs.verifies_source
        assert rs.ssl_ca_file == ca_file
        # the source serves the CA-issued certificate, on both channels
        assert await served_not_after(s) == not_after_text(src_pair)
        # the source's binlog dump connection to this replica is TLS
        row = await s.query_one(
            "SELECT sbt.VARIABLE_VALUE AS v FROM performance_schema.threads t"
            " JOIN performance_schema.status_by_thread sbt ON sbt.THREAD_ID = t.THREAD_ID"
            " WHERE t.PROCESSLIST_COMMAND LIKE 'Binlog Dump%%' AND sbt.VARIABLE_NAME = 'Ssl_version'"
        )
        assert row is not None
        assert str(row["v"]).startswith("TLSv1."), row
        # the operator's verifying connection, to the SQL and the admin port
        trust = ServerTrust(ca.cert_pem)
        for ep in (src.endpoint(), src.admin_endpoint()):
            async with await connect(replace(ep, ssl=trust.context(src.host))) as c:
                cipher = await c.query_one("SHOW SESSION STATUS LIKE 'Ssl_version'")
                assert cipher is not None
                assert str(cipher["Value"]).startswith("TLSv1."), cipher
    finally:
        await s.close()
        await r.close()


async def test_a_source_of_another_ca_is_refused_with_a_clear_error(
    mysqld_factory: MysqldFactory, tmp_path: Path
) -> None:
    ours, theirs = new_ca(), new_ca("someone else's CA")
    src = await serving(mysqld_factory, tmp_path / "src", leaf(theirs), theirs.cert_pem)
    rep = await serving(mysqld_factory, tmp_path / "rep", leaf(ours), ours.cert_pem)
    s, r = await _replicate(src, rep, host=src.host, verify_ca=str(tmp_path / "rep" / "ca.crt"))
    try:
        await make_table(s, rows=1)

        await eventually(lambda: _io_failed(r), what="the IO thread refuses the source")
        rs = await get_replica_status(r)
        assert rs is not None
        assert rs.last_io_errno == 2026, (rs.last_io_errno, rs.last_io_error)  # CR_SSL_CONNECTION_ERROR
        assert "SSL" in rs.last_io_error or "certificate" in rs.last_io_error, rs.last_io_error
        assert rs.io_running != "Yes"
        assert not str(rs.retrieved_gtid_set)  # nothing was received from it
        # the operator refuses it too, naming the server and the certificate problem
        trust = ServerTrust(ours.cert_pem)
        ep = src.admin_endpoint()
        with pytest.raises(UntrustedServer) as err:
            await connect(replace(ep, ssl=trust.context(src.host)))
        assert ep.address in str(err.value), str(err.value)
        assert "certificate" in str(err.value), str(err.value)
        assert not err.value.refused  # something answered: no evidence that mysqld is gone
    finally:
        await s.close()
        await r.close()


async def test_the_certificate_must_name_the_source(mysqld_factory: MysqldFactory, tmp_path: Path) -> None:
    """A certificate of the right CA for another name (another instance, another cluster) is
    refused by a replica and by the operator; the name the operator checks is the Pod's name,
    not the address it connects to."""
    ca = new_ca()
    pod = "moco-c-0.moco-c.ns.svc"
    src = await serving(mysqld_factory, tmp_path / "src", leaf(ca, ips=(), dns=(pod,)), ca.cert_pem)
    rep = await serving(mysqld_factory, tmp_path / "rep", leaf(ca), ca.cert_pem)
    s, r = await _replicate(src, rep, host=src.host, verify_ca=str(tmp_path / "rep" / "ca.crt"))
    try:
        await eventually(lambda: _io_failed(r), what="the IO thread refuses a certificate for another name")
        trust = ServerTrust(ca.cert_pem)
        ep = src.admin_endpoint()
        with pytest.raises(UntrustedServer, match="moco-c-1"):
            await connect(replace(ep, ssl=trust.context("moco-c-1.moco-c.ns.svc")))
        # connected by IP, checked for the Pod's name: accepted
        async with await connect(replace(ep, ssl=trust.context(pod))) as c:
            assert await c.query_one("SELECT 1 AS one") == {"one": 1}
    finally:
        await s.close()
        await r.close()


async def test_a_server_that_offers_no_tls_is_refused_before_authentication(
    mysqld_factory: MysqldFactory,
) -> None:
    (m,) = await mysqld_factory(1, extra_args=["--tls-version="])
    ep = m.endpoint()
    trust = ServerTrust(new_ca().cert_pem)
    with pytest.raises(UntrustedServer, match="offers no TLS"):
        await connect(replace(ep, ssl=trust.context(m.host)))
    async with await connect(m.endpoint()) as c:  # the same account in clear: only TLS was missing
        assert await c.query_one("SELECT 1 AS one") == {"one": 1}


async def test_a_renewed_certificate_is_served_after_a_reload_without_restart(
    mysqld_factory: MysqldFactory, tmp_path: Path
) -> None:
    ca = new_ca()
    first, second = leaf(ca, days=90), leaf(ca, days=60)
    directory = tmp_path / "tls"
    m = await serving(mysqld_factory, directory, first, ca.cert_pem)
    pid = m.pid
    reloader = TLSReloader(m.endpoint, directory, timeout=5.0)
    assert (await reloader.step()).action is Action.RELOAD  # first look: reload once
    assert (await reloader.step()).action is Action.IDLE
    async with await connect(m.endpoint()) as c:
        assert await served_not_after(c) == not_after_text(first)

    # a torn read (the new certificate with the old key) is waited out; mysqld keeps serving
    torn = tmp_path / "torn"
    mount(torn, KeyPair(second.cert_pem, first.key_pem), ca.cert_pem)
    assert (await TLSReloader(m.endpoint, torn).step()).action is Action.WAIT

    mount(directory, second, ca.cert_pem)  # the kubelet's swap after the Secret was renewed
    decision = await reloader.step()
    assert decision.action is Action.RELOAD
    assert "files changed" in decision.reason
    trust = ServerTrust(ca.cert_pem)
    async with await connect(m.endpoint()) as c:
        assert await served_not_after(c) == not_after_text(second)
    ep = m.admin_endpoint()
    async with await connect(replace(ep, ssl=trust.context(m.host))) as c:
        row = await c.query_one(
            "SELECT VALUE AS v FROM performance_schema.tls_channel_status"
            " WHERE CHANNEL = 'mysql_admin' AND PROPERTY = 'Ssl_server_not_after'"
        )
        assert row is not None
        assert str(row["v"]) == not_after_text(second)
    assert m.pid == pid  # mysqld was not restarted
    assert reloader.reloads == 2


async def test_by_address_the_chain_is_verified_and_the_name_is_not(
    mysqld_factory: MysqldFactory, tmp_path: Path
) -> None:
    """What moco's replicas do (``verify_name=False``): they name their source by its Pod IP, so
    no DNS look-up is on the failover path, and verify that its certificate chains to the
    cluster's CA (MySQL's VERIFY_CA). A certificate that names only the Pod's DNS name is
    accepted by IP; one of another CA is still refused."""
    ca, theirs = new_ca(), new_ca("someone else's CA")
    pod = "moco-c-0.moco-c.ns.svc"
    src = await serving(mysqld_factory, tmp_path / "src", leaf(ca, ips=(), dns=(pod,)), ca.cert_pem)
    other = await serving(mysqld_factory, tmp_path / "other", leaf(theirs), theirs.cert_pem)
    rep = await serving(mysqld_factory, tmp_path / "rep", leaf(ca), ca.cert_pem)
    ca_file = str(tmp_path / "rep" / "ca.crt")
    s, r = await _replicate(src, rep, host=src.host, verify_ca=ca_file, verify_name=False)
    o: Connection | None = None
    r2: Connection | None = None
    try:
        config = await _writes_reach(
            s, r, "the replica follows by IP a source whose certificate names its Pod"
        )
        assert config == {
            "SSL_ALLOWED": "YES",
            "SSL_CA_FILE": ca_file,
            "SSL_VERIFY_SERVER_CERTIFICATE": "NO",
            "GET_PUBLIC_KEY": "NO",
        }
        # the same way to a source of another CA: refused, nothing received
        o, r2 = await _replicate(other, rep, host=other.host, verify_ca=ca_file, verify_name=False)
        await make_table(o, db="other", rows=1)
        await eventually(lambda: _io_failed(r2), what="the IO thread refuses a source of another CA")
        rs = await get_replica_status(r2)
        assert rs is not None
        assert rs.last_io_errno == 2026, (rs.last_io_errno, rs.last_io_error)
        assert rs.io_running != "Yes"
    finally:
        for c in (s, r, o, r2):
            if c is not None:
                await c.close()
