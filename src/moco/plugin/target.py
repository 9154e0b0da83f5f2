"""Which apiserver, context and namespace a command acts on, resolved as kubectl resolves them.

kubectl's rules, kept here so that ``kubectl moco`` and ``kubectl`` always mean the same cluster:

* the kubeconfig is ``--kubeconfig`` (one file), else every file of ``$KUBECONFIG`` (a ``:``
  separated list, merged: the first file that sets a value wins), else ``~/.kube/config``;
* the context is ``--context``, else the first non-empty ``current-context``;
* the namespace is ``--namespace``, else the context's namespace, else ``default``.

:func:`resolve` is pure over the parsed files; :func:`load` reads them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from moco.plugin.errors import PluginError

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Target:
    """Where a command goes: the kubeconfig path(s) as kubectl takes them, a context, a namespace."""

    kubeconfig: str
    context: str | None
    namespace: str
    #: ``--kubeconfig`` / ``--context`` as given, handed on unchanged to ``kubectl exec``.
    kubeconfig_flag: str | None = None
    context_flag: str | None = None


def kubeconfig_paths(flag: str | None, env: Mapping[str, str]) -> list[str]:
    """The kubeconfig files kubectl would read, in precedence order."""
    if flag:
        return [flag]
    listed = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return listed
    return [str(Path(env.get("HOME", str(Path.home()))) / ".kube" / "config")]


def resolve(
    configs: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    context_flag: str | None = None,
    namespace_flag: str | None = None,
    kubeconfig_flag: str | None = None,
) -> Target:
    """The target from parsed kubeconfig files (``(path, document)`` in precedence order)."""
    if not configs:
        raise PluginError("no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config")
    current = context_flag or next(
        (str(c["current-context"]) for _, c in configs if c.get("current-context")), None
    )
    contexts: dict[str, Mapping[str, Any]] = {}
    for _, doc in configs:
        for entry in doc.get("contexts") or []:
            name = str(entry.get("name", ""))
            contexts.setdefault(name, entry.get("context") or {})
    if current is None:
        raise PluginError(
            f"the kubeconfig ({', '.join(p for p, _ in configs)}) names no current context: pass --context"
        )
    if current not in contexts:
        raise PluginError(f'context "{current}" does not exist in {", ".join(p for p, _ in configs)}')
    namespace = namespace_flag or str(contexts[current].get("namespace") or "") or DEFAULT_NAMESPACE
    return Target(
        kubeconfig=os.pathsep.join(p for p, _ in configs),
        context=current,
        namespace=namespace,
        kubeconfig_flag=kubeconfig_flag,
        context_flag=context_flag,
    )


def load(
    *,
    kubeconfig_flag: str | None = None,
    context_flag: str | None = None,
    namespace_flag: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Target:
    """Read the kubeconfig files and :func:`resolve` the target."""
    env = os.environ if env is None else env
    configs: list[tuple[str, Mapping[str, Any]]] = []
    for path in kubeconfig_paths(kubeconfig_flag, env):
        p = Path(path).expanduser()
        if not p.is_file():
            if kubeconfig_flag:
                raise PluginError(f"--kubeconfig {path}: no such file")
            continue
        try:
            doc = yaml.safe_load(p.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise PluginError(f"cannot read kubeconfig {path}: {e}") from e
        if not isinstance(doc, dict):
            raise PluginError(f"kubeconfig {path} is not a mapping")
        configs.append((str(p), doc))
    return resolve(
        configs, context_flag=context_flag, namespace_flag=namespace_flag, kubeconfig_flag=kubeconfig_flag
    )
