"""gather.probe's decisions that need no mysqld: a Pod without an address is not connected to."""

from __future__ import annotations

from typing import Any

import pytest

from moco.clustering import gather as gather_mod
from moco.clustering.types import PodInfo

from ..fixtures.clustering import CREDS, FAST


async def test_a_pod_without_an_ip_is_refused_without_any_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[Any] = []

    async def connect(ep: Any, **kw: Any) -> Any:
        tried.append(ep)
        raise AssertionError("no connect (and no DNS look-up) for a Pod with no IP")

    monkeypatch.setattr(gather_mod, "connect", connect)
    got = await gather_mod.probe(PodInfo(name="moco-c-0", index=0, host=""), CREDS, FAST)
    assert isinstance(got, gather_mod.NoAnswer)
    assert got.refused
    assert got.tries == 1
    assert tried == []
