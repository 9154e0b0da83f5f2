"""A replica whose IO thread makes its first connect is left alone (decide.first_connect_underway).

A pass that followed the one that pointed a replica at the new primary restarted its IO thread
while it was still ``Connecting`` (TLS and authentication take a few ms); passes following at
once kept starting the connect over, and the new primary's first commit waited for the
acknowledgement meanwhile (0.6-2.3 s of writes on loopback). Only a first try is left alone:
a thread that failed (an IO error) retries every SOURCE_CONNECT_RETRY seconds and is restarted.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from moco.clustering.decide import first_connect_underway
from moco.clustering.types import InstanceView

from .builders import pod, replica


def connecting(**kw: object) -> InstanceView:
    ist = replica(1, io=False)
    assert ist.replica is not None
    return replace(ist, replica=replace(ist.replica, io_connecting=True, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ist", "source", "semisync", "left_alone"),
    [
        ("first try", 0, True, True),
        ("connecting after an IO error", 0, True, False),
        ("running", 0, True, False),
        ("stopped", 0, True, False),
        ("first try, another source", 2, True, False),
        ("first try, applier stopped", 0, True, False),
        ("first try, semi-sync not as wanted", 0, False, False),
        ("first try, without TLS", 0, True, False),
    ],
)
def test_only_a_first_try_to_the_primary_as_configured_is_left_alone(
    ist: str, source: int, semisync: bool, left_alone: bool
) -> None:
    views = {
        "first try": connecting(),
        "connecting after an IO error": connecting(last_io_errno=2003),
        "running": replica(1),
        "stopped": replica(1, io=False),
        "first try, another source": connecting(),
        "first try, applier stopped": connecting(sql_running=False),
        "first try, semi-sync not as wanted": connecting(),
        "first try, without TLS": connecting(tls=False),
    }
    assert first_connect_underway(views[ist], pod(source), semisync=semisync) is left_alone
