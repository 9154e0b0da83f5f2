"""A controller release restarts no mysqld: the Pod templates it renders do not name it.

The operator upgrade that restarted every mysqld Pod of every cluster at once (MOCO #698, #572)
came from here: the deployment gave the agent and ``copy-moco-init`` the controller's own image
(``MOCO_AGENT_IMAGE`` = the controller's image), so each new controller image was a new Pod
template. These tests deploy two controller releases the way ``e2e/deploy.py`` does (the
manifests with the controller's image replaced), take the images the controller then uses from
its own flags and environment, and render every MOCO example with each: the StatefulSets must be
the same. A new agent version, the agent's own contract, must change them (else the test could
not fail).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from moco.cli.controller import images_from, parser
from moco.controllers import statefulset
from moco.controllers.containers import AGENT_IMAGE, AGENT_VERSION, BACKUP_IMAGE_NAME, Images
from unit_tests.controllers.render_helpers import example_names, load_example

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
#: the placeholders e2e/deploy.py replaces by the built references
CONTROLLER_PLACEHOLDER = "localhost/moco/moco:latest"
BACKUP_PLACEHOLDER = f"localhost/moco/{BACKUP_IMAGE_NAME}:latest"
RELEASE_A = "localhost/moco/moco:src-0123456789ab"
RELEASE_B = "localhost/moco/moco:src-0123456789ab-v0.1.1"


def deployment_env(controller_image: str) -> dict[str, str]:
    """The controller container's literal environment in ``manifests/deploy`` (the base Deployment
    and the overlay's ``env/-`` patches), with the images of a release as e2e/deploy.py sets them."""
    backup_image = controller_image.replace("/moco:", f"/{BACKUP_IMAGE_NAME}:")

    def release(text: str) -> str:
        return text.replace(CONTROLLER_PLACEHOLDER, controller_image).replace(
            BACKUP_PLACEHOLDER, backup_image
        )

    deployment = yaml.safe_load(release((MANIFESTS / "base" / "deployment.yaml").read_text()))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == controller_image, "the Deployment does not run the controller's image"
    env: list[dict[str, Any]] = list(container.get("env") or [])
    overlay = yaml.safe_load(release((MANIFESTS / "deploy" / "kustomization.yaml").read_text()))
    for patch in overlay.get("patches") or []:
        ops = yaml.safe_load(patch["patch"])
        if not isinstance(ops, list):
            continue  # a strategic merge patch (the metrics Service's deletion), not JSON 6902
        for op in ops:
            if op["op"] == "add" and op["path"] == "/spec/template/spec/containers/0/env/-":
                env.append(op["value"])
    return {e["name"]: str(e["value"]) for e in env if "value" in e}


def images_of_release(controller_image: str, monkeypatch: pytest.MonkeyPatch) -> Images:
    """The images ``moco-controller`` uses when deployed with ``controller_image``."""
    for var in ("MOCO_AGENT_IMAGE", "MOCO_BACKUP_IMAGE", "MOCO_EXPORTER_IMAGE", "MOCO_FLUENT_BIT_IMAGE"):
        monkeypatch.delenv(var, raising=False)
    for name, value in deployment_env(controller_image).items():
        monkeypatch.setenv(name, value)
    return images_from(parser().parse_args([]))


def render(name: str, images: Images) -> dict[str, Any]:
    cluster, _ = load_example(name)
    return statefulset.statefulset(cluster, "moco-test-mycnf", "moco-test-slow", images)


@pytest.mark.parametrize("name", example_names())
def test_a_controller_release_renders_the_same_statefulset(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = images_of_release(RELEASE_A, monkeypatch)
    b = images_of_release(RELEASE_B, monkeypatch)
    sts_a, sts_b = render(name, a), render(name, b)
    assert sts_a == sts_b
    assert a.backup_image != b.backup_image, "the release's own image must differ (else nothing is tested)"
    text = yaml.safe_dump(sts_a)
    for ref in (RELEASE_A, a.backup_image):
        assert ref not in text, (
            f"the Pod template names {ref}: every controller release would roll every cluster"
        )


def test_the_agent_image_is_its_own_version(monkeypatch: pytest.MonkeyPatch) -> None:
    images = images_of_release(RELEASE_A, monkeypatch)
    assert images.agent == AGENT_IMAGE, "manifests/base's MOCO_AGENT_IMAGE is not containers.AGENT_IMAGE"
    assert AGENT_IMAGE.endswith(f"/moco-agent:{AGENT_VERSION}")
    assert images.backup_image == f"localhost/moco/{BACKUP_IMAGE_NAME}:src-0123456789ab"


@pytest.mark.parametrize("name", ["anti-affinity.yaml", "collect-metrics.yaml"])
def test_a_new_agent_version_rolls(name: str) -> None:
    """The agent's own contract is the one controller-side change that restarts mysqld."""
    if name not in example_names():
        pytest.fail(f"the example {name} is gone: pick another")
    before = render(name, Images(agent="localhost/moco/moco-agent:1.0.0"))
    after = render(name, Images(agent="localhost/moco/moco-agent:1.0.1"))
    assert statefulset.decide_partition(before, after, force=False) == after["spec"]["replicas"]
    spec = after["spec"]["template"]["spec"]
    uses = sorted(
        c["name"] for c in [*spec["containers"], *spec["initContainers"]] if c["image"].endswith(":1.0.1")
    )
    assert "agent" in uses
    assert "copy-moco-init" in uses
    assert "mysqld" not in uses
    assert "moco-init" not in uses  # runs the user's mysqld image
