"""Mutual TLS of the agent channel: names, both ends' SSL contexts, certificate reload.

The controller connects to an agent by Pod IP and checks the agent's certificate for the Pod's
DNS name (``moco-<c>-<i>.moco-<c>.<ns>.svc``, sent as SNI); an agent's serving certificate
names every Pod of its cluster with one wildcard (:func:`agent_dns_names`), so it is the same
Secret for all of them. The agent asks for a client certificate, verifies it against the trust
bundle (``ca.crt``: every CA the controller may sign with, see :mod:`moco.pki.decide`) and then
accepts only the subject :data:`CONTROLLER_NAME` with the clientAuth usage (MOCO's rule):
another agent's certificate, signed by the same CA but for serving, is refused by both checks.

The agent's files come from a mounted Secret (``tls.crt``, ``tls.key``, ``ca.crt``) that the
kubelet replaces in place. :class:`ReloadingServerContext` re-reads them every ``poll`` s and
swaps the context each new handshake uses (through the SNI callback, which OpenSSL calls for
every ClientHello, with or without SNI), so a renewed certificate or a rotated CA is in force
without restarting anything; files that do not load keep the last good context.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from moco.api import names
from moco.log import get_logger

log = get_logger("moco.agentapi.tls")

#: the controller's client certificate subject (MOCO's: the agent checks it)
CONTROLLER_NAME: Final = "moco-controller"
#: the agents' serving certificate subject
AGENT_NAME: Final = "moco-agent"
CERT_FILE: Final = "tls.crt"
KEY_FILE: Final = "tls.key"
CA_FILE: Final = "ca.crt"
#: where the agent container mounts its certificate Secret (MOCO's moco-agent default)
DEFAULT_CERT_DIR: Final = "/grpc-cert"
#: how often the agent looks at its files; the kubelet's own refresh takes about a minute
DEFAULT_POLL_SECONDS: Final = 10.0


def agent_dns_names(namespace: str, cluster: str) -> tuple[str, ...]:
    """The SANs of a cluster's agent certificate: every Pod behind its headless Service."""
    return (f"*.{names.headless_service_name(cluster)}.{namespace}.svc",)


def agent_server_name(namespace: str, cluster: str, index: int) -> str:
    """The name the controller checks an agent's certificate for (the Pod's DNS name)."""
    return names.pod_hostname(namespace, cluster, index)


def peer_refusal(peercert: Mapping[str, Any] | None, expected: str = CONTROLLER_NAME) -> str | None:
    """Why a verified client certificate is refused (None: accepted): its subject CN must be
    ``expected``. (OpenSSL already checked the chain, validity and the clientAuth usage.)"""
    if not peercert:
        return "no client certificate"
    cns = [v for rdn in peercert.get("subject", ()) for k, v in rdn if k == "commonName"]
    if cns != [expected]:
        return f"client certificate is for {cns or 'no name'}, not {expected}"
    return None


def _base(purpose: ssl.Purpose) -> ssl.SSLContext:
    ctx = ssl.SSLContext(
        ssl.PROTOCOL_TLS_SERVER if purpose is ssl.Purpose.CLIENT_AUTH else ssl.PROTOCOL_TLS_CLIENT
    )
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


@contextlib.contextmanager
def _pem_files(cert: bytes, key: bytes) -> Any:
    """Paths holding ``cert`` and ``key`` while the block runs (``ssl`` loads keys from files
    only): anonymous memory files on Linux, so nothing is written to disk; a private temporary
    directory elsewhere."""
    if hasattr(os, "memfd_create"):
        fds = [os.memfd_create(n, os.MFD_CLOEXEC) for n in ("cert", "key")]
        try:
            for fd, data in zip(fds, (cert, key), strict=True):
                os.write(fd, data)
            yield tuple(f"/proc/self/fd/{fd}" for fd in fds)
        finally:
            for fd in fds:
                os.close(fd)
        return
    with tempfile.TemporaryDirectory() as d:
        paths = (Path(d, "cert.pem"), Path(d, "key.pem"))
        for p, data in zip(paths, (cert, key), strict=True):
            p.touch(mode=0o600)
            p.write_bytes(data)
        yield tuple(str(p) for p in paths)


def server_context(cert: bytes, key: bytes, trust: bytes) -> ssl.SSLContext:
    """The agent's context: serve ``cert``, require a client certificate verified by ``trust``."""
    ctx = _base(ssl.Purpose.CLIENT_AUTH)
    with _pem_files(cert, key) as (c, k):
        ctx.load_cert_chain(c, k)
    ctx.load_verify_locations(cadata=trust.decode())
    return ctx


def client_context(cert: bytes, key: bytes, trust: bytes) -> ssl.SSLContext:
    """The controller's context: present ``cert``, verify the agent by ``trust`` and host name."""
    ctx = _base(ssl.Purpose.SERVER_AUTH)
    ctx.check_hostname = True
    with _pem_files(cert, key) as (c, k):
        ctx.load_cert_chain(c, k)
    ctx.load_verify_locations(cadata=trust.decode())
    return ctx


@dataclass(frozen=True)
class _Files:
    cert: bytes
    key: bytes
    trust: bytes


class ReloadingServerContext:
    """The agent's server context over a directory that may change (see the module docstring).

    Raises :class:`ssl.SSLError` or :class:`OSError` at construction when the files cannot be
    used: an agent never starts without them.
    """

    def __init__(self, directory: Path, *, poll: float = DEFAULT_POLL_SECONDS) -> None:
        self.directory = directory
        self.poll = poll
        self._files = self._read()
        self._current = server_context(self._files.cert, self._files.key, self._files.trust)
        #: the context given to the listener; every handshake switches to :attr:`_current`
        self.context = server_context(self._files.cert, self._files.key, self._files.trust)
        self.context.sni_callback = self._select
        #: reloads done (tests and metrics read it)
        self.reloads = 0

    def _select(self, sock: ssl.SSLObject | ssl.SSLSocket, _name: str | None, _ctx: ssl.SSLContext) -> None:
        sock.context = self._current

    def _read(self) -> _Files:
        return _Files(
            cert=(self.directory / CERT_FILE).read_bytes(),
            key=(self.directory / KEY_FILE).read_bytes(),
            trust=(self.directory / CA_FILE).read_bytes(),
        )

    def reload_if_changed(self) -> bool:
        """Load the files again when they changed (True when a new context is in force)."""
        try:
            files = self._read()
        except OSError as e:
            log.warning("agent certificate files unreadable: keeping the last ones", error=str(e))
            return False
        if files == self._files:
            return False
        try:
            ctx = server_context(files.cert, files.key, files.trust)
        except (ssl.SSLError, ValueError) as e:
            # a Secret caught mid-update (the certificate of one version, the key of another)
            log.warning("agent certificate files do not load: keeping the last ones", error=str(e))
            return False
        self._files, self._current = files, ctx
        self.reloads += 1
        log.info("agent certificate reloaded", reloads=self.reloads)
        return True

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload every :attr:`poll` s until ``stop`` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll)
            if not stop.is_set():
                self.reload_if_changed()
