"""What to do with a cluster's existing claims when its volume claim templates change (pure).

A StatefulSet never resizes the claims it made, and its claim templates cannot be updated in
place: the reconciler re-creates the StatefulSet (orphaning Pods and claims) with the new
templates, and this module decides, claim by claim (``<template>-moco-<name>-<i>``), what
happens to the claims that already exist. The rules, first that applies:

1. The claim's size equals the template's request, or the claim was not made from a template
   of the cluster: nothing to do.
2. The template asks for *less* (a shrink): the claim is **kept** at its size. A volume cannot
   shrink; as in MOCO the shrink is accepted (only claims made from now on get the smaller
   size) and the documented way to shrink an instance is to delete its Pod and claim, which
   the StatefulSet re-creates at the new size and moco re-clones. Never an error: a shrink
   must not stop the rest of the reconcile (StatefulSet, PodDisruptionBudget, pruning).
3. The template asks for *more* and the claim's StorageClass (named, else the default class)
   sets ``allowVolumeExpansion: true``: the claim **grows** (moco patches its request, on
   every reconcile until it matches, so a patch that failed once is retried).
4. The template asks for more and the class does not allow expansion: the claim is
   **blocked**. The rest of the reconcile still runs (the StatefulSet is re-created so that new
   claims get the new size, as MOCO does), and the reconcile then reports ``Refused`` naming
   the claim, its class and the fix. The admission policy shipped with the CRDs refuses such
   a spec up front; this is the backstop where that policy is not installed.

Apart from the size, MOCO's ``--pvc-sync-label-keys`` / ``--pvc-sync-annotation-keys``
(:func:`plan_metadata_sync`) carry chosen label and annotation values from the templates to the
claims, which a StatefulSet never updates after it made them:

5. For each key named by those flags that the claim's template sets, the claim gets the
   template's value when its own differs (or is missing). A key the template does not set is
   left alone on the claim, and nothing is ever removed: others (a CSI driver, a backup tool,
   the user) may own metadata on the claim, so moco writes only what it was told to sync.

A claim belongs to a template when it is named ``<template>-<StatefulSet>-<ordinal>``, the
StatefulSet controller's naming.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from moco.api import MySQLCluster, PersistentVolumeClaim
from moco.controllers.common import Obj, parse_quantity


@dataclass(frozen=True)
class Growth:
    """Rule 3: ``claim`` is patched to request ``size``."""

    claim: str
    size: str
    storage_class: str | None


@dataclass(frozen=True)
class Kept:
    """Rule 2: ``claim`` keeps ``have`` although its template asks for ``want``."""

    claim: str
    have: str
    want: str

    def message(self) -> str:
        return (
            f"PersistentVolumeClaim {self.claim} keeps {self.have} (its template asks for {self.want}; "
            "a volume cannot shrink): delete the claim and its Pod to re-create it at the new size, "
            "the instance is then re-cloned"
        )


@dataclass(frozen=True)
class Blocked:
    """Rule 4: ``claim`` should grow to ``size`` but its class does not allow expansion."""

    claim: str
    size: str
    storage_class: str | None

    def message(self) -> str:
        sc = self.storage_class or "(default)"
        return (
            f"PersistentVolumeClaim {self.claim} cannot grow to {self.size}: StorageClass {sc} does not "
            "allow volume expansion (set allowVolumeExpansion: true on it, or put the claim template's "
            "size back)"
        )


@dataclass(frozen=True)
class MetadataSync:
    """Rule 5: ``claim`` gets these label and annotation values (a merge patch of its metadata)."""

    claim: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def patch(self) -> dict[str, object]:
        meta: dict[str, object] = {}
        if self.labels:
            meta["labels"] = self.labels
        if self.annotations:
            meta["annotations"] = self.annotations
        return {"metadata": meta}


@dataclass(frozen=True)
class ClaimPlan:
    grow: list[Growth] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)
    #: rule 5 (filled by :func:`plan_metadata_sync`, not by :func:`plan_claims`)
    sync: list[MetadataSync] = field(default_factory=list)


def template_of(cluster: MySQLCluster, claim: str) -> PersistentVolumeClaim | None:
    """The template ``claim`` was made from (``<template>-<StatefulSet>-<ordinal>``), if any."""
    stem, sep, ordinal = claim.rpartition("-")
    if not sep or not ordinal.isdigit():
        return None
    sts_name = cluster.prefixed_name()
    for t in cluster.spec.volume_claim_templates:
        if t.metadata.name and stem == f"{t.metadata.name}-{sts_name}":
            return t
    return None


def plan_metadata_sync(
    cluster: MySQLCluster,
    pvcs: Iterable[Obj],
    label_keys: Collection[str],
    annotation_keys: Collection[str],
) -> list[MetadataSync]:
    """Rule 5 applied to every claim of the cluster: the claims whose synced keys differ."""
    out: list[MetadataSync] = []
    if not label_keys and not annotation_keys:
        return out
    for pvc in pvcs:
        meta = pvc.get("metadata") or {}
        tmpl = template_of(cluster, str(meta.get("name", "")))
        if tmpl is None:
            continue
        labels = _differing(tmpl.metadata.labels, meta.get("labels") or {}, label_keys)
        annotations = _differing(tmpl.metadata.annotations, meta.get("annotations") or {}, annotation_keys)
        if labels or annotations:
            out.append(MetadataSync(str(meta["name"]), labels, annotations))
    return out


def _differing(
    want: Mapping[str, str] | None, have: Mapping[str, str], keys: Collection[str]
) -> dict[str, str]:
    want = want or {}
    return {k: want[k] for k in keys if k in want and have.get(k) != want[k]}


def plan_claims(
    cluster: MySQLCluster, pvcs: Iterable[Obj], classes: Mapping[str, Obj], default_class: Obj | None
) -> ClaimPlan:
    """Rules 1-4 applied to every claim of the cluster (never raises)."""
    plan = ClaimPlan()
    for pvc in pvcs:
        name = str(pvc["metadata"]["name"])
        tmpl = template_of(cluster, name)
        if tmpl is None:
            continue
        want = parse_quantity(tmpl.storage_request)
        spec = pvc.get("spec") or {}
        have_q = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        have = parse_quantity(have_q)
        if want is None or have is None or want == have:
            continue
        if want < have:
            plan.kept.append(Kept(name, str(have_q), str(tmpl.storage_request)))
            continue
        sc_name = spec.get("storageClassName")
        sc = classes.get(sc_name) if sc_name else default_class
        if sc is not None and sc.get("allowVolumeExpansion"):
            plan.grow.append(Growth(name, str(tmpl.storage_request), sc_name))
        else:
            plan.blocked.append(Blocked(name, str(tmpl.storage_request), sc_name))
    return plan
