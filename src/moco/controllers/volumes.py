"""Growing the claims of a cluster when a volume claim template asks for more storage (pure).

A StatefulSet never resizes existing claims: when a template's storage request grows, moco
patches each claim made from it (``<template>-moco-<name>-<i>``), on every reconcile until the
claims match, so a patch that failed once is retried. Shrinking is refused (a volume cannot
shrink), and so is growing a claim whose StorageClass (named, else the default class) does not
set ``allowVolumeExpansion: true`` -- the same rule as the admission policy shipped with the
CRDs, kept here as the backstop where that policy is not installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from moco.api import MySQLCluster
from moco.controllers.common import Obj, parse_quantity
from moco.controllers.errors import Refused


@dataclass(frozen=True)
class Growth:
    claim: str
    size: str
    storage_class: str | None


def claims_to_grow(cluster: MySQLCluster, pvcs: Iterable[Obj]) -> list[Growth]:
    """The claims whose template asks for more than they have; raises :class:`Refused` on a shrink."""
    out: list[Growth] = []
    sts_name = cluster.prefixed_name()
    for pvc in pvcs:
        name = str(pvc["metadata"]["name"])
        tmpl = next(
            (
                t
                for t in cluster.spec.volume_claim_templates
                if t.metadata.name and name.startswith(f"{t.metadata.name}-{sts_name}-")
            ),
            None,
        )
        if tmpl is None:
            continue
        want = parse_quantity(tmpl.storage_request)
        spec = pvc.get("spec") or {}
        have = parse_quantity(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
        if want is None or have is None or want == have:
            continue
        if want < have:
            raise Refused(f"PersistentVolumeClaim {name}: cannot shrink from {have} to {want} bytes")
        out.append(Growth(name, str(tmpl.storage_request), spec.get("storageClassName")))
    return out


def check_expandable(
    growths: Iterable[Growth], classes: Mapping[str, Obj], default_class: Obj | None
) -> None:
    """Raise :class:`Refused` unless every growing claim's class allows volume expansion."""
    for g in growths:
        sc = classes.get(g.storage_class) if g.storage_class else default_class
        if sc is None or not sc.get("allowVolumeExpansion"):
            raise Refused(
                f"PersistentVolumeClaim {g.claim}: StorageClass {g.storage_class or '(default)'} does not "
                "allow volume expansion"
            )


def resize_claims(
    cluster: MySQLCluster, pvcs: Iterable[Obj], classes: Mapping[str, Obj], default_class: Obj | None
) -> list[tuple[str, str]]:
    """``(claim, new size)`` for each claim to grow, after both checks."""
    growths = claims_to_grow(cluster, pvcs)
    check_expandable(growths, classes, default_class)
    return [(g.claim, g.size) for g in growths]
