"""How a connection that must be TLS fails, against a fake server on loopback that speaks the
first packet of MySQL's protocol (its greeting), then misbehaves.

* a greeting without the TLS capability: ``UntrustedServer`` before the user name or anything of
  the password is sent (aiomysql alone would have gone on in clear);
* a server that ends the stream in the middle of the TLS handshake (a mysqld killed meanwhile):
  a lost connection (``Unreachable``, not ``UntrustedServer``, never ``refused``), so the
  clustering loop weighs it as any lost connection, not as a certificate refused.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from pymysql.constants import CLIENT

from moco.mysql.conn import Endpoint, ServerTrust, connect
from moco.mysql.errors import Unreachable, UntrustedServer
from moco.pki import certs
from moco.testing import mysqltls

BASE_CAPS = CLIENT.PROTOCOL_41 | CLIENT.SECURE_CONNECTION | CLIENT.PLUGIN_AUTH | CLIENT.LONG_PASSWORD


def greeting(capabilities: int) -> bytes:
    """A protocol-10 handshake packet (sequence 0) offering ``capabilities``."""
    salt = b"abcdefghijklmnopqrst"
    payload = (
        b"\x0a"
        + b"9.7.4-fake\x00"
        + struct.pack("<I", 7)
        + salt[:8]
        + b"\x00"
        + struct.pack("<H", capabilities & 0xFFFF)
        + b"\xff"  # utf8mb4_0900_ai_ci
        + struct.pack("<H", 2)
        + struct.pack("<H", capabilities >> 16)
        + bytes([21])
        + b"\x00" * 10
        + salt[8:]
        + b"\x00"
        + b"caching_sha2_password\x00"
    )
    return struct.pack("<I", len(payload))[:3] + b"\x00" + payload


@asynccontextmanager
async def fake_server(capabilities: int) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A server that greets, records what the client sends (up to 1 s) and ends the stream at
    the client's TLS ClientHello (as a mysqld that dies in the handshake)."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting(capabilities))
        await writer.drain()
        try:
            async with asyncio.timeout(1.0):
                while data := await reader.read(4096):
                    received.append(data)
                    if data[:1] == b"\x16":  # the TLS ClientHello: end the stream, cleanly
                        writer.write_eof()
        except (TimeoutError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], received
    finally:
        server.close()
        await server.wait_closed()


def _endpoint(port: int) -> Endpoint:
    ca = mysqltls.new_ca()
    return Endpoint(
        "127.0.0.1", port, "moco-admin", "a-password", ServerTrust(ca.cert_pem).context("127.0.0.1")
    )


async def test_a_server_that_offers_no_tls_never_gets_the_password() -> None:
    async with fake_server(BASE_CAPS) as (port, received):
        with pytest.raises(UntrustedServer, match="offers no TLS"):
            await connect(_endpoint(port), timeout=5)
    assert all(b"moco-admin" not in r for r in received), received


async def test_a_handshake_broken_off_is_a_lost_connection_not_a_trust_failure() -> None:
    async with fake_server(BASE_CAPS | CLIENT.SSL) as (port, received):
        with pytest.raises(Unreachable) as err:
            await connect(_endpoint(port), timeout=5)
    assert not isinstance(err.value, UntrustedServer), err.value
    assert not err.value.refused
    # what the client sent was the 32-byte TLS request, no user name
    assert received
    assert all(b"moco-admin" not in r for r in received), received


def test_the_certificate_module_reads_what_the_fake_ca_made() -> None:
    """The CA the endpoints above trust is a real one (the failures are not a broken CA)."""
    ca = mysqltls.new_ca()
    assert certs.read(ca.cert_pem).is_ca
