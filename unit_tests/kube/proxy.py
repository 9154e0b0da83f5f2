"""A loopback TCP proxy that tests can cut, block or stall, to break watches for real.

The client's TLS session runs through it untouched (the serving certificate names 127.0.0.1).
- :meth:`Proxy.cut` closes every open connection (a watch cut off mid-stream);
- :meth:`Proxy.block` / :meth:`Proxy.unblock`: new connections are closed at once (an outage);
- :meth:`Proxy.stall`: open connections stop forwarding but stay open (a silent watch).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class _Conn:
    writers: list[asyncio.StreamWriter]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    flowing: asyncio.Event = field(default_factory=asyncio.Event)


class Proxy:
    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.blocked = False
        self.port = 0
        self.accepted = 0
        self._conns: list[_Conn] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.blocked:
            writer.close()
            return
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        conn = _Conn([writer, up_w])
        conn.flowing.set()
        conn.tasks = [
            asyncio.create_task(self._pump(reader, up_w, conn)),
            asyncio.create_task(self._pump(up_r, writer, conn)),
        ]
        self._conns.append(conn)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: _Conn) -> None:
        try:
            while True:
                await conn.flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await conn.flowing.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in conn.writers:
                w.close()

    def cut(self) -> int:
        """Close every open connection; returns how many."""
        n = len(self._conns)
        for conn in self._conns:
            for t in conn.tasks:
                t.cancel()
            for w in conn.writers:
                w.close()
        self._conns.clear()
        return n

    def block(self) -> None:
        self.blocked = True

    def unblock(self) -> None:
        self.blocked = False

    def stall(self) -> int:
        """Stop forwarding on every open connection (they stay open); returns how many."""
        for conn in self._conns:
            conn.flowing.clear()
        stalled = len(self._conns)
        self._stalled, self._conns = self._conns, []
        return stalled

    async def close(self) -> None:
        self.cut()
        for conn in getattr(self, "_stalled", []):
            for t in conn.tasks:
                t.cancel()
            for w in conn.writers:
                w.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
