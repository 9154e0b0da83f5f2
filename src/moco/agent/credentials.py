"""The passwords the agent uses, read from the mounted my.cnf Secret at every use.

A credential rotation (:mod:`moco.controllers.rotation`) changes the passwords of moco's users
while the Pods run. The agent container's environment (``envFrom`` the user Secret) is fixed
when the container starts, so it cannot follow; a Secret *volume* can: kubelet replaces its files
(atomically, through the ``..data`` link) after the Secret changes, within its sync period.
So the agent mounts ``moco-my-cnf-<name>`` read-only at :data:`constants.MYCNF_SECRET_PATH` and:

1. :class:`MountedPasswords` answers a user's password from ``<user>-my.cnf`` there, read again
   whenever the file changed (its identity and modification time are compared at each lookup,
   a ``stat`` only), so the next connection the agent opens uses the password of the Secret;
2. a user without a readable file (a Pod made before the mount existed, a Secret written by an
   older moco without that user's file) gets the password of the environment, as before;
3. every connection of the agent is opened from an :data:`EndpointSource` resolved at connect
   time (:func:`resolve`), never from an endpoint built once at start;
4. :func:`exporter_reload_loop` asks the exporter sidecar to read its my.cnf again
   (``POST /-/reload``) whenever the exporter's file changed: mysqld_exporter reads it only at
   start and on that request.

Passwords never reach a log line or a ``repr``.
"""

from __future__ import annotations

import asyncio
import configparser
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiohttp

from moco import constants
from moco.log import get_logger
from moco.mysql.conn import Endpoint

log = get_logger("moco.agent.credentials")

#: An endpoint, or how to make one at connect time (with the password of that moment).
EndpointSource = Endpoint | Callable[[], Endpoint]

#: How often the exporter's my.cnf is looked at (a ``stat``).
EXPORTER_RELOAD_INTERVAL_S: Final = 10.0
#: Bound of one reload request to the exporter on loopback.
EXPORTER_RELOAD_TIMEOUT_S: Final = 5.0


def resolve(source: EndpointSource) -> Endpoint:
    """The endpoint to connect to now (rule 3)."""
    return source() if callable(source) else source


def parse_mycnf_password(text: str) -> str | None:
    """The ``password`` of the ``[client]`` section (quotes removed); None when there is none."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    value = parser.get("client", "password", fallback=None)
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value or None


@dataclass(frozen=True)
class _Seen:
    stamp: tuple[int, int, int]
    password: str | None


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()  # follows kubelet's links: a new file has a new inode
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class MountedPasswords(Mapping[str, str]):
    """Each user's password from ``<directory>/<user>-my.cnf``, else from ``fallback`` (rules 1-2)."""

    def __init__(self, directory: Path, fallback: Mapping[str, str]) -> None:
        self.directory = directory
        self._fallback = dict(fallback)
        self._seen: dict[str, _Seen] = {}

    def path(self, user: str) -> Path:
        return self.directory / constants.mycnf_key(user)

    def __getitem__(self, user: str) -> str:
        path = self.path(user)
        stamp = _stamp(path)
        if stamp is not None:
            seen = self._seen.get(user)
            if seen is None or seen.stamp != stamp:
                try:
                    password = parse_mycnf_password(path.read_text())
                except OSError:
                    password = None
                seen = _Seen(stamp, password)
                self._seen[user] = seen
                log.info("password file read", user=user, usable=password is not None)
            if seen.password is not None:
                return seen.password
        return self._fallback[user]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fallback)

    def __len__(self) -> int:
        return len(self._fallback)

    def __repr__(self) -> str:
        return f"MountedPasswords({str(self.directory)!r}, users={sorted(self._fallback)})"


async def exporter_reload_loop(
    mycnf: Path,
    url: str,
    *,
    interval: float = EXPORTER_RELOAD_INTERVAL_S,
    timeout: float = EXPORTER_RELOAD_TIMEOUT_S,  # noqa: ASYNC109
) -> None:
    """``POST url`` each time ``mycnf`` changes (rule 4); runs until cancelled.

    A Pod without the exporter answers nothing on its port: the failure is logged at debug
    level and the request is made again at the next change only once it succeeded.
    """
    reloaded = _stamp(mycnf)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        while True:
            await asyncio.sleep(interval)
            stamp = _stamp(mycnf)
            if stamp is None or stamp == reloaded:
                continue
            try:
                async with session.post(url) as resp:
                    ok = resp.status < 300
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                log.debug("exporter reload failed", error=type(e).__name__)
                continue
            if ok:
                reloaded = stamp
                log.info("exporter asked to read its credentials again")
            else:
                log.warning("exporter refused to reload its credentials", status=resp.status)
