"""The mysqld-exporter sidecar: its image default, the flag that overrides it, and its arguments.

The default must name an image this project builds (``localhost/moco/mysqld-exporter:<version>``,
from the binary ``hack/mysqld-exporter.sh`` pins) and the local deployment must pass the same
reference; these tests keep the three in step, so a version bump in one place fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from moco import constants
from moco.cli.controller import images_from, parser
from moco.controllers.containers import EXPORTER_IMAGE, EXPORTER_VERSION, Images, exporter_container

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_default_is_the_image_the_local_provider_builds() -> None:
    script = (REPO_ROOT / "hack" / "mysqld-exporter.sh").read_text()
    pinned = re.search(r"^VERSION=(\S+)$", script, re.MULTILINE)
    assert pinned is not None
    assert pinned.group(1) == f"v{EXPORTER_VERSION}"
    assert f"localhost/moco/mysqld-exporter:{EXPORTER_VERSION}" == EXPORTER_IMAGE
    assert Images(agent="a").exporter == EXPORTER_IMAGE
    deploy = (REPO_ROOT / "manifests" / "deploy" / "kustomization.yaml").read_text()
    assert re.search(rf"name: MOCO_EXPORTER_IMAGE\s+value: {re.escape(EXPORTER_IMAGE)}\s", deploy)


def test_flag_names_moco_and_ours() -> None:
    for flag in ("--mysqld-exporter-image", "--exporter-image"):
        assert images_from(parser().parse_args([f"{flag}=reg/exp:1"])).exporter == "reg/exp:1"
    assert images_from(parser().parse_args([])).exporter == EXPORTER_IMAGE


def test_container_args_are_the_exporters_flags() -> None:
    c = exporter_container(
        ["engine_innodb_status", "info_schema.innodb_metrics"], Images(agent="a", exporter="e:1")
    )
    assert c["image"] == "e:1"
    assert c["args"] == [
        f"--config.my-cnf={constants.MYCNF_SECRET_PATH}/moco-exporter-my.cnf",
        "--collect.engine_innodb_status",
        "--collect.info_schema.innodb_metrics",
    ]
    assert c["ports"] == [{"name": "mysqld-metrics", "containerPort": 9104, "protocol": "TCP"}]
    assert c["securityContext"] == {
        "runAsUser": 10000,
        "runAsGroup": 10000,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
        "readOnlyRootFilesystem": True,
    }
