"""GTID-set arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moco.clustering.gtid import GtidParseError, GtidSet

A = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
B = "aaaaaaaa-71ca-11e1-9e33-c80aa9429562"


def test_parse_and_spell() -> None:
    s = GtidSet.parse(f"{B}:5, {A}:1-3:4-6:9,\n{A}:11")
    assert str(s) == f"{A}:1-6:9:11,{B}:5"
    assert s.count() == 9
    assert s.sources() == {A, B}


def test_empty() -> None:
    assert GtidSet.parse("").is_empty()
    assert GtidSet.parse(None).is_empty()
    assert str(GtidSet.parse("")) == ""


def test_upper_case_uuid_is_the_same_source() -> None:
    assert GtidSet.parse(f"{A.upper()}:1-2") == GtidSet.parse(f"{A}:1:2")


def test_subtract_union_subset() -> None:
    x = GtidSet.parse(f"{A}:1-10,{B}:1")
    y = GtidSet.parse(f"{A}:3-4:8")
    assert str(x - y) == f"{A}:1-2:5-7:9-10,{B}:1"
    assert y <= x
    assert not x <= y
    assert (x | y) == x
    assert y.is_subset(x)


def test_tagged_gtids_are_their_own_source_key() -> None:
    s = GtidSet.parse(f"{A}:tag1:1-3")
    assert s.sources() == {A}
    assert not s <= GtidSet.parse(f"{A}:1-3")


@pytest.mark.parametrize("bad", ["xyz", f"{A}", f"{A}:0", f"{A}:5-3", f"{A}:a-b", "short:1"])
def test_rejects_bad_text(bad: str) -> None:
    with pytest.raises(GtidParseError):
        GtidSet.parse(bad)


intervals = st.lists(st.tuples(st.integers(1, 60), st.integers(0, 5)), max_size=6)


def build(ivs: list[tuple[int, int]]) -> GtidSet:
    return GtidSet.parse(",".join(f"{A}:{lo}-{lo + n}" for lo, n in ivs))


def members(s: GtidSet) -> set[int]:
    return {n for lo, hi in s.sets.get(A, ()) for n in range(lo, hi + 1)}


@given(intervals, intervals)
def test_matches_python_sets(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    x, y = build(a), build(b)
    assert members(x - y) == members(x) - members(y)
    assert members(x | y) == members(x) | members(y)
    assert (x <= y) == (members(x) <= members(y))
    assert GtidSet.parse(str(x)) == x
