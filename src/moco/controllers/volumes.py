"""Growing the claims of a cluster when a volume claim template asks for more storage (pure).

A StatefulSet never resizes existing claims: when a template's storage request grows, moco
patches each claim made from it (``<template>-moco-<name>-<i>``). Shrinking is refused (a
volume cannot shrink), and so is growing a claim whose StorageClass (named, else the default
class) does not set ``allowVolumeExpansion: true`` -- the same rule as the admission policy
shipped with the CRDs, kept here as the backstop where that policy is not installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from moco.api import MySQLCluster
from moco.controllers.common import Obj, parse_quantity
from moco.controllers.errors import Refused


def resize_claims(
    cluster: MySQLCluster,
    pvcs: Iterable[Obj],
    classes: Mapping[str, Obj | None],
    default_class: Obj | None,
) -> list[tuple[str, str]]:
    """``(claim name, new storage request)`` for each claim to grow; raises :class:`Refused`."""
    out: list[tuple[str, str]] = []
    sts_name = cluster.prefixed_name()
    templates = {t.metadata.name: t for t in cluster.spec.volume_claim_templates}
    for pvc in pvcs:
        name = str(pvc["metadata"]["name"])
        tmpl = next(
            (t for tn, t in templates.items() if tn and name.startswith(f"{tn}-{sts_name}-")),
            None,
        )
        if tmpl is None:
            continue
        want_raw = tmpl.storage_request
        want = parse_quantity(want_raw)
        have = parse_quantity(
            ((pvc.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
        )
        if want is None or have is None or want == have:
            continue
        if want < have:
            raise Refused(f"PersistentVolumeClaim {name}: cannot shrink from {have} to {want} bytes")
        class_name = (pvc.get("spec") or {}).get("storageClassName")
        sc = classes.get(class_name) if class_name else default_class
        if sc is None or not sc.get("allowVolumeExpansion"):
            raise Refused(
                f"PersistentVolumeClaim {name}: StorageClass {class_name or '(default)'} does not allow "
                "volume expansion"
            )
        out.append((name, str(want_raw)))
    return out
