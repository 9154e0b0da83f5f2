"""The agent's settings, from the environment and flags the mysqld Pod's spec passes.

Environment (MOCO's names): ``POD_NAME``, ``CLUSTER_NAME``, ``POD_NAMESPACE``,
``MOCO_AGENT_TOKEN`` (the shared secret of the agent API) and the users' passwords
(:data:`moco.agent.users.PASSWORD_KEYS`), which the files of the mounted my.cnf Secret override
as they change (:mod:`moco.agent.credentials`: a credential rotation needs no restart).
Flags: addresses, ``--max-delay``, ``--transaction-queueing-wait``,
``--log-rotation-schedule``, ``--log-rotation-size``, and where mysqld listens
(``--mysqld-host``/``--mysqld-port``, loopback and 3306 in a Pod).

Secrets are fields with ``repr=False``: printing a config never shows them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from moco import constants, quantity
from moco.agent.credentials import MountedPasswords
from moco.agent.cron import CronError
from moco.agent.cron import parse as parse_cron
from moco.agent.errors import ConfigError
from moco.agent.readiness import ReadinessPolicy
from moco.agent.users import passwords_from_env
from moco.mycnf import InstanceConfError, ordinal_of
from moco.mysql.conn import Endpoint

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds of a Go-style duration (``90s``, ``1m30s``, ``500ms``) or a bare number of seconds."""
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        pass
    pos = 0
    total = 0.0
    for m in _DURATION_PART.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(t) or not t:
        raise ConfigError(f"bad duration: {text!r}")
    return total


def parse_size(text: str) -> int:
    """Bytes of a Kubernetes quantity without fractions (``100Mi``, ``1G``, ``0``): the parsing is
    :mod:`moco.quantity`'s, shared with the controller; negative sizes are refused."""
    try:
        size = quantity.to_int(text, fractions=False)
    except quantity.QuantityError as e:
        raise ConfigError(f"bad size: {text!r}") from e
    if size < 0:
        raise ConfigError(f"bad size: {text!r}")
    return size


@dataclass(frozen=True)
class AgentConfig:
    """Everything the agent server needs."""

    pod_name: str
    cluster_name: str
    namespace: str
    token: str = field(repr=False)
    passwords: Mapping[str, str] = field(repr=False)
    mysqld_host: str = "127.0.0.1"
    mysqld_port: int = constants.MYSQL_PORT
    listen_host: str = "0.0.0.0"
    agent_port: int = constants.AGENT_PORT
    probe_port: int = constants.MYSQL_HEALTH_PORT
    metrics_port: int = constants.AGENT_METRICS_PORT
    policy: ReadinessPolicy = field(default_factory=ReadinessPolicy)
    log_dir: Path = Path(constants.LOG_DIR_PATH)
    #: mysqld's mounted certificate (reconcile version 3), reloaded when renewed (:mod:`.mysqltls`)
    mysql_tls_dir: Path = Path(constants.MYSQL_TLS_PATH)
    log_rotation_schedule: str = "*/5 * * * *"
    log_rotation_size: int = 0
    init_timeout_s: float = 60.0

    @property
    def index(self) -> int:
        return ordinal_of(self.pod_name)

    def endpoint(self, user: str) -> Endpoint:
        """The local mysqld as ``user`` (with that user's password)."""
        return Endpoint(self.mysqld_host, self.mysqld_port, user, self.passwords[user])

    def bootstrap_endpoints(self) -> tuple[Endpoint, ...]:
        """The passwordless root of a fresh instance."""
        return (Endpoint(self.mysqld_host, self.mysqld_port, "root", ""),)

    def validate(self) -> AgentConfig:
        """Raise :class:`ConfigError` on a setting that cannot work."""
        try:
            self.index  # noqa: B018
        except InstanceConfError as e:
            raise ConfigError(str(e)) from e
        if not self.cluster_name:
            raise ConfigError(f"{constants.ENV_CLUSTER_NAME} is empty")
        try:
            parse_cron(self.log_rotation_schedule)
        except CronError as e:
            raise ConfigError(f"log rotation schedule: {e}") from e
        return self


def env_settings(env: Mapping[str, str]) -> dict[str, object]:
    """The settings that come from the environment (raises :class:`ConfigError` if missing)."""
    pod = env.get(constants.ENV_POD_NAME, "")
    if not pod:
        raise ConfigError(f"{constants.ENV_POD_NAME} is empty")
    return {
        "pod_name": pod,
        "cluster_name": env.get(constants.ENV_CLUSTER_NAME, ""),
        "namespace": env.get(constants.ENV_POD_NAMESPACE, ""),
        "token": env.get(constants.ENV_AGENT_TOKEN, ""),
        # the mounted my.cnf Secret first, the environment where it has no file (credentials)
        "passwords": MountedPasswords(Path(constants.MYCNF_SECRET_PATH), passwords_from_env(env)),
    }
