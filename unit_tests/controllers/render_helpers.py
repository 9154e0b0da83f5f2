"""Shared helpers of the controller tests: MOCO's examples as defaulted clusters, and golden files.

``MOCO_UPDATE_GOLDEN=1`` rewrites the golden files instead of comparing with them.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import yaml

from moco.api import MySQLCluster, with_defaults
from moco.constants import PASSWORD_KEYS
from moco.controllers import configmaps, reconcileversion, services, statefulset
from moco.controllers import secrets as sec
from moco.controllers.containers import Images

EXAMPLES = Path(__file__).parent.parent / "api" / "examples"
GOLDEN = Path(__file__).parent / "golden"
IMAGES = Images(agent="moco:test")
UID = "00000000-0000-4000-8000-000000000001"
#: the fragment MOCO's own CRD refuses (see the examples' README)
SKIPPED = {"anti-affinity-backuppolicy.yaml"}


def example_names() -> list[str]:
    return sorted(p.name for p in EXAMPLES.glob("*.yaml") if p.name not in SKIPPED)


def load_example(name: str) -> tuple[MySQLCluster, dict[str, str] | None]:
    """The example's MySQLCluster (defaulted as the controller sees it) and its user ConfigMap data."""
    docs = [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]
    cm_data = None
    cluster_doc: dict[str, Any] | None = None
    for d in docs:
        if d["kind"] == "ConfigMap":
            cm_data = d.get("data")
        elif d["kind"] == "MySQLCluster":
            cluster_doc = d
    assert cluster_doc is not None
    cluster_doc["metadata"]["uid"] = UID
    cluster = with_defaults(MySQLCluster.parse(cluster_doc), random.Random(7))
    return cluster, cm_data


def fake_token_hex(n: int, _counter: list[int] = [0]) -> str:  # noqa: B006
    _counter[0] += 1
    return f"{_counter[0]:0{2 * n}x}"


def render_all(cluster: MySQLCluster, user_conf: dict[str, str] | None) -> list[dict[str, Any]]:
    """Every object the reconciler applies for ``cluster`` (fixed passwords)."""
    pw = sec.Passwords({k: f"pw-{k.lower()}" for k in [*PASSWORD_KEYS.values(), sec.AGENT_TOKEN_KEY]})
    tls = reconcileversion.serves_moco_tls(reconcileversion.for_cluster(cluster))
    cm = configmaps.mycnf_configmap(cluster, user_conf, tls=tls)
    slow = configmaps.slow_log_configmap(cluster)
    objs: list[dict[str, Any] | None] = [
        sec.controller_secret(cluster, "moco-system", pw),
        sec.user_secret(cluster, pw),
        sec.mycnf_secret(cluster, pw),
        cm,
        slow,
        services.service_account(cluster),
        *services.services(cluster),
        statefulset.statefulset(
            cluster, cm["metadata"]["name"], None if slow is None else slow["metadata"]["name"], IMAGES
        ),
        services.pdb(cluster),
    ]
    return [o for o in objs if o is not None]


def check_golden(name: str, objs: list[dict[str, Any]]) -> None:
    path = GOLDEN / name
    text = yaml.safe_dump_all(objs, sort_keys=True, width=200)
    if os.environ.get("MOCO_UPDATE_GOLDEN") == "1":
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing: run with MOCO_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from its golden file (MOCO_UPDATE_GOLDEN=1 rewrites it)"
