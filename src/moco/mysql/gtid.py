"""GTID sets in pure Python, spelled exactly as MySQL spells them.

A GTID is ``source_uuid[:tag]:gno``. MySQL writes a set as comma-separated groups, one per UUID,
each ``uuid[:interval...][:tag:interval...]...`` where an interval is ``n`` or ``n-m`` (1 <= n <= m).
Tags (MySQL 8.4+) are lower-cased names of 1-32 characters ``[a-z_][a-z0-9_]*``; in a group the
untagged intervals come first, then each tag in alphabetical order followed by its intervals.

Invariants of :class:`GtidSet` (immutable, hashable):

- it holds, per ``(uuid, tag)`` key, a sorted tuple of disjoint, non-adjacent closed intervals,
  and no key with no interval: two equal sets compare equal whatever their spelling;
- ``str()`` gives MySQL's canonical text: groups sorted by UUID, joined by ``",\\n"``; the empty
  set is ``""``. ``GtidSet.parse(str(s)) == s``, and ``str(GtidSet.parse(x))`` equals what the
  server prints for ``x`` (e.g. ``SELECT GTID_SUBTRACT(x, '')``).

The set algebra (``|``, ``-``, ``&``, ``<=``) is what clustering uses to compare replicas without a
round trip to a server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

Interval = tuple[int, int]
Key = tuple[str, str]  # (uuid, tag); tag "" means untagged

MAX_GNO: Final = (1 << 63) - 1
_UUID_RE: Final = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_TAG_RE: Final = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")
_INTERVAL_RE: Final = re.compile(r"^(\d+)(?:-(\d+))?$")


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
    j = 0
    for lo, hi in a:
        cur = lo
        while j < len(b) and b[j][1] < cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] <= hi:
            blo, bhi = b[k]
            if blo > cur:
                out.append((cur, blo - 1))
            cur = max(cur, bhi + 1)
            if cur > hi:
                break
            k += 1
        if cur <= hi:
            out.append((cur, hi))
    return tuple(out)


def _intersect(a: tuple[Interval, ...], b: tuple[Interval, ...]) -> tuple[Interval, ...]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _covers(big: tuple[Interval, ...], small: tuple[Interval, ...]) -> bool:
    return not _subtract(small, big)


def _canonical_uuid(text: str) -> str:
    u = text.strip().lower()
    if not _UUID_RE.match(u):
        raise GtidParseError(f"not a UUID: {text!r}")
    h = u.replace("-", "")
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class GtidSet:
    """An immutable set of GTIDs; build it with :meth:`parse` or :meth:`from_mapping`."""

    _items: tuple[tuple[Key, tuple[Interval, ...]], ...] = field(default=())

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, m: Mapping[Key, Iterable[Interval]]) -> GtidSet:
        """Build from ``{(uuid, tag): [(lo, hi), ...]}``; intervals are merged, empty keys dropped."""
        items = []
        for (uuid, tag), ivs in m.items():
            norm = _normalise(ivs)
            for lo, hi in norm:
                if not 1 <= lo <= hi <= MAX_GNO:
                    raise GtidParseError(f"bad interval {lo}-{hi}")
            if norm:
                items.append(((_canonical_uuid(uuid), tag.lower()), norm))
        merged: dict[Key, list[Interval]] = {}
        for k, norm in items:
            merged.setdefault(k, []).extend(norm)
        return cls(tuple(sorted((k, _normalise(v)) for k, v in merged.items())))

    @classmethod
    def parse(cls, text: str | None) -> GtidSet:
        """Parse MySQL's text (commas and/or newlines between groups; ``""`` or None is empty)."""
        if not text:
            return EMPTY
        acc: dict[Key, list[Interval]] = {}
        for raw in text.split(","):
            group = raw.strip()
            if not group:
                continue
            parts = group.split(":")
            uuid = _canonical_uuid(parts[0])
            tag = ""
            for part in parts[1:]:
                p = part.strip().lower()
                m = _INTERVAL_RE.match(p)
                if m:
                    lo = int(m.group(1))
                    hi = int(m.group(2)) if m.group(2) is not None else lo
                    if not 1 <= lo <= hi <= MAX_GNO:
                        raise GtidParseError(f"bad interval {part!r} in {group!r}")
                    acc.setdefault((uuid, tag), []).append((lo, hi))
                elif _TAG_RE.match(p):
                    tag = p
                else:
                    raise GtidParseError(f"bad element {part!r} in {group!r}")
        return cls(tuple(sorted((k, _normalise(v)) for k, v in acc.items() if v)))

    # --- views --------------------------------------------------------------------------------
    def as_dict(self) -> dict[Key, tuple[Interval, ...]]:
        """``{(uuid, tag): intervals}``, a fresh dict."""
        return dict(self._items)

    def uuids(self) -> frozenset[str]:
        """The source UUIDs present in the set."""
        return frozenset(uuid for (uuid, _), _ in self._items)

    def count(self) -> int:
        """How many GTIDs the set holds."""
        return sum(hi - lo + 1 for _, ivs in self._items for lo, hi in ivs)

    def is_empty(self) -> bool:
        """True for the empty set."""
        return not self._items

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[tuple[Key, tuple[Interval, ...]]]:
        return iter(self._items)

    def __contains__(self, gtid: object) -> bool:
        """``(uuid, tag, gno) in s`` or ``"uuid[:tag]:gno" in s``."""
        if isinstance(gtid, str):
            parsed = GtidSet.parse(gtid)
            return parsed.count() == 1 and parsed <= self
        if isinstance(gtid, tuple) and len(gtid) == 3:
            uuid, tag, gno = gtid
            ivs = dict(self._items).get((_canonical_uuid(str(uuid)), str(tag).lower()), ())
            return any(lo <= int(gno) <= hi for lo, hi in ivs)
        return False

    # --- algebra ------------------------------------------------------------------------------
    def union(self, other: GtidSet) -> GtidSet:
        """Every GTID in either set."""
        acc: dict[Key, list[Interval]] = {k: list(v) for k, v in self._items}
        for k, v in other._items:
            acc.setdefault(k, []).extend(v)
        return GtidSet(tuple(sorted((k, _normalise(v)) for k, v in acc.items())))

    def subtract(self, other: GtidSet) -> GtidSet:
        """The GTIDs of this set that ``other`` lacks (MySQL's GTID_SUBTRACT)."""
        theirs = dict(other._items)
        out = []
        for k, v in self._items:
            rest = _subtract(v, theirs[k]) if k in theirs else v
            if rest:
                out.append((k, rest))
        return GtidSet(tuple(out))

    def intersection(self, other: GtidSet) -> GtidSet:
        """The GTIDs in both sets."""
        theirs = dict(other._items)
        out = []
        for k, v in self._items:
            if k in theirs:
                both = _intersect(v, theirs[k])
                if both:
                    out.append((k, both))
        return GtidSet(tuple(out))

    def is_subset(self, other: GtidSet) -> bool:
        """True when every GTID here is also in ``other`` (MySQL's GTID_SUBSET)."""
        theirs = dict(other._items)
        return all(k in theirs and _covers(theirs[k], v) for k, v in self._items)

    __or__ = union
    __sub__ = subtract
    __and__ = intersection
    __le__ = is_subset

    def __ge__(self, other: GtidSet) -> bool:
        return other.is_subset(self)

    def __lt__(self, other: GtidSet) -> bool:
        return self != other and self.is_subset(other)

    def __gt__(self, other: GtidSet) -> bool:
        return self != other and other.is_subset(self)

    # --- text ---------------------------------------------------------------------------------
    def __str__(self) -> str:
        groups: dict[str, list[str]] = {}
        for (uuid, tag), ivs in self._items:  # sorted by (uuid, tag): "" (untagged) first
            parts = groups.setdefault(uuid, [uuid])
            if tag:
                parts.append(tag)
            parts.extend(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in ivs)
        return ",\n".join(":".join(parts) for _, parts in sorted(groups.items()))

    def __repr__(self) -> str:
        return f"GtidSet({str(self).replace(chr(10), '')!r})"


EMPTY: Final = GtidSet()
