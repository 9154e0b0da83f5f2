"""Per-cluster metric families whose text exposition is kept rendered, series by series.

prometheus_client renders ``/metrics`` by building a sample object per line and formatting it
on every scrape. On the event loop of a controller with 1,000 clusters that was 0.4-1.0 s per
scrape (about 70,000 lines), during which no clustering loop ran. The families here have
prometheus_client's API (``labels(...).inc() / .set() / .observe()``, ``remove(...)``), so the
modules that define MOCO's ``moco_cluster_*`` and ``moco_backup_*`` series only import them from
here, and render in a fraction of that. Rules:

1. A series keeps its lines as text. A change (``inc``, ``set``, ``observe``) marks it stale; a
   scrape re-renders only stale series and joins the rest as they are. Each series' label part
   is escaped once, when the series is created.
2. The lines of one family are contiguous: ``# HELP``, ``# TYPE``, then its series in the order
   they were created (the text format asks for the first; the second keeps scrapes stable).
3. Names as Prometheus' Go client and prometheus_client write them: a counter ``x`` is exposed
   as ``x_total``; a histogram as cumulative ``x_bucket{le=...}`` with ``+Inf``, then ``x_count``
   and ``x_sum``. Unlike prometheus_client, no ``x_created`` series (MOCO exposes none).
4. Values are written as prometheus_client writes them (``floatToGoString``: ``1.0``, ``NaN``,
   ``+Inf``), so a parser reads the same numbers from either.
5. Everything runs on the event loop's thread: no lock. A family registers on one
   :class:`Registry` (:data:`REGISTRY` unless told otherwise) at definition, once per name.

:func:`exposition` is what the manager serves: prometheus_client's default registry (the
controller machinery's few series) followed by :data:`REGISTRY`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Final, Generic, TypeVar

from prometheus_client import REGISTRY as CLIENT_REGISTRY
from prometheus_client import generate_latest
from prometheus_client.utils import floatToGoString as _untyped_go_float

__all__ = ["REGISTRY", "Counter", "Gauge", "Histogram", "Registry", "exposition", "label_text"]

#: A value as prometheus_client writes it (rule 4).
floatToGoString: Final[Callable[[float], str]] = _untyped_go_float


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def label_text(names: Sequence[str], values: Sequence[str]) -> str:
    """``name="value",...`` (no braces): the label part of a series, escaped as the text format
    asks (also the agent's, :mod:`moco.agent.metrics`)."""
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))


class _Series:
    """One labelled series of a family; its lines are rendered again only after a change."""

    __slots__ = ("_text", "label_text")

    def __init__(self, labels: str) -> None:
        self.label_text = labels
        self._text: str | None = None

    def _changed(self) -> None:
        self._text = None

    def text(self, name: str) -> str:
        if self._text is None:
            self._text = self._render(name)
        return self._text

    def _render(self, name: str) -> str:
        raise NotImplementedError

    def samples(self, name: str) -> Iterator[tuple[str, dict[str, str], float]]:
        raise NotImplementedError


class _Value(_Series):
    __slots__ = ("value",)
    #: what the exposed sample name adds to the family's (rule 3)
    _suffix: ClassVar[str] = ""

    def __init__(self, labels: str) -> None:
        super().__init__(labels)
        self.value = 0.0

    def _render(self, name: str) -> str:
        return f"{name}{self._suffix}{{{self.label_text}}} {floatToGoString(self.value)}\n"

    def samples(self, name: str) -> Iterator[tuple[str, dict[str, str], float]]:
        yield name + self._suffix, {}, self.value


class _CounterSeries(_Value):
    __slots__ = ()
    _suffix = "_total"

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError(f"a counter only goes up: inc({amount})")
        self.value += amount
        self._changed()


class _GaugeSeries(_Value):
    __slots__ = ()

    def set(self, value: float) -> None:
        self.value = float(value)
        self._changed()

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount
        self._changed()


