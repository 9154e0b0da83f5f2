"""The slow-log sidecar: moco's own image following the file by default, fluent-bit when configured."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from moco import constants
from moco.controllers.common import find_container
from moco.controllers.containers import SLOW_LOG_FOLLOW_COMMAND, Images, containers
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
    assert c["command"] == list(SLOW_LOG_FOLLOW_COMMAND)
    assert c["command"][-1] == "/var/log/mysql/mysql.slow"


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(x) for x in (task / "children").read_text().split()]
    return out


def test_the_follower_prints_the_file_and_ends_at_once_on_sigterm_as_pid_1(tmp_path: Path) -> None:
    """As a container's PID 1 the follower must stop on SIGTERM (a PID 1 without a handler never
    gets it, and every Pod deletion would wait its whole grace period)."""
    log = tmp_path / "mysql.slow"
    log.write_text("# Query_time: 3.0\nSELECT SLEEP(3);\n")
    cmd = [*SLOW_LOG_FOLLOW_COMMAND[:-1], str(log)]
    # a new PID namespace: the command runs as its PID 1, as in the container
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", *cmd], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "# Query_time: 3.0\n"
        deadline = time.monotonic() + 5
        while not (pid1 := _children(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(pid1[0], signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_fluent_bit_image_reads_the_generated_config() -> None:
    c = _slow_log(Images(agent="moco:test", fluent_bit="registry.example/fluent-bit:4"))
    assert c["image"] == "registry.example/fluent-bit:4"
    assert "command" not in c
    mounts = {m["mountPath"] for m in c["volumeMounts"]}  # type: ignore[attr-defined]
    assert "/fluent-bit/etc" in mounts
