"""The per-instance figures of ``kubectl moco status``, read from each mysqld at call time.

Why here and not in MySQLCluster.status: GTID sets and replication lag change with every
commit. Writing them into the status on every clustering pass would be a status write per
cluster per pass: with a thousand clusters per operator, thousands of apiserver writes a minute,
each waking every watcher of MySQLClusters. The status carries what changes rarely (the
decision, the next operation, the last primary change); the figures that change all the time
are read only when a person asks, by the plugin itself.

How: the same path as ``kubectl moco mysql`` (``kubectl exec`` into the ``mysqld`` container,
``mysql`` with the ``moco-readonly`` option file mounted there: no password leaves the Pod, and
the caller needs nothing beyond ``pods/exec``). One invocation per instance, all at once, each
bounded by :data:`EXEC_TIMEOUT`; one that fails or times out is reported as not read, with why,
and the rest of the screen is unaffected.

:data:`QUERY` needs only moco-readonly's grants (SELECT, REPLICATION CLIENT): server
variables, ``performance_schema``'s global status and ``SHOW REPLICA STATUS``. :func:`parse`
reads ``mysql --batch`` output (tab-separated, a header line per result, ``\\n``/``\\t``/``\\\\``
escaped) and is pure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from moco import constants
from moco.mysql.gtid import GtidParseError, GtidSet
from moco.plugin import actions
from moco.plugin.target import Target

#: Bound of one instance's ``kubectl exec`` (kubectl's own connection set-up included).
EXEC_TIMEOUT: Final = 15.0
#: How many UUID groups a GTID summary spells out before ``+N``.
SUMMARY_GROUPS: Final = 2


def _global(kind: str, name: str) -> str:
    return (
        f"(SELECT VARIABLE_VALUE FROM performance_schema.global_{kind} WHERE VARIABLE_NAME = '{name}')"
        f" AS {name.lower()}"
    )


#: One row of server facts, then the replica status (no row on a server that replicates from none).
QUERY: Final = (
    "SELECT @@global.server_uuid AS server_uuid, @@global.gtid_executed AS gtid_executed,"
    " @@global.gtid_purged AS gtid_purged, @@global.read_only AS read_only,"
    " @@global.super_read_only AS super_read_only, "
    + ", ".join(
        [
            _global("variables", "rpl_semi_sync_source_enabled"),
            _global("status", "Rpl_semi_sync_source_status"),
            _global("status", "Rpl_semi_sync_source_clients"),
            _global("variables", "rpl_semi_sync_replica_enabled"),
            _global("status", "Rpl_semi_sync_replica_status"),
        ]
    )
    + "; SHOW REPLICA STATUS"
)


class LiveParseError(ValueError):
    """The output of :data:`QUERY` is not what ``mysql --batch`` prints for it."""


@dataclass(frozen=True)
class ReplicaLive:
    """``SHOW REPLICA STATUS`` reduced to what a person checks first."""

    source_host: str
    io_running: str
    sql_running: str
    #: ``Seconds_Behind_Source``; None while the SQL thread does not run.
    lag_seconds: int | None
    last_error: str


@dataclass(frozen=True)
class InstanceLive:
    """What one mysqld says about itself now."""

    server_uuid: str
    gtid_executed: str
    gtid_purged: str
    read_only: bool
    super_read_only: bool
    semi_sync_source_enabled: bool
    semi_sync_source_on: bool
    semi_sync_source_clients: int
    semi_sync_replica_enabled: bool
    semi_sync_replica_on: bool
    replica: ReplicaLive | None

    @property
    def semi_sync(self) -> str:
        """``source ON (2)``, ``replica ON``, ``off``: the side that is enabled and its state."""
        if self.semi_sync_source_enabled:
            state = "ON" if self.semi_sync_source_on else "OFF"
            return f"source {state} ({self.semi_sync_source_clients})"
        if self.semi_sync_replica_enabled:
            return "replica " + ("ON" if self.semi_sync_replica_on else "OFF")
        return "off"


@dataclass(frozen=True)
class NotRead:
    """Why an instance's figures could not be read."""

    error: str


Live = InstanceLive | NotRead


# --- parsing -------------------------------------------------------------------------------------
_UNESCAPE: Final = {"n": "\n", "t": "\t", "\\": "\\", "0": "\0"}


def _unescape(field: str) -> str:
    out: list[str] = []
    chars = iter(field)
    for c in chars:
        if c == "\\":
            nxt = next(chars, "")
            out.append(_UNESCAPE.get(nxt, "\\" + nxt))
        else:
            out.append(c)
    return "".join(out)


def _row(header: str, values: str) -> dict[str, str | None]:
    names = header.split("\t")
    cells = values.split("\t")
    if len(names) != len(cells):
        raise LiveParseError(f"{len(names)} columns but {len(cells)} values")
    return {n: None if v == "NULL" else _unescape(v) for n, v in zip(names, cells, strict=True)}