class _HistogramSeries(_Series):
    __slots__ = ("_bounds", "count", "counts", "sum")

    def __init__(self, labels: str, bounds: tuple[float, ...]) -> None:
        super().__init__(labels)
        self._bounds = bounds
        self.counts = [0] * len(bounds)  # not cumulative; the last bound is +Inf
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self._bounds):
            if value <= bound:
                self.counts[i] += 1
                break
        self.count += 1
        self.sum += value
        self._changed()

    def _cumulative(self) -> Iterator[tuple[str, int]]:
        acc = 0
        for bound, n in zip(self._bounds, self.counts, strict=True):
            acc += n
            yield floatToGoString(bound), acc

    def _render(self, name: str) -> str:
        sep = "," if self.label_text else ""
        lines = [
            f'{name}_bucket{{{self.label_text}{sep}le="{le}"}} {floatToGoString(n)}\n'
            for le, n in self._cumulative()
        ]
        lines.append(f"{name}_count{{{self.label_text}}} {floatToGoString(self.count)}\n")
        lines.append(f"{name}_sum{{{self.label_text}}} {floatToGoString(self.sum)}\n")
        return "".join(lines)

    def samples(self, name: str) -> Iterator[tuple[str, dict[str, str], float]]:
        for le, n in self._cumulative():
            yield f"{name}_bucket", {"le": le}, float(n)
        yield f"{name}_count", {}, float(self.count)
        yield f"{name}_sum", {}, self.sum


S = TypeVar("S", bound=_Series)


class _Family(Generic[S]):
    """A metric name, its help, its label names and its series by label values."""

    kind: str = ""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: Registry | None = None
    ) -> None:
        self.name = name
        self.labelnames = tuple(labelnames)
        self.exposed_name = name + "_total" if self.kind == "counter" else name
        self._series: dict[tuple[str, ...], S] = {}
        self._header = (
            f"# HELP {self.exposed_name} {_escape_help(documentation)}\n"
            f"# TYPE {self.exposed_name} {self.kind}\n"
        )
        (REGISTRY if registry is None else registry).register(self)

    def _new(self, labels: str) -> S:
        raise NotImplementedError

    def labels(self, *values: str) -> S:
        """The series of these label values, created (at zero) on first use."""
        key = tuple(str(v) for v in values)
        series = self._series.get(key)
        if series is None:
            if len(key) != len(self.labelnames):
                raise ValueError(
                    f"{self.name}: labels {self.labelnames} want {len(self.labelnames)} values, got {key}"
                )
            series = self._series[key] = self._new(label_text(self.labelnames, key))
        return series

    def remove(self, *values: str) -> None:
        """Delete one series; KeyError when there is none (prometheus_client's contract)."""
        del self._series[tuple(str(v) for v in values)]

    def render(self) -> str:
        if not self._series:
            return ""
        name = self.name
        return self._header + "".join(s.text(name) for s in self._series.values())

    def samples(self) -> Iterator[tuple[str, dict[str, str], float]]:
        """Every sample as (name, labels, value), for tests and readers."""
        for key, s in self._series.items():
            labels = dict(zip(self.labelnames, key, strict=True))
            for name, extra, value in s.samples(self.name):
                yield name, {**labels, **extra}, value


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


class Counter(_Family[_CounterSeries]):
    kind = "counter"

    def _new(self, labels: str) -> _CounterSeries:
        return _CounterSeries(labels)


class Gauge(_Family[_GaugeSeries]):
    kind = "gauge"

    def _new(self, labels: str) -> _GaugeSeries:
        return _GaugeSeries(labels)


class Histogram(_Family[_HistogramSeries]):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        *,
        buckets: Sequence[float],
        registry: Registry | None = None,
    ) -> None:
        bounds = tuple(sorted(float(b) for b in buckets))
        if not bounds or bounds[-1] != math.inf:
            bounds = (*bounds, math.inf)
        self.bounds: Final = bounds
        super().__init__(name, documentation, labelnames, registry)

    def _new(self, labels: str) -> _HistogramSeries:
        return _HistogramSeries(labels, self.bounds)


class Registry:
    """The families of one process, rendered in the order they were defined (rule 5)."""

    def __init__(self) -> None:
        self._families: dict[str, _Family[Any]] = {}

    def register(self, family: _Family[Any]) -> None:
        if family.name in self._families:
            raise ValueError(f"metric {family.name} is defined twice")
        self._families[family.name] = family

    def render(self) -> str:
        return "".join(f.render() for f in self._families.values())

    def sample_value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The value of one sample (as prometheus_client's ``get_sample_value``), None when absent."""
        want = labels or {}
        for f in self._families.values():
            if not name.startswith(f.name):
                continue
            for sname, slabels, value in f.samples():
                if sname == name and slabels == want:
                    return value
        return None


#: The process' registry of per-cluster families.
REGISTRY: Final = Registry()


def exposition() -> bytes:
    """The whole ``/metrics`` body: prometheus_client's default registry, then :data:`REGISTRY`."""
    return generate_latest(CLIENT_REGISTRY) + REGISTRY.render().encode()
