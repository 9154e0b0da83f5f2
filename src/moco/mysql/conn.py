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
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiomysql

from moco.log import get_logger
from moco.mysql.errors import MySQLError, Timeout, Unreachable, translate

log = get_logger("moco.mysql.conn")

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_QUERY_TIMEOUT = 10.0


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
                raise Timeout(f"{self.endpoint.address}: statement timed out after {bound}s") from None
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
    raw = aiomysql.Connection(
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
    except Exception as exc:
        raw.close()
        raise translate(exc, where=ep.address) from exc
    return Connection(ep, raw, query_timeout)
