"""The decisions of ``kubectl moco``'s commands, as pure functions over the objects read.

What MOCO's plugin does, and where we refuse more:

* ``mysql``: ``kubectl exec`` into the ``mysqld`` container of the chosen Pod (the primary
  unless ``--index``) running ``mysql --defaults-extra-file=/mysql-credentials/<user>-my.cnf``:
  the password never leaves the Pod (the file is the ``moco-my-cnf-<name>`` Secret, mounted by
  the controller). An offline cluster has no Pod to run in: refused.
* ``credential``: the password of ``moco-readonly``, ``moco-writable`` or ``moco-admin`` from
  the cluster's user Secret ``moco-<name>`` in the cluster's namespace (MOCO's keys
  ``READONLY_PASSWORD`` ...), as plain text or a ``[client]`` option file.
* ``switchover``: the annotation ``moco.cybozu.com/demote: "true"`` on the primary's Pod; the
  clustering loop moves the primary and removes it. Refused for a single-instance cluster (no
  replica to take over), an offline one (no Pod), while clustering is stopped (nobody would act
  on the annotation until it is started) and while ``status.currentPrimaryIndex`` names no
  instance.
* ``stop|start clustering|reconciliation``: set or remove ``moco.cybozu.com/clustering-stopped``
  / ``reconciliation-stopped`` (``"true"``) on the MySQLCluster; a cluster already in the asked
  state is left alone and the command succeeds.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from moco import constants
from moco.api import names
from moco.plugin.errors import NotFound, PluginError, Refused
from moco.plugin.target import Target

#: The users a person logs in as (MOCO's plugin offers these three).
MYSQL_USERS: Final = (constants.READONLY_USER, constants.WRITABLE_USER, constants.ADMIN_USER)
CredentialFormat = Literal["plain", "mycnf"]
CREDENTIAL_FORMATS: Final = ("plain", "mycnf")


class Switch(enum.Enum):
    """What ``stop``/``start`` acts on, and the annotation that carries it."""

    CLUSTERING = constants.ANN_CLUSTERING_STOPPED
    RECONCILIATION = constants.ANN_RECONCILIATION_STOPPED

    @property
    def noun(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class ClusterView:
    """What the commands need of a MySQLCluster object (read from its JSON, defaults as the CRD's)."""

    name: str
    namespace: str
    replicas: int = 1
    offline: bool = False
    current_primary_index: int = 0
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> ClusterView:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        return cls(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            replicas=int(spec.get("replicas") or 1),
            offline=bool(spec.get("offline")),
            current_primary_index=int(status.get("currentPrimaryIndex") or 0),
            annotations=dict(meta.get("annotations") or {}),
        )

    @property
    def ref(self) -> str:
        """``namespace/name``, as messages name the cluster."""
        return f"{self.namespace}/{self.name}"

    def stopped(self, switch: Switch) -> bool:
        """The controller reads only ``"true"`` as stopped."""
        return self.annotations.get(switch.value) == "true"

    def pod_name(self, index: int) -> str:
        return names.pod_name(self.name, index)


# --- mysql ---------------------------------------------------------------------------------------
def pick_index(cluster: ClusterView, index: int | None) -> int:
    """The instance ``mysql`` runs in: ``index``, else the primary."""
    if cluster.offline:
        raise Refused(
            f"MySQLCluster {cluster.ref} is offline (spec.offline: true): no mysqld runs; "
            "set spec.offline to false to start it"
        )
    chosen = cluster.current_primary_index if index is None else index
    if not 0 <= chosen < cluster.replicas:
        raise Refused(
            f"MySQLCluster {cluster.ref} has instances 0..{cluster.replicas - 1}: --index {chosen} names none"
        )
    return chosen


def mycnf_path(user: str) -> str:
    """The ``[client]`` file of ``user`` inside the mysqld container."""
    return f"{constants.MYCNF_SECRET_PATH}/{constants.mycnf_key(user)}"


def exec_argv(
    kubectl: str,
    target: Target,
    pod: str,
    user: str,
    *,
    stdin: bool = False,
    tty: bool = False,
    args: Sequence[str] = (),
) -> list[str]:
    """``kubectl exec`` of ``mysql`` as ``user`` in ``pod``'s mysqld container.

    ``--kubeconfig`` and ``--context`` are handed on only when the user gave them, so that
    kubectl reads ``$KUBECONFIG`` exactly as it did to start this plugin; the namespace is
    always explicit (it was resolved already).
    """
    if user not in MYSQL_USERS:
        raise PluginError(f"unknown user {user!r}: choose one of {', '.join(MYSQL_USERS)}")
    argv = [kubectl]
    if target.kubeconfig_flag:
        argv.append(f"--kubeconfig={target.kubeconfig_flag}")
    if target.context_flag:
        argv.append(f"--context={target.context_flag}")
    argv += [f"--namespace={target.namespace}", "exec"]
    if stdin:
        argv.append("--stdin")
    if tty:
        argv.append("--tty")
    argv += [pod, f"--container={constants.MYSQLD_CONTAINER}", "--", "mysql"]
    argv.append(f"--defaults-extra-file={mycnf_path(user)}")
    argv += list(args)
    return argv


# --- credential ----------------------------------------------------------------------------------
def password_of(secret: Mapping[str, Any], user: str, cluster_ref: str) -> str:
    """``user``'s password from the user Secret ``moco-<name>`` (base64 ``data``)."""
    if user not in MYSQL_USERS:
        raise PluginError(f"unknown user {user!r}: choose one of {', '.join(MYSQL_USERS)}")
    key = constants.PASSWORD_KEYS[user]
    name = (secret.get("metadata") or {}).get("name", "")
    raw = (secret.get("data") or {}).get(key)
    if not raw:
        raise NotFound(
            f"Secret {name} of MySQLCluster {cluster_ref} has no {key}: "
            "the controller writes it; check the controller's log"
        )
    try:
        return base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as e:
        raise PluginError(f"Secret {name} of MySQLCluster {cluster_ref}: {key} is not valid base64") from e


def credential_text(user: str, password: str, fmt: str) -> str:
    """What ``credential`` prints: the password, or a ``[client]`` option file for ``mysql``."""
    if fmt == "plain":
        return password + "\n"
    if fmt == "mycnf":
        return f'[client]\nuser="{user}"\npassword="{password}"\n'
    raise PluginError(f"unknown format {fmt!r}: choose plain or mycnf")


# --- switchover ----------------------------------------------------------------------------------
def switchover_refusal(cluster: ClusterView) -> str | None:
    """Why a switchover cannot be asked of ``cluster`` now, or None."""
    if cluster.offline:
        return (
            f"MySQLCluster {cluster.ref} is offline (spec.offline: true): there is no primary to switch; "
            "set spec.offline to false first"
        )
    if cluster.replicas == 1:
        return (
            f"MySQLCluster {cluster.ref} is a single-instance cluster: there is no replica to switch to; "
            "raise spec.replicas to 3 or more to have one"
        )
    if cluster.stopped(Switch.CLUSTERING):
        return (
            f"clustering of MySQLCluster {cluster.ref} is stopped: nothing would act on the switchover; "
            f"run `kubectl moco start clustering {cluster.name}` first"
        )
    if not 0 <= cluster.current_primary_index < cluster.replicas:
        return (
            f"MySQLCluster {cluster.ref}: status.currentPrimaryIndex {cluster.current_primary_index} "
            f"names no instance of {cluster.replicas}; see `kubectl moco status {cluster.name}`"
        )
    return None


def demote_patch(pod: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch that asks for a switchover, None when the Pod already carries it."""
    anns = (pod.get("metadata") or {}).get("annotations") or {}
    if anns.get(constants.ANN_DEMOTE) == "true":
        return None
    return {"metadata": {"annotations": {constants.ANN_DEMOTE: "true"}}}


# --- stop / start --------------------------------------------------------------------------------
def switch_patch(cluster: ClusterView, switch: Switch, *, stop: bool) -> dict[str, Any] | None:
    """The merge patch that stops or starts ``switch``, None when it is so already.

    ``start`` removes the annotation only when it reads ``"true"``: any other value already
    means running to the controller (as in MOCO).
    """
    if stop == cluster.stopped(switch):
        return None
    return {"metadata": {"annotations": {switch.value: "true" if stop else None}}}
