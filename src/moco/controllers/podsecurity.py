"""Security contexts that pass the ``restricted`` Pod Security Standard (pure rendering).

Every Pod moco makes (mysqld Pods, the my.cnf validation Job, backup and restore Jobs, the
binlog archiver) is admitted in a namespace labelled
``pod-security.kubernetes.io/enforce=restricted``. :func:`container_context` and
:func:`pod_context` build the contexts; the rules, in order:

1. a key the user set (in ``podTemplate``, a container's ``securityContext``, or
   ``overwriteContainers``) is kept as given: the user's choice, which their namespace's policy
   admits or refuses;
2. every key the restricted level requires and the user left unset is filled:
   ``allowPrivilegeEscalation: false``, ``capabilities.drop: [ALL]``, ``runAsNonRoot: true``,
   ``seccompProfile.type: RuntimeDefault`` (containers), ``runAsNonRoot`` and
   ``seccompProfile`` (Pods);
3. ``runAsUser``/``runAsGroup`` 10000 (containers) and ``fsGroup`` 10000 (Pods) are filled
   unless :attr:`SecurityDefaults.default_ids` is off: MOCO's
   ``--disable-default-security-context``, for platforms that assign their own ranges (OpenShift);
4. ``readOnlyRootFilesystem: true`` is filled for containers that write only to volumes (all of
   moco's; mysqld's writable paths are volumes too: data, ``/tmp``, ``/run``, ``/var/log/mysql``,
   ``/etc/mysql-conf.d``).

Invariant: the same inputs render the same dicts (no randomness, no time), so a Pod template
changes only when its inputs do.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final

from moco import constants

Obj = dict[str, Any]

#: what the restricted level asks of every container (rule 2)
RESTRICTED_CONTAINER: Final[Obj] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
#: what it asks of the Pod (rule 2)
RESTRICTED_POD: Final[Obj] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


@dataclass(frozen=True)
class SecurityDefaults:
    """How much moco fills in (see the module docstring)."""

    #: fill uid/gid 10000 and fsGroup 10000 (rule 3); ``--disable-default-security-context``
    #: turns it off (MOCO's flag)
    default_ids: bool = True


#: moco's defaults (no ``--disable-default-security-context``)
DEFAULT_SECURITY: Final = SecurityDefaults()


def _fill(given: Obj | None, defaults: Obj) -> Obj:
    out = copy.deepcopy(given) if given else {}
    for key, value in defaults.items():
        if key not in out:
            out[key] = copy.deepcopy(value)
    return out


def container_context(given: Obj | None, security: SecurityDefaults, *, read_only_root: bool = True) -> Obj:
    """A container's ``securityContext`` (rules 1-4)."""
    defaults: Obj = dict(RESTRICTED_CONTAINER)
    if security.default_ids:
        defaults["runAsUser"] = constants.CONTAINER_UID
        defaults["runAsGroup"] = constants.CONTAINER_GID
    if read_only_root:
        defaults["readOnlyRootFilesystem"] = True
    return _fill(given, defaults)


def pod_context(given: Obj | None, security: SecurityDefaults) -> Obj:
    """A Pod's ``securityContext`` (rules 1-3)."""
    defaults: Obj = dict(RESTRICTED_POD)
    if security.default_ids:
        defaults["fsGroup"] = constants.CONTAINER_GID
        defaults["fsGroupChangePolicy"] = "OnRootMismatch"
    return _fill(given, defaults)
