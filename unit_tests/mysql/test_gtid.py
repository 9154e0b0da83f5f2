"""GtidSet: parsing, MySQL's canonical text, and the set algebra (unit tests, no server)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moco.mysql.gtid import EMPTY, GtidParseError, GtidSet

U1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
U2 = "8a94f357-aab4-11df-86ab-c80aa9429562"
U3 = "c2b1a1f0-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("  \n ", ""),
        (f"{U1}:1-5", f"{U1}:1-5"),
        (f"{U1}:1-3:4-5", f"{U1}:1-5"),
        (f"{U1}:7:1-5", f"{U1}:1-5:7"),
        (f"{U1}:3:3:3-3", f"{U1}:3"),
        (f"{U2}:1,\n{U1}:2", f"{U1}:2,\n{U2}:1"),
        (f"{U1}:1-2,{U1}:3-4", f"{U1}:1-4"),
        (f"{U1.upper()}:1", f"{U1}:1"),
        (U1.replace("-", "") + ":9", f"{U1}:9"),
        (f" {U1}:1 ,\n {U2}:5-6 ", f"{U1}:1,\n{U2}:5-6"),
        (f"{U1}:tag_b:1-2:tag_a:5,{U1}:3", f"{U1}:3:tag_a:5:tag_b:1-2"),
        (f"{U1}:TAG:1", f"{U1}:tag:1"),
        (f"{U1}:t:1:2:3", f"{U1}:t:1-3"),
        (f"{U1}:t", ""),
        (f"{U1}:1:t:1", f"{U1}:1:t:1"),
        (f"{U1}:9223372036854775807", f"{U1}:9223372036854775807"),
    ],
)
def test_parse_and_canonical_text(text: str, canonical: str) -> None:
    s = GtidSet.parse(text)
    assert str(s) == canonical
    assert GtidSet.parse(str(s)) == s


@pytest.mark.parametrize(
    "text",
    [
        "nonsense",
        f"{U1}:0",
        f"{U1}:5-3",
        f"{U1}:-1",
        f"{U1}:1-",
        "abc:1",
        f"{U1}:9tag:1",
        f"{U1}:9223372036854775808",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(GtidParseError):
        GtidSet.parse(text)


def test_basic_algebra_examples() -> None:
    a = GtidSet.parse(f"{U1}:1-10,{U2}:1-3")
    b = GtidSet.parse(f"{U1}:4-6,{U3}:1")
    assert str(a - b) == f"{U1}:1-3:7-10,\n{U2}:1-3"
    assert str(a | b) == f"{U1}:1-10,\n{U2}:1-3,\n{U3}:1"
    assert str(a & b) == f"{U1}:4-6"
    assert not b <= a
    assert (a & b) <= a
    assert a.count() == 13
    assert (U1, "", 5) in a
    assert f"{U2}:3" in a
    assert (U2, "", 4) not in a
    assert a.uuids() == {U1, U2}
    assert not EMPTY
    assert EMPTY.is_empty()
    assert str(EMPTY) == ""
    assert GtidSet.parse(f"{U1}:1-3") < GtidSet.parse(f"{U1}:1-4")
    assert GtidSet.parse(f"{U1}:1-4") >= GtidSet.parse(f"{U1}:2")


def test_from_mapping_and_hash() -> None:
    s = GtidSet.from_mapping({(U1.upper(), ""): [(5, 6), (1, 4)], (U2, "x"): [], (U2, "T"): [(2, 2)]})
    assert str(s) == f"{U1}:1-6,\n{U2}:t:2"
    assert hash(s) == hash(GtidSet.parse(f"{U2}:t:2,{U1}:1-6"))
    assert {s, GtidSet.parse(str(s))} == {s}
    with pytest.raises(GtidParseError):
        GtidSet.from_mapping({(U1, ""): [(0, 1)]})


# --- properties, checked against a model: a plain Python set of (uuid, tag, gno) -------------
_keys = st.tuples(st.sampled_from([U1, U2, U3]), st.sampled_from(["", "a", "b_2"]))
_gtids = st.frozensets(st.tuples(_keys, st.integers(1, 40)), max_size=60)


def _model(s: GtidSet) -> frozenset[tuple[tuple[str, str], int]]:
    return frozenset((k, g) for k, ivs in s for lo, hi in ivs for g in range(lo, hi + 1))


def _build(model: frozenset[tuple[tuple[str, str], int]]) -> GtidSet:
    acc: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for k, g in model:
        acc.setdefault(k, []).append((g, g))
    return GtidSet.from_mapping(acc)


@given(_gtids, _gtids)
def test_algebra_matches_the_model(
    ma: frozenset[tuple[tuple[str, str], int]], mb: frozenset[tuple[tuple[str, str], int]]
) -> None:
    a, b = _build(ma), _build(mb)
    assert _model(a) == ma
    assert _model(a | b) == ma | mb
    assert _model(a - b) == ma - mb
    assert _model(a & b) == ma & mb
    assert (a <= b) == (ma <= mb)
    assert a.count() == len(ma)
    assert bool(a) == bool(ma)
    assert (a == b) == (ma == mb)


@given(_gtids, _gtids, _gtids)
def test_algebra_laws(
    ma: frozenset[tuple[tuple[str, str], int]],
    mb: frozenset[tuple[tuple[str, str], int]],
    mc: frozenset[tuple[tuple[str, str], int]],
) -> None:
    a, b, c = _build(ma), _build(mb), _build(mc)
    assert a | b == b | a
    assert (a | b) | c == a | (b | c)
    assert a | a == a
    assert a | EMPTY == a
    assert a - a == EMPTY
    assert (a - b) | (a & b) == a
    assert not ((a - b) & b)
    assert a <= a | b
    assert (a - b) <= a
    assert (a <= b) == (not (a - b))
    assert a - (b | c) == (a - b) - c


@given(_gtids)
def test_text_round_trip(ma: frozenset[tuple[tuple[str, str], int]]) -> None:
    a = _build(ma)
    text = str(a)
    assert GtidSet.parse(text) == a
    assert GtidSet.parse(text.replace(",\n", ",")) == a
    assert hash(GtidSet.parse(text)) == hash(a)
