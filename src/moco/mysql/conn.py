"""One connection to one mysqld, with a bound on every wait.

Invariants:

- :func:`connect` runs TCP connect *and* authentication under one overall timeout (aiomysql's
  ``connect_timeout`` covers only the TCP connect, so a stopped server would otherwise hang the
  handshake forever).
- Every statement runs under its own timeout (the connection's ``query_timeout`` unless the
  call gives one). When a statement times out the connection is closed at once and never
  reused: the server may still be running the statement, and the reply would confuse the next.
- Every failure surfaces as a :mod:`moco.mysql.errors` exception; nothing from aiomysql, pymysql
  or asyncio leaks.
- Connections use autocommit and utf8mb4; arguments are escaped by the client library
  (``%s`` placeholders), so passwords never appear in a log line of this layer.
- An endpoint with an SSL context is reached over TLS or not at all: a server that does not
  offer TLS (or a peer that strips the offer) is refused before the password is sent, never
  used in clear (aiomysql alone falls back to a clear connection). :class:`ServerTrust` gives
  the contexts that verify an in-cluster mysqld: its certificate must chain to the cluster's CA
  and name the instance, whatever address (a Pod IP) the connection was opened to.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl as _ssl
import struct
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiomysql
from pymysql.constants import CLIENT

from moco.log import get_logger
from moco.mysql.errors import MySQLError, Timeout, Unreachable, UntrustedServer, translate

log = get_logger("moco.mysql.conn")

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_QUERY_TIMEOUT = 10.0


class _NamedContext(_ssl.SSLContext):
    """A client context that checks the server's certificate for :attr:`server_name` instead of
    the host the connection was opened to (aiomysql hands the connect address, a Pod IP, to the
    handshake; the certificate names the Pod's DNS name). asyncio's and uvloop's TLS transports
    both create their TLS object through :meth:`wrap_bio`."""

    server_name: str = ""

    def wrap_bio(
        self,
        incoming: _ssl.MemoryBIO,
        outgoing: _ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: _ssl.SSLSession | None = None,
    ) -> _ssl.SSLObject:
        return super().wrap_bio(incoming, outgoing, server_side, self.server_name or server_hostname, session)


#: contexts kept per :class:`ServerTrust` (one per instance name; a cluster has at most 15)
_MAX_CONTEXTS = 64


class ServerTrust:
    """Verifying client contexts for the mysqld of one trust bundle (PEM CA certificates).

    :meth:`context` is the context for one instance: TLS 1.2 or later, the certificate chains
    to a CA of the bundle and names ``server_name`` (a DNS name, or an IP address for servers
    reached by one). Contexts are made once per name and reused (a pass connects to every
    instance: no CA parsing per connection). Raises :class:`ValueError` for a bundle with no
    certificate, naming the problem.
    """

    def __init__(self, ca_pem: bytes) -> None:
        if b"-----BEGIN CERTIFICATE-----" not in ca_pem:
            raise ValueError("ServerTrust: the CA bundle holds no PEM certificate")
        self.ca_pem = ca_pem
        self._contexts: dict[str, _ssl.SSLContext] = {}

    def context(self, server_name: str) -> _ssl.SSLContext:
        """The context that accepts only a certificate of this bundle naming ``server_name``."""
        if not server_name:
            raise ValueError("ServerTrust.context: an empty server name checks nothing")
        ctx = self._contexts.get(server_name)
        if ctx is None:
            ctx = _NamedContext(_ssl.PROTOCOL_TLS_CLIENT)  # verify_mode CERT_REQUIRED, check_hostname
            ctx.minimum_version = _ssl.TLSVersion.TLSv1_2
            ctx.load_verify_locations(cadata=self.ca_pem.decode())
            ctx.server_name = server_name
            if len(self._contexts) >= _MAX_CONTEXTS:
                self._contexts.clear()
            self._contexts[server_name] = ctx
        return ctx


def _checked_name(ctx: _ssl.SSLContext | None) -> str:
    return getattr(ctx, "server_name", "") if ctx is not None else ""


def _tls_refusal(exc: BaseException) -> str | None:
    """Why the TLS handshake failed, when it did (aiomysql wraps it in a 2003 error). A peer that
    vanishes in the handshake (a mysqld killed meanwhile) is no TLS failure: asyncio reports it
    as a reset connection, which :func:`moco.mysql.errors.translate` files as a lost one."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, _ssl.SSLCertVerificationError):
            return f"certificate not accepted: {e.verify_message or e.reason or e}"
        if isinstance(e, _ssl.SSLError):
            return f"{e.reason or e}"
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom to connect. The password never shows in ``repr``."""

    host: str
    port: int
    user: str
    password: str = field(default="", repr=False)
    ssl: _ssl.SSLContext | None = None

    @property
    def address(self) -> str:
        """``host:port``, for messages and logs."""
        return f"{self.host}:{self.port}"


_KEYWORD = re.compile(r"[A-Za-z_]+")


def statement_name(sql: str, words: int = 4) -> str:
    """The leading keywords of ``sql`` (at most ``words``), for messages: enough to tell which
    statement timed out (``STOP REPLICA IO_THREAD``), and never a value, since it stops at the
    first token that is not a bare keyword (a quoted string, a placeholder, a number)."""
    out: list[str] = []
    for tok in sql.split()[:words]:
        if not _KEYWORD.fullmatch(tok):
            break
        out.append(tok)
    return " ".join(out) or "statement"


class _NoTLSOffered(Exception):
    """The server's greeting offers no TLS to a connection that requires it."""


class _RawConnection(aiomysql.Connection):  # type: ignore[misc]
    """aiomysql's connection, refusing to authenticate in clear when TLS was asked for (aiomysql
    alone silently goes on without TLS when the server's greeting does not offer it)."""

    async def _request_authentication(self) -> None:
        if self._ssl_context is not None and not self.server_capabilities & CLIENT.SSL:
            raise _NoTLSOffered
        await super()._request_authentication()


class _Cursor(aiomysql.DictCursor):  # type: ignore[misc]
    """A dict cursor that does not fetch SHOW WARNINGS after each statement (aiomysql's default
    costs a round trip and turns server notes into Python warnings)."""

    async def _show_warnings(self, conn: Any) -> None:
        return None


class Connection:
    """An open connection (from :func:`connect`); statements of concurrent tasks run one at a time."""

    def __init__(self, endpoint: Endpoint, raw: Any, query_timeout: float) -> None:
        self.endpoint = endpoint
        self._raw = raw
        self._query_timeout = query_timeout
        self._lock = asyncio.Lock()

    @property
    def closed(self) -> bool:
        """True once closed (by :meth:`close`, a timeout, or a lost connection)."""
        return self._raw is None or self._raw.closed

    @property
    def hung_up(self) -> bool:
        """True when closed, or when the server closed its end (its end-of-stream was received:
        seen without a round trip, e.g. an idle connection a restarted server dropped)."""
        if self.closed:
            return True
        reader = getattr(self._raw, "_reader", None)
        return reader is None or reader.at_eof()

    @property
    def thread_id(self) -> int:
        """The server's id of this connection (CONNECTION_ID())."""
        if self._raw is None:
            raise Unreachable(f"{self.endpoint.address}: connection closed")
        return int(self._raw.thread_id())

    async def query(
        self,
        sql: str,
        args: Any = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Run a statement and return its rows as dicts (column name -> value)."""
        rows, _ = await self._run(sql, args, timeout, fetch=True)
        return rows

    async def query_one(
        self,
        sql: str,
        args: Any = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> dict[str, Any] | None:
        """The first row of :meth:`query`, or None when there is none."""
        rows = await self.query(sql, args, timeout=timeout)
        return rows[0] if rows else None

    async def execute(
        self,
        sql: str,
        args: Any = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> int:
        """Run a statement; returns the affected row count."""
        _, affected = await self._run(sql, args, timeout, fetch=False)
        return affected

    async def _run(
        self, sql: str, args: Any, limit: float | None, *, fetch: bool
    ) -> tuple[list[dict[str, Any]], int]:
        bound = self._query_timeout if limit is None else limit
        async with self._lock:
            raw = self._raw
            if raw is None or raw.closed:
                self._raw = None
                raise Unreachable(f"{self.endpoint.address}: connection closed")
            try:
                async with asyncio.timeout(bound):
                    async with raw.cursor(_Cursor) as cur:
                        affected = await cur.execute(sql, args)
                        rows = list(await cur.fetchall()) if fetch else []
                return rows, int(affected or 0)
            except TimeoutError:
                self._drop()
                log.debug("statement timed out", server=self.endpoint.address, timeout=bound)
                raise Timeout(
                    f"{self.endpoint.address}: {statement_name(sql)} timed out after {bound}s"
                ) from None
            except MySQLError:
                raise
            except asyncio.CancelledError:
                self._drop()
                raise
            except Exception as exc:
                err = translate(exc, where=self.endpoint.address)
                if isinstance(err, Unreachable):
                    self._drop()
                raise err from exc

    def _drop(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.close()

    def abort(self) -> None:
        """Close the connection at once with a reset, dropping whatever was sent and not yet
        delivered (a statement that must not reach the server later, after a partition heals);
        idempotent."""
        raw, self._raw = self._raw, None
        writer = None if raw is None else getattr(raw, "_writer", None)
        if writer is None:
            if raw is not None:
                raw.close()
            return
        transport = writer.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:  # linger 0: close() sends RST and discards the unsent data
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        transport.abort()
        raw._writer = raw._reader = None

    async def close(self) -> None:
        """Close the connection (quietly; idempotent)."""
        raw, self._raw = self._raw, None
        if raw is None:
            return
        try:
            async with asyncio.timeout(1.0):
                await raw.ensure_closed()
        except Exception:
            raw.close()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def connect(
    ep: Endpoint,
    *,
    timeout: float = DEFAULT_CONNECT_TIMEOUT,  # noqa: ASYNC109
    query_timeout: float = DEFAULT_QUERY_TIMEOUT,
) -> Connection:
    """Open a connection: TCP connect + TLS + authentication, all within ``timeout`` seconds."""
    raw = _RawConnection(
        host=ep.host,
        port=ep.port,
        user=ep.user,
        password=ep.password,
        ssl=ep.ssl,
        autocommit=True,
        charset="utf8mb4",
        connect_timeout=timeout,
        local_infile=False,
    )
    try:
        async with asyncio.timeout(timeout):
            await raw._connect()
    except TimeoutError:
        raw.close()
        raise Timeout(f"{ep.address}: connect timed out after {timeout}s") from None
    except asyncio.CancelledError:
        raw.close()
        raise
    except _NoTLSOffered:
        raw.close()
        raise UntrustedServer(f"{ep.address}: the server offers no TLS (required here)") from None
    except Exception as exc:
        raw.close()
        refusal = _tls_refusal(exc)
        if refusal is not None:
            name = _checked_name(ep.ssl) or ep.host
            raise UntrustedServer(f"{ep.address}: TLS with the server failed for {name}: {refusal}") from exc
        raise translate(exc, where=ep.address) from exc
    return Connection(ep, raw, query_timeout)
