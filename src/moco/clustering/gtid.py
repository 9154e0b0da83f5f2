"""GTID-set arithmetic the clustering decisions need, done in Python (no server round trip).

A GTID set is ``uuid:interval[:interval]...[,uuid:...]`` with intervals ``n`` or ``n-m``
(``n >= 1``). :class:`GtidSet` keeps, per lower-cased source UUID, a sorted tuple of disjoint,
non-adjacent closed intervals, so two equal sets compare equal whatever their spelling.
Tagged GTIDs (``uuid:tag:n``) keep the tag as part of the key. Instances are immutable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_TAG = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")

Interval = tuple[int, int]


class GtidParseError(ValueError):
    """The text is not a GTID set."""


def _normalise(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    out: list[list[int]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((a, b) for a, b in out)


def _subtract(a: tuple[Interval, ...], b: tuple[Interval, ...]) -> tuple[Interval, ...]:
    out: list[Interval] = []
    for lo, hi in a:
        cur = lo
        for blo, bhi in b:
            if bhi < cur or blo > hi:
                continue
            if blo > cur:
                out.append((cur, blo - 1))
            cur = max(cur, bhi + 1)
            if cur > hi:
                break
        if cur <= hi:
            out.append((cur, hi))
    return tuple(out)


@dataclass(frozen=True)
class GtidSet:
    """An immutable set of GTIDs."""

    sets: Mapping[str, tuple[Interval, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> GtidSet:
        """Parse MySQL's spelling (whitespace and newlines allowed); ``""``/``None`` is empty."""
        merged: dict[str, list[Interval]] = {}
        for raw in (text or "").replace("\n", "").split(","):
            part = raw.strip()
            if not part:
                continue
            fields = part.split(":")
            if len(fields) < 2:
                raise GtidParseError(f"no interval in {part!r}")
            key = fields[0].strip().lower()
            if len(key) != 36:
                raise GtidParseError(f"bad uuid in {part!r}")
            for raw_field in fields[1:]:
                f = raw_field.strip()
                if _TAG.match(f.lower()):  # a tag applies to the intervals after it
                    key = f"{key}:{f.lower()}"
                    continue
                try:
                    lo_s, _, hi_s = f.partition("-")
                    lo, hi = int(lo_s), int(hi_s or lo_s)
                except ValueError:
                    raise GtidParseError(f"bad interval {f!r} in {part!r}") from None
                if lo < 1 or hi < lo:
                    raise GtidParseError(f"bad interval {f!r} in {part!r}")
                merged.setdefault(key, []).append((lo, hi))
        return cls({k: _normalise(v) for k, v in merged.items() if v})

    def __str__(self) -> str:
        parts = []
        for key in sorted(self.sets):
            ivs = ":".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in self.sets[key])
            parts.append(f"{key}:{ivs}")
        return ",".join(parts)

    def __or__(self, other: GtidSet) -> GtidSet:
        keys = set(self.sets) | set(other.sets)
        return GtidSet({k: _normalise([*self.sets.get(k, ()), *other.sets.get(k, ())]) for k in sorted(keys)})

    def __sub__(self, other: GtidSet) -> GtidSet:
        out = {}
        for k, ivs in self.sets.items():
            rest = _subtract(ivs, other.sets.get(k, ()))
            if rest:
                out[k] = rest
        return GtidSet(out)

    def __le__(self, other: GtidSet) -> bool:
        return (self - other).is_empty()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GtidSet):
            return NotImplemented
        return dict(self.sets) == dict(other.sets)

    def __hash__(self) -> int:
        return hash(str(self))

    def is_subset(self, other: GtidSet) -> bool:
        """Every GTID of ``self`` is in ``other``."""
        return self <= other

    def is_empty(self) -> bool:
        """No GTID at all."""
        return not self.sets

    def count(self) -> int:
        """How many transactions the set holds."""
        return sum(hi - lo + 1 for ivs in self.sets.values() for lo, hi in ivs)

    def sources(self) -> frozenset[str]:
        """The source UUIDs (without tags) that appear in the set."""
        return frozenset(k.split(":", 1)[0] for k in self.sets)
