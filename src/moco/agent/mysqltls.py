"""mysqld serves the certificate of its mounted Secret: the agent has it reloaded after a renewal.

The controller issues each cluster's mysqld certificate (:mod:`moco.controllers.mysqlcert`) into
Secret ``moco-<name>-mysql-tls``, which Pods of reconcile version 3 mount whole (no ``subPath``)
at :data:`moco.constants.MYSQL_TLS_PATH` in the ``mysqld`` and ``agent`` containers. The kubelet
swaps renewed files in place (one atomic rename of the ``..data`` link); mysqld reads its
``ssl_*`` files only at start and at ``ALTER INSTANCE RELOAD TLS``. The agent looks at the files
every :data:`POLL_SECONDS` and decides (:func:`decide`, pure; the first rule that holds):

1. ``IDLE``: there is no directory (a Pod of an earlier rendering: mysqld serves its own
   certificate and names no file to reload);
2. ``WAIT``: the files cannot be read, or the certificate and the key do not belong together
   (read across the kubelet's swap, or a Secret written half): look again at the next poll;
3. ``IDLE``: the files are the ones mysqld last loaded through this agent;
4. ``RELOAD``: otherwise (new files, or the agent's first look since it started: mysqld may
   have read older files when it started), :func:`moco.mysql.ops.reload_tls` on both channels.
   Only when it succeeds are the files recorded as loaded; a failure (mysqld not up yet, files
   refused: mysqld keeps what it served) is tried again at the next poll.

Reloading is idempotent, so a repeated reload costs one statement and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from moco.agentapi import tls
from moco.log import get_logger
from moco.mysql import ops
from moco.mysql.conn import Endpoint, connect
from moco.mysql.errors import MySQLError
from moco.pki import KeyPair
from moco.pki import certs as pem

log = get_logger("moco.agent.mysqltls")

#: how often the files are looked at; the kubelet itself takes up to about a minute to update
#: a Secret volume, so a renewal is in force within about 70 s of the Secret's change
POLL_SECONDS: Final = 10.0
#: bound of the connect and of each reload statement (loopback)
RELOAD_TIMEOUT_SECONDS: Final = 5.0


class Action(enum.StrEnum):
    IDLE = "idle"
    WAIT = "wait"
    RELOAD = "reload"


@dataclass(frozen=True)
class Files:
    """The three files of the mounted Secret."""

    cert: bytes
    key: bytes
    ca: bytes

    def __repr__(self) -> str:  # the key never reaches a log line
        return f"Files(cert={len(self.cert)}B, ca={len(self.ca)}B)"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


#: what :func:`read` found: the files, None (no directory), or why they cannot be used
Found = Files | str | None


def read(directory: Path) -> Found:
    """The files of ``directory``: None without the directory, a reason when they are unusable."""
    if not directory.is_dir():
        return None
    try:
        files = Files(
            cert=(directory / tls.CERT_FILE).read_bytes(),
            key=(directory / tls.KEY_FILE).read_bytes(),
            ca=(directory / tls.CA_FILE).read_bytes(),
        )
    except OSError as e:
        return f"cannot read the certificate files: {e.strerror or e}"
    if not pem.key_matches(KeyPair(files.cert, files.key)):
        return "the certificate and the key do not belong together"
    return files


def decide(found: Found, loaded: Files | None) -> Decision:
    """What to do with the files found (rules 1-4 of the module docstring)."""
    if found is None:
        return Decision(Action.IDLE, "rule 1: no certificate mounted")
    if isinstance(found, str):
        return Decision(Action.WAIT, f"rule 2: {found}")
    if found == loaded:
        return Decision(Action.IDLE, "rule 3: loaded already")
    return Decision(Action.RELOAD, "rule 4: " + ("first look" if loaded is None else "files changed"))


class TLSReloader:
    """Runs :func:`decide` every :attr:`poll` s and reloads mysqld's TLS when it says so."""

    def __init__(
        self,
        endpoint: Callable[[], Endpoint],
        directory: Path,
        *,
        poll: float = POLL_SECONDS,
        timeout: float = RELOAD_TIMEOUT_SECONDS,
    ) -> None:
        self.endpoint = endpoint
        self.directory = directory
        self.poll = poll
        self.timeout = timeout
        self.loaded: Files | None = None
        #: reloads that succeeded (tests read it)
        self.reloads = 0

    async def step(self) -> Decision:
        """One look: decide, and reload when due; the decision taken."""
        found = read(self.directory)
        decision = decide(found, self.loaded)
        if decision.action is not Action.RELOAD:
            if decision.action is Action.WAIT:
                log.warning("mysqld certificate files not usable yet", why=decision.reason)
            return decision
        assert isinstance(found, Files)
        try:
            async with await connect(
                self.endpoint(), timeout=self.timeout, query_timeout=self.timeout
            ) as conn:
                await ops.reload_tls(conn)
        except MySQLError as e:
            log.warning("mysqld TLS not reloaded: trying again", error=str(e), why=decision.reason)
            return Decision(Action.WAIT, f"reload failed: {e}")
        self.loaded = found
        self.reloads += 1
        log.info("mysqld TLS reloaded", why=decision.reason, reloads=self.reloads)
        return decision

    async def run(self, stop: asyncio.Event) -> None:
        """Look every :attr:`poll` s until ``stop`` is set."""
        while not stop.is_set():
            await self.step()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll)