def _on(value: str | None) -> bool:
    return (value or "").upper() in ("ON", "1", "YES")


def parse(output: str) -> InstanceLive:
    """The figures from ``mysql --batch -e QUERY``'s standard output."""
    lines = [line for line in output.split("\n") if line]
    if len(lines) not in (2, 4):
        raise LiveParseError(f"expected 2 or 4 lines of mysql --batch output, got {len(lines)}")
    facts = _row(lines[0], lines[1])
    if "server_uuid" not in facts:
        raise LiveParseError("no server_uuid column: not the output of the status query")
    replica = None
    if len(lines) == 4:
        r = _row(lines[2], lines[3])
        lag = r.get("Seconds_Behind_Source")
        errors = [e for e in (r.get("Last_IO_Error"), r.get("Last_SQL_Error")) if e]
        replica = ReplicaLive(
            source_host=r.get("Source_Host") or "",
            io_running=r.get("Replica_IO_Running") or "",
            sql_running=r.get("Replica_SQL_Running") or "",
            lag_seconds=int(lag) if lag is not None and lag.isdigit() else None,
            last_error="; ".join(errors),
        )
    clients = facts.get("rpl_semi_sync_source_clients") or "0"
    return InstanceLive(
        server_uuid=facts.get("server_uuid") or "",
        gtid_executed=(facts.get("gtid_executed") or "").replace("\n", ""),
        gtid_purged=(facts.get("gtid_purged") or "").replace("\n", ""),
        read_only=_on(facts.get("read_only")),
        super_read_only=_on(facts.get("super_read_only")),
        semi_sync_source_enabled=_on(facts.get("rpl_semi_sync_source_enabled")),
        semi_sync_source_on=_on(facts.get("rpl_semi_sync_source_status")),
        semi_sync_source_clients=int(clients) if clients.isdigit() else 0,
        semi_sync_replica_enabled=_on(facts.get("rpl_semi_sync_replica_enabled")),
        semi_sync_replica_on=_on(facts.get("rpl_semi_sync_replica_status")),
        replica=replica,
    )


def gtid_summary(text: str) -> str:
    """A GTID set in a table cell: ``3f2a1b0c:1-1520`` per source (UUID shortened to 8), at most
    :data:`SUMMARY_GROUPS` of them and ``+N`` for the rest; ``empty``; the text itself when it
    does not parse."""
    try:
        gs = GtidSet.parse(text)
    except GtidParseError:
        return text
    if gs.is_empty():
        return "empty"
    groups = []
    for (uuid, tag), intervals in gs:
        spans = ":".join(f"{lo}-{hi}" if hi != lo else str(lo) for lo, hi in intervals)
        groups.append(f"{uuid[:8]}{':' + tag if tag else ''}:{spans}")
    shown = ",".join(groups[:SUMMARY_GROUPS])
    return shown + (f" +{len(groups) - SUMMARY_GROUPS}" if len(groups) > SUMMARY_GROUPS else "")


# --- reading -------------------------------------------------------------------------------------
#: ``mysql``'s arguments after the option file: batch output (tab-separated, escaped, headers).
MYSQL_ARGS: Final = ("--batch", "--connect-timeout=5", "-e", QUERY)


def argv(kubectl: str, target: Target, pod: str) -> list[str]:
    """``kubectl exec`` of :data:`QUERY` as moco-readonly in ``pod`` (no stdin, no TTY)."""
    return actions.exec_argv(kubectl, target, pod, constants.READONLY_USER, args=MYSQL_ARGS)


async def read_one(kubectl: str, target: Target, pod: str, timeout: float = EXEC_TIMEOUT) -> Live:  # noqa: ASYNC109
    """One instance's figures, or why they could not be read (never raises for that)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv(kubectl, target, pod),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout ends kubectl and its children
        )
    except OSError as e:
        return NotRead(f"cannot run {kubectl}: {e}")
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return NotRead(f"no answer within {timeout:.0f}s")
    if proc.returncode != 0:
        why = err.decode(errors="replace").strip().splitlines()
        return NotRead(why[-1] if why else f"kubectl exec exited with {proc.returncode}")
    try:
        return parse(out.decode(errors="replace"))
    except LiveParseError as e:
        return NotRead(f"unexpected mysql output: {e}")


async def read_all(kubectl: str, target: Target, pods: Mapping[int, str]) -> dict[int, Live]:
    """Every named instance's figures, read at once."""
    indices: Sequence[int] = sorted(pods)
    results = await asyncio.gather(*(read_one(kubectl, target, pods[i]) for i in indices))
    return dict(zip(indices, results, strict=True))
