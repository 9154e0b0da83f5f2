"""How long a replica whose clones failed waits before the next (pure)."""

from __future__ import annotations

import pytest

from moco.clustering.config import ProcessConfig
from moco.clustering.process import clone_retry_after

CFG = ProcessConfig(clone_retry_initial=5.0, clone_retry_max=120.0)


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 5.0), (1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (5, 80.0), (6, 120.0), (30, 120.0)],
)
def test_clone_retry_after(failures: int, seconds: float) -> None:
    assert clone_retry_after(failures, CFG) == seconds


def test_defaults_are_the_documented_ones() -> None:
    cfg = ProcessConfig()
    assert (cfg.clone_retry_initial, cfg.clone_retry_max) == (5.0, 120.0)
