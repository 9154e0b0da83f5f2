"""The cluster's passwords and the three Secrets that carry them.

* the source of truth, in the controller's namespace (``mysql-<ns>.<name>``): created once with
  random passwords; missing keys are added; a credential rotation (:mod:`moco.controllers.rotation`)
  stages new passwords as ``<KEY>_PENDING`` beside the rotation's ``ROTATION_ID``, promotes them
  (the current ones move to ``<KEY>_OLD``) and finally drops the ``_OLD`` keys (MOCO's key names);
  deleted by the finalizer;
* the user-facing copy in the cluster's namespace (``moco-<name>``): MOCO's keys
  (``ADMIN_PASSWORD`` ...) plus the agent API token; the agent container takes it as its
  environment (``envFrom``);
* ``moco-my-cnf-<name>``: ``[client]`` files per user (``<user>-my.cnf``), mounted read-only
  in the Pod for the mysql client, the exporter and the agent, which reads its passwords there at
  each connection (:mod:`moco.agent.credentials`): kubelet updates a mounted Secret in place, so
  a rotated password reaches the agent without a restart, which its environment cannot.

Passwords are 32 hex characters from a caller-supplied random source (``secrets.token_hex`` in
production); :class:`Passwords` never shows them in its ``repr`` and nothing here logs.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from moco import constants
from moco.api import MySQLCluster
from moco.constants import PASSWORD_KEYS
from moco.controllers.common import Obj, labels, object_meta
from moco.controllers.errors import SecretCorrupted

#: The agent API's shared token (``Authorization: Bearer``), under the agent's env name.
AGENT_TOKEN_KEY: Final = constants.ENV_AGENT_TOKEN
#: Users that get a my.cnf file in ``moco-my-cnf-<name>``: every user, since the agent reads
#: all of them there (MOCO's five for clients and the exporter, plus the agent's own, the
#: replication and the clone-donor users).
MYCNF_USERS: Final = constants.ALL_USERS
SECRET_VERSION: Final = "1"
PASSWORD_BYTES: Final = 16
#: The rotation the ``_PENDING`` / ``_OLD`` keys of the controller Secret belong to.
ROTATION_ID_KEY: Final = "ROTATION_ID"
PENDING_SUFFIX: Final = "_PENDING"
OLD_SUFFIX: Final = "_OLD"


class RotationKeys(Enum):
    """What the controller Secret holds of a rotation (:meth:`Passwords.rotation_keys`)."""

    #: no ``_PENDING`` and no ``_OLD`` key
    NONE = "none"
    #: every password has its ``_PENDING`` key and none an ``_OLD`` one: staged, not promoted
    STAGED = "staged"
    #: every password has its ``_OLD`` key and none a ``_PENDING`` one: promoted
    PROMOTED = "promoted"
    #: anything else: not written by moco (a hand edit); a rotation stops and says so
    INCONSISTENT = "inconsistent"


TokenHex = Callable[[int], str]


@dataclass(frozen=True)
class Passwords:
    """Every key of the controller Secret (passwords and the agent token)."""

    values: Mapping[str, str] = field(repr=False)

    @classmethod
    def generate(cls, token_hex: TokenHex) -> Passwords:
        keys = [*PASSWORD_KEYS.values(), AGENT_TOKEN_KEY]
        return cls({k: token_hex(PASSWORD_BYTES) for k in keys})

    @classmethod
    def from_secret(cls, secret: Obj) -> Passwords:
        """Read a Secret written by moco (or by MOCO); raises :class:`SecretCorrupted`."""
        anns = (secret.get("metadata") or {}).get("annotations") or {}
        if anns.get(constants.ANN_SECRET_VERSION) != SECRET_VERSION:
            raise SecretCorrupted(f"Secret {secret['metadata'].get('name')} has no valid version annotation")
        data = secret.get("data") or {}
        try:
            return cls({k: base64.b64decode(v).decode() for k, v in data.items()})
        except ValueError as e:
            raise SecretCorrupted(f"Secret {secret['metadata'].get('name')}: undecodable data") from e

    def missing(self) -> list[str]:
        """Keys moco needs that the Secret lacks (a Secret made by MOCO has no exporter/backup/token)."""
        return [k for k in (*PASSWORD_KEYS.values(), AGENT_TOKEN_KEY) if not self.values.get(k)]

    def completed(self, token_hex: TokenHex) -> Passwords:
        """Missing keys filled with new random values; existing ones are kept as they are."""
        return Passwords({**self.values, **{k: token_hex(PASSWORD_BYTES) for k in self.missing()}})

    def password(self, user: str) -> str:
        return self.values[PASSWORD_KEYS[user]]

    @property
    def token(self) -> str:
        return self.values[AGENT_TOKEN_KEY]

    # --- rotation (see moco.controllers.rotation) ----------------------------------------------
    @property
    def rotation_id(self) -> str:
        """The rotation the ``_PENDING`` / ``_OLD`` keys belong to ("" when none)."""
        return self.values.get(ROTATION_ID_KEY, "")

    def rotation_keys(self) -> RotationKeys:
        keys = list(PASSWORD_KEYS.values())
        pending = [k + PENDING_SUFFIX in self.values for k in keys]
        old = [k + OLD_SUFFIX in self.values for k in keys]
        if not any(pending) and not any(old):
            return RotationKeys.NONE
        if all(pending) and not any(old):
            return RotationKeys.STAGED
        if all(old) and not any(pending):
            return RotationKeys.PROMOTED
        return RotationKeys.INCONSISTENT

    def staged(self, rotation_id: str, token_hex: TokenHex) -> Passwords:
        """New random ``_PENDING`` passwords for ``rotation_id`` (any earlier ones replaced)."""
        base = {k: v for k, v in self.values.items() if not k.endswith(PENDING_SUFFIX)}
        pending = {k + PENDING_SUFFIX: token_hex(PASSWORD_BYTES) for k in PASSWORD_KEYS.values()}
        return Passwords({**base, **pending, ROTATION_ID_KEY: rotation_id})

    def pending_password(self, user: str) -> str:
        return self.values[PASSWORD_KEYS[user] + PENDING_SUFFIX]

    def old_password(self, user: str) -> str:
        return self.values[PASSWORD_KEYS[user] + OLD_SUFFIX]

    def promoted(self) -> Passwords:
        """The staged passwords made current; the current ones kept as ``_OLD`` (one write)."""
        out = {k: v for k, v in self.values.items() if not k.endswith(PENDING_SUFFIX)}
        for k in PASSWORD_KEYS.values():
            out[k + OLD_SUFFIX] = self.values[k]
            out[k] = self.values[k + PENDING_SUFFIX]
        return Passwords(out)

    def finished(self) -> Passwords:
        """Without any rotation key: what the Secret holds once the old passwords are discarded."""
        drop = {ROTATION_ID_KEY}
        for k in PASSWORD_KEYS.values():
            drop |= {k + PENDING_SUFFIX, k + OLD_SUFFIX}
        return Passwords({k: v for k, v in self.values.items() if k not in drop})


def b64(text: str) -> str:
    """A Secret's ``data`` value of ``text``."""
    return base64.b64encode(text.encode()).decode()


