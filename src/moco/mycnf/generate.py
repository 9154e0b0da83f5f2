"""Render my.cnf from the user's ConfigMap data and the mysqld container's memory.

Invariants:

* Rendering is deterministic: sections and keys are sorted, so equal inputs give byte-equal
  output and :func:`configmap_name` (a hash of the output) names the ConfigMap stably; a change
  of the content changes the name, which rolls the StatefulSet.
* Keys are normalised (``-`` becomes ``_``); a user's ``foo`` replaces a default ``loose_foo``
  and the other way round, so no option is written twice.
* The enforced settings (:func:`moco.mycnf.defaults.enforced_sections`) win over everything.
* Options MySQL removed and replaced are rewritten first (:mod:`moco.mycnf.renamed`), so a
  MOCO manifest's ``innodb_log_file_size`` becomes ``innodb_redo_log_capacity``.
* ``innodb_buffer_pool_size`` is 70 % of the memory (request, else limit), rounded down to
  MiB, at least 128 MiB, unless the user set it.
"""

from __future__ import annotations

from collections.abc import Mapping

from moco import constants
from moco.mycnf.defaults import (
    DEFAULT_MYSQLD,
    DROPPED_USER_KEYS,
    OPAQUE_KEY,
    POD_PATHS,
    Paths,
    enforced_sections,
)
from moco.mycnf.renamed import translate

MIB = 1 << 20


def buffer_pool_size(memory_bytes: int | None) -> int:
    """70 % of ``memory_bytes`` rounded down to a MiB, never below 128 MiB."""
    total = memory_bytes or 0
    size = (total // 100 * constants.INNODB_BUFFER_POOL_RATIO_PERCENT) // MIB * MIB
    return max(size, constants.INNODB_BUFFER_POOL_MIN_BYTES)


def normalize_key(key: str) -> str:
    """my.cnf treats ``-`` and ``_`` alike; we write ``_``."""
    return key.strip().replace("-", "_")


def _variations(key: str) -> tuple[str, str]:
    base = key.removeprefix("loose_")
    return base, f"loose_{base}"


def merge_section(base: Mapping[str, str], override: Mapping[str, str]) -> dict[str, str]:
    """``override`` over ``base``; an override of ``x`` also removes ``loose_x`` and vice versa."""
    out = {normalize_key(k): v for k, v in base.items()}
    for k, v in override.items():
        nk = normalize_key(k)
        for variant in _variations(nk):
            out.pop(variant, None)
        out[nk] = v
    return out


def generate(
    user_conf: Mapping[str, str] | None,
    memory_bytes: int | None,
    *,
    paths: Paths = POD_PATHS,
    tls: bool = False,
) -> str:
    """The content of my.cnf for a cluster.

    ``user_conf`` is the ``data`` of the ConfigMap named by ``spec.mysqlConfigMapName`` (each
    entry a ``[mysqld]`` option; the ``_include`` entry is copied verbatim); ``memory_bytes``
    is the mysqld container's memory (request, else limit; None when neither is set); with
    ``tls`` mysqld serves the certificate mounted at ``paths.tls_dir`` (enforced: a user's
    ``ssl_cert`` cannot replace it).
    """
    user, _ = translate(user_conf or {})
    opaque = user.pop(OPAQUE_KEY, "").strip()
    mysqld = merge_section(DEFAULT_MYSQLD, user)
    for key in DROPPED_USER_KEYS:
        mysqld.pop(key, None)
    mysqld.setdefault("innodb_buffer_pool_size", str(buffer_pool_size(memory_bytes)))

    sections: dict[str, dict[str, str]] = {"mysqld": mysqld}
    for name, enforced in enforced_sections(paths, tls=tls).items():
        sections[name] = merge_section(sections.get(name, {}), enforced)

    lines: list[str] = []
    for name in sorted(sections):
        lines.append(f"[{name}]")
        if name == "mysqld" and opaque:
            lines.append(opaque)
        section = sections[name]
        lines.extend(f"{key} = {section[key]}" for key in sorted(section))
        lines.append("")
    lines.append(f"!includedir {paths.init_conf_dir}")
    return "\n".join(lines) + "\n"


def fnv1a_32(data: bytes) -> int:
    """FNV-1a, 32 bits: the hash MOCO names its my.cnf ConfigMaps with."""
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def content_hash(conf: str) -> str:
    """Eight hex digits naming ``conf``."""
    return f"{fnv1a_32(conf.encode()):08x}"


def configmap_name(cluster_name: str, conf: str) -> str:
    """Name of the ConfigMap holding ``conf``: ``moco-<cluster>.<hash>``."""
    return f"moco-{cluster_name}.{content_hash(conf)}"


def configmap_prefix(cluster_name: str) -> str:
    """Every my.cnf ConfigMap of a cluster starts so (old ones are deleted by this prefix)."""
    return f"moco-{cluster_name}."
