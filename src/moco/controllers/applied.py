"""Whether an object already is as the reconciler would apply it, so the apply can be skipped (pure).

A reconcile renders every object of a cluster (Secrets, ConfigMaps, Services, StatefulSet, PDB,
backup objects) and server-side applies them. Most reconciles change nothing: they follow a
status write, a Pod event or a resync. Sending a dozen no-op applies each time costs the
controller's shared client rate limit (20 requests/s by default): with 1,000 clusters a start-up
or a burst of events would queue failover status writes behind thousands of no-ops. So the
reconciler skips an apply when the object in its informer cache already is as desired.

Rules (both must hold to skip):

1. **Fingerprint**: the live object carries :data:`ANN_APPLIED`, the fingerprint of the body
   moco last applied, and it equals the fingerprint of the body it would apply now. This
   catches what rule 2 cannot: a field moco stopped setting (a removed label, env var or
   volume) is only removed from the object by applying the new body.
2. **Subset**: every field of the desired body is in the live object with the same value
   (:func:`is_subset`: maps by key, lists element by element with equal lengths, scalars equal;
   fields the apiserver or others added are ignored). This catches a field moco owns that
   someone else changed since (a hand-edited Service port), which the apply puts back.

A cache that lags behind the server may let a needed apply be skipped once; the event that
brings the cache up to date enqueues the cluster again (each kind is watched), so the object
converges as with an apply. A skipped apply never writes, so it can never undo a newer change.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from moco import constants
from moco.controllers.common import Obj

#: Annotation on every applied object: the fingerprint of the body last applied (rule 1).
ANN_APPLIED: Final = f"{constants.GROUP}/applied"


def fingerprint(body: Obj) -> str:
    """A short hash of ``body`` (without the fingerprint annotation itself); key order ignored.

    Only the metadata and its annotations are copied (shallowly) to leave the annotation out: a
    reconcile fingerprints every object it renders, and a deep copy cost more than the rest."""
    meta = body.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        anns = {k: v for k, v in meta["annotations"].items() if k != ANN_APPLIED}
        bare_meta = {k: v for k, v in meta.items() if k != "annotations"}
        if anns:
            bare_meta["annotations"] = anns
        body = {**body, "metadata": bare_meta}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def fingerprinted(body: Obj) -> Obj:
    """``body`` with its fingerprint annotation (a new dict; ``body`` is not changed)."""
    out = dict(body)
    meta = dict(out.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), ANN_APPLIED: fingerprint(body)}
    out["metadata"] = meta
    return out


def is_subset(want: Any, have: Any) -> bool:
    """Whether ``have`` holds everything in ``want`` (rule 2)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and is_subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(is_subset(w, h) for w, h in zip(want, have, strict=True))
        )
    if isinstance(want, bool) or isinstance(have, bool):
        return want is have
    return bool(want == have)


def up_to_date(desired: Obj, live: Obj | None) -> bool:
    """Whether applying ``desired`` (as made by :func:`fingerprinted`) to ``live`` would change
    nothing moco manages: rules 1 and 2. A missing or deleting object is never up to date."""
    if live is None or (live.get("metadata") or {}).get("deletionTimestamp"):
        return False
    want = ((desired.get("metadata") or {}).get("annotations") or {}).get(ANN_APPLIED)
    have = ((live.get("metadata") or {}).get("annotations") or {}).get(ANN_APPLIED)
    # apiVersion and kind: list responses leave them out of their items
    body = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}
    return want is not None and want == have and is_subset(body, live)
