"""The isolation fence's rules as a table, and the kernel's TCP tables as they are written."""

from __future__ import annotations

from pathlib import Path

import pytest

from moco.agent.isolation import (
    Facts,
    IsolationPolicy,
    Link,
    decide,
    isolated_long_enough,
    parse_tcp_table,
    read_links,
)

POLICY = IsolationPolicy()
R1 = ("10.244.2.7", 51234)
R2 = ("10.244.3.9", 40000)
ME = ("10.244.1.5", 3306)


def link(remote: tuple[str, int], retransmits: int = 0, *, retransmitting: bool | None = None) -> Link:
    running = retransmits > 0 if retransmitting is None else retransmitting
    return Link(ME, remote, unacked=49 if running else 0, retransmitting=running, retransmits=retransmits)


def facts(
    *links: Link,
    writable: bool = True,
    semisync: bool = True,
    replicas: tuple[tuple[str, int], ...] = (R1, R2),
) -> Facts:
    return Facts(writable=writable, semisync_source=semisync, replicas=frozenset(replicas), links=links)


TABLE = [
    # (case, facts, isolated, reason fragment)
    ("rule 1: read-only", facts(link(R1, 9), link(R2, 9), writable=False), False, "not a writable"),
    ("rule 1: no semi-sync (one instance)", facts(link(R1, 9), semisync=False), False, "not a writable"),
    ("rule 2: no replica connected", facts(replicas=()), False, "no replica connected"),
    (
        "rule 2: replicas not in the TCP table",
        facts(link(("10.0.0.1", 1), 9)),
        False,
        "no replica connection",
    ),
    ("rule 3: both acknowledge", facts(link(R1), link(R2)), False, "2 of 2"),
    ("rule 3: one acknowledges", facts(link(R1, 9), link(R2)), False, "1 of 2"),
    ("rule 3: too few retransmissions", facts(link(R1, 2), link(R2, 2)), False, "acknowledge"),
    (
        "rule 3: a count without a running timer",
        facts(link(R1, 5, retransmitting=False), link(R2, 5)),
        False,
        "acknowledge",
    ),
    ("rule 4: every replica unacknowledged", facts(link(R1, 3), link(R2, 6)), True, "3+ retransmissions"),
    ("rule 4: the one replica left is cut", facts(link(R1, 4), replicas=(R1,)), True, "(1)"),
    (
        "rule 4: other connections do not count",
        facts(link(R1, 4), link(R2, 4), link(("10.244.9.9", 5555))),
        True,
        "(2)",
    ),
]


@pytest.mark.parametrize(("case", "f", "isolated", "reason"), TABLE, ids=[t[0] for t in TABLE])
def test_rules(case: str, f: Facts, isolated: bool, reason: str) -> None:
    v = decide(f, POLICY)
    assert v.isolated is isolated, case
    assert reason in v.reason


def test_rule_4_span_a_blip_shorter_than_isolation_after_never_fences() -> None:
    assert not isolated_long_enough(None, 100.0, POLICY)
    assert not isolated_long_enough(100.0, 100.0 + POLICY.isolation_after - 0.01, POLICY)
    assert isolated_long_enough(100.0, 100.0 + POLICY.isolation_after, POLICY)


# Lines as the kernel writes them: 10.244.1.5:3306 <- 10.244.2.7:51234, the retransmission timer
# running (tr 1), 3 retransmissions, 49 bytes unacknowledged; a listening socket; the same
# connection seen through an IPv6 socket (IPv4-mapped, mysqld's dual-stack listener).
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 1 1 0 100 0 0 10 0
   1: 0501F40A:0CEA 0702F40A:C822 01 00000031:00000000 01:00000152 00000003   999        0 2 2 0 26 4 30 10 -1
   2: 0501F40A:0CEA 0903F40A:9C40 01 00000000:00000000 00:00000000 00000000   999        0 3 2 0 20 4 30 10 -1
"""
TCP6 = (
    "  sl  local_address                         remote_address                        st tx_queue"
    " rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 0000000000000000FFFF00000501F40A:0CEA 0000000000000000FFFF00000702F40A:C822 01"
    " 00000031:00000000 01:00000152 00000004   999        0 4 2 0 26 4 30 10 -1\n"
)


def test_parse_tcp_tables(tmp_path: Path) -> None:
    links = parse_tcp_table(TCP)
    assert links == [
        Link(ME, R1, unacked=49, retransmitting=True, retransmits=3),
        Link(ME, R2, unacked=0, retransmitting=False, retransmits=0),
    ]
    (tmp_path / "tcp").write_text(TCP)
    (tmp_path / "tcp6").write_text(TCP6)
    both = read_links([tmp_path / "tcp", tmp_path / "tcp6", tmp_path / "missing"])
    assert both[-1] == Link(ME, R1, unacked=49, retransmitting=True, retransmits=4)
    assert decide(facts(*both), POLICY).isolated is False  # R2 acknowledges
    assert decide(facts(*both, replicas=(R1,)), POLICY).isolated is True


def test_parse_real_table_of_this_machine() -> None:
    # whatever this host holds right now parses (a format change would raise here)
    for t in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if t.exists():
            parse_tcp_table(t.read_text())
