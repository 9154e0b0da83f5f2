"""Small helpers shared by the mysql-tier tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from moco.mysql.conn import Connection

REPL_USER = "moco-repl"
REPL_PASSWORD = "repl-pw"


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 15.0, what: str = "") -> None:
    """Poll ``check`` until it is true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s: {what}")
        await asyncio.sleep(0.1)


async def make_table(conn: Connection, db: str = "app", rows: int = 3) -> None:
    """Create ``db.t`` holding ``rows`` rows (the server must be writable)."""
    await conn.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    await conn.execute(f"CREATE TABLE IF NOT EXISTS {db}.t (id INT PRIMARY KEY, v VARCHAR(32))")
    for i in range(rows):
        await conn.execute(f"INSERT INTO {db}.t VALUES (%s, %s)", (i, f"row{i}"))


async def create_repl_user(conn: Connection) -> None:
    """The replication user on a (writable) source."""
    await conn.execute(f"CREATE USER IF NOT EXISTS '{REPL_USER}'@'%%' IDENTIFIED BY %s", (REPL_PASSWORD,))
    await conn.execute(f"GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'%'")
