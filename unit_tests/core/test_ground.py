"""The ground's process registry stops exactly what it started."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from moco.testing import ground


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCO_STATE_DIR", str(tmp_path / "state"))


def test_spawn_record_stop() -> None:
    proc, rec = ground.spawn([sys.executable, "-c", "import time; time.sleep(60)"], "sleeper")
    assert rec.alive()
    assert [r.pid for r in ground.recorded()] == [proc.pid]
    ground.stop(rec, proc)
    assert not rec.alive()
    assert ground.recorded() == []


def test_clean_stops_leftovers_and_dirs(tmp_path: Path) -> None:
    proc, rec = ground.spawn([sys.executable, "-c", "import time; time.sleep(60)"], "leftover")
    leftover = Path("/tmp") / f"moco-test-{proc.pid}"
    leftover.mkdir()
    ground.record_dir(leftover)
    assert ground.clean(verbose=False) == 1
    proc.wait(timeout=5)
    assert not rec.alive()
    assert not leftover.exists()
    assert ground.recorded() == []


def test_reused_pid_is_not_signalled() -> None:
    proc, rec = ground.spawn([sys.executable, "-c", "pass"], "short")
    proc.wait(timeout=5)
    fake = ground.Recorded(rec.pid, rec.start_time + 1, "other")
    assert not fake.alive()
    ground.forget(rec)
