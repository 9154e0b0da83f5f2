"""mysqld serving a certificate of a moco-style CA on the test ground (mysql tier, benchmarks).

:func:`mount` lays the files out as the kubelet lays out a Secret volume (``tls.crt`` ->
``..data/tls.crt``, ``..data`` -> a versioned directory, replaced by one rename), so a renewal
in a test is the same file operation as in a Pod. :func:`mysqld_args` gives mysqld the settings
moco's my.cnf gives it (:func:`moco.mycnf.defaults.tls_settings`). Certificates are made with
:mod:`moco.pki` (moco's own code); a leaf names the loopback address the instances listen on.
"""

from __future__ import annotations

import datetime
import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from moco.agentapi import tls
from moco.mycnf.defaults import Paths, tls_settings
from moco.pki import KeyPair, Usage, certs

#: the leaf's subject, as moco's (moco.controllers.mysqlcert.MYSQL_NAME)
LEAF_NAME: Final = "moco-mysqld"
_versions = itertools.count()


def new_ca(name: str = "moco agent CA", *, now: datetime.datetime | None = None) -> KeyPair:
    """A CA like moco's (10 years)."""
    start = now or datetime.datetime.now(datetime.UTC)
    return certs.new_ca(name, now=start, validity=datetime.timedelta(days=3650))


def leaf(
    ca: KeyPair,
    *,
    ips: Sequence[str] = ("127.0.0.1",),
    dns: Sequence[str] = (),
    days: int = 90,
    now: datetime.datetime | None = None,
) -> KeyPair:
    """A server certificate of ``ca`` for ``ips`` and ``dns``, valid ``days`` days."""
    return certs.issue(
        ca,
        LEAF_NAME,
        [Usage.SERVER],
        now=now or datetime.datetime.now(datetime.UTC),
        validity=datetime.timedelta(days=days),
        dns_names=dns,
        ip_addresses=ips,
    )


def mount(directory: Path, pair: KeyPair, trust: bytes) -> None:
    """Write (or replace) the files of a ``kubernetes.io/tls`` Secret with its ``ca.crt`` as the
    kubelet does: a new version directory, then one rename of the ``..data`` link."""
    directory.mkdir(parents=True, exist_ok=True)
    version = directory / f"..v{os.getpid()}-{next(_versions)}"
    version.mkdir()
    for name, data in ((tls.CERT_FILE, pair.cert_pem), (tls.KEY_FILE, pair.key_pem), (tls.CA_FILE, trust)):
        (version / name).write_bytes(data)
        if name == tls.KEY_FILE:
            (version / name).chmod(0o600)
    link = directory / "..data_tmp"
    link.symlink_to(version.name)
    os.replace(link, directory / "..data")
    for name in (tls.CERT_FILE, tls.KEY_FILE, tls.CA_FILE):
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(f"..data/{name}")


def mysqld_args(directory: Path) -> list[str]:
    """mysqld's command-line form of moco's TLS settings for files in ``directory``."""
    return [f"--{k.replace('_', '-')}={v}" for k, v in tls_settings(Paths(tls_dir=str(directory))).items()]


def ca_file(directory: Path) -> str:
    """The CA file of ``directory`` (a replica's ``SOURCE_SSL_CA``)."""
    return str(directory / tls.CA_FILE)