def controller_secret(cluster: MySQLCluster, system_namespace: str, pw: Passwords) -> Obj:
    """The source of truth (no owner reference: it lives in another namespace)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": cluster.controller_secret_name(),
            "namespace": system_namespace,
            "labels": labels(cluster, controller_namespace=True),
            "annotations": {constants.ANN_SECRET_VERSION: SECRET_VERSION},
        },
        "data": {k: b64(v) for k, v in sorted(pw.values.items())},
    }


def user_secret(cluster: MySQLCluster, pw: Passwords) -> Obj:
    """``moco-<name>``: the passwords and the agent token in the cluster's namespace."""
    keys = [*PASSWORD_KEYS.values(), AGENT_TOKEN_KEY]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(
            cluster, cluster.user_secret_name(), annotations={constants.ANN_SECRET_VERSION: SECRET_VERSION}
        ),
        "data": {k: b64(pw.values[k]) for k in sorted(keys)},
    }


def mycnf_text(user: str, password: str) -> str:
    """A ``[client]`` option file for ``user`` (values double-quoted, as MOCO writes them)."""
    return f'[client]\nuser="{user}"\npassword="{password}"\n'


def mycnf_secret(cluster: MySQLCluster, pw: Passwords) -> Obj:
    """``moco-my-cnf-<name>``: one ``<user>-my.cnf`` file per user of :data:`MYCNF_USERS`."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(
            cluster, cluster.mycnf_secret_name(), annotations={constants.ANN_SECRET_VERSION: SECRET_VERSION}
        ),
        "data": {constants.mycnf_key(u): b64(mycnf_text(u, pw.password(u))) for u in sorted(MYCNF_USERS)},
    }
