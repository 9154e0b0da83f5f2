"""The slow-log sidecar: moco's own image following the file by default, fluent-bit when configured."""

from __future__ import annotations

from moco import constants
from moco.controllers.common import find_container
from moco.controllers.containers import Images, containers
from unit_tests.controllers.render_helpers import load_example


def _slow_log(images: Images) -> dict[str, object]:
    cluster, _ = load_example("guaranteed.yaml")
    out, _ = containers(cluster, images)
    c = find_container({"containers": out}, constants.SLOW_LOG_CONTAINER)
    assert c is not None
    return c


def test_default_is_our_image_following_the_slow_log() -> None:
    """No image from MOCO's registry by default: a cluster whose nodes cannot reach it still starts."""
    c = _slow_log(Images(agent="moco:test"))
    assert c["image"] == "moco:test"
    assert c["command"] == ["tail", "-F", "-n", "+1", "/var/log/mysql/mysql.slow"]


def test_fluent_bit_image_reads_the_generated_config() -> None:
    c = _slow_log(Images(agent="moco:test", fluent_bit="registry.example/fluent-bit:4"))
    assert c["image"] == "registry.example/fluent-bit:4"
    assert "command" not in c
    mounts = {m["mountPath"] for m in c["volumeMounts"]}  # type: ignore[attr-defined]
    assert "/fluent-bit/etc" in mounts
