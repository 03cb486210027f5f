"""Timing helpers and the statistics each measurement reports (median, p95, min-max)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def timed(fn: Callable[[], object]) -> float:
    """Milliseconds one call of fn takes."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


@dataclass
class Measurement:
    """One named measurement: its samples, and its floor's samples where it has one."""

    name: str
    what: str
    budget: str = ""
    samples_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    floor_what: str = ""
    queries: int | None = None
    # Checks the budget from the measured figures; None when the budget is not a fixed number.
    within: Callable[[Measurement], bool] | None = None
    extra: dict = field(default_factory=dict)
    note: str = ""
    # A load generator reports a distribution, not samples: {median, p95, min, max, n}.
    distribution: dict | None = None

    @property
    def median(self) -> float:
        if self.distribution:
            return self.distribution["median"]
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        if self.distribution:
            return self.distribution["p95"]
        return percentile(self.samples_ms, 95)

    @property
    def low(self) -> float:
        return self.distribution["min"] if self.distribution else min(self.samples_ms)

    @property
    def high(self) -> float:
        return self.distribution["max"] if self.distribution else max(self.samples_ms)

    @property
    def n(self) -> int:
        return self.distribution["n"] if self.distribution else len(self.samples_ms)

    @property
    def ratio_to_floor(self) -> float | None:
        if not self.floor_ms:
            return None
        floor = statistics.median(self.floor_ms)
        return self.median / floor if floor > 0 else None

    def as_json(self) -> dict:
        out = {
            "name": self.name,
            "what": self.what,
            "median_ms": round(self.median, 2),
            "p95_ms": round(self.p95, 2),
            "min_ms": round(self.low, 2),
            "max_ms": round(self.high, 2),
            "n": self.n,
        }
        if self.queries is not None:
            out["queries"] = self.queries
        if self.floor_ms:
            out["floor"] = self.floor_what
            out["floor_median_ms"] = round(statistics.median(self.floor_ms), 2)
            out["floor_p95_ms"] = round(percentile(self.floor_ms, 95), 2)
            out["ratio_to_floor"] = round(self.ratio_to_floor, 2)
        out.update(self.extra)
        if self.budget:
            out["budget"] = self.budget
            out["within_budget"] = self.within(self) if self.within else None
        if self.note:
            out["note"] = self.note
        return out


def interleaved(
    measure: Callable[[], float], floor: Callable[[], float] | None, n: int
) -> tuple[list[float], list[float]]:
    """Run the measurement and its floor alternately, so both see the same machine noise."""
    samples, floors = [], []
    for _ in range(n):
        if floor is not None:
            floors.append(floor())
        samples.append(measure())
    return samples, floors


def table(results: list[Measurement]) -> str:
    """The readable terminal table."""
    header = (
        f"{'measurement':<20} {'n':>4} {'median':>10} {'p95':>10} {'min-max':>19} "
        f"{'queries':>7} {'floor':>10} {'ratio':>6}  budget"
    )
    lines = [header, "-" * len(header)]
    for m in results:
        floor = f"{statistics.median(m.floor_ms):.1f} ms" if m.floor_ms else ""
        ratio = f"{m.ratio_to_floor:.2f}x" if m.floor_ms else ""
        verdict = "" if not m.within else ("ok   " if m.within(m) else "MISS ")
        lines.append(
            f"{m.name:<20} {m.n:>4} {_ms(m.median):>10} {_ms(m.p95):>10} "
            f"{_ms(m.low) + '-' + _ms(m.high):>19} "
            f"{'' if m.queries is None else m.queries:>7} {floor:>10} {ratio:>6}  "
            f"{verdict}{m.budget}"
        )
        for key, value in m.extra.items():
            if key in ("rps", "p99_ms", "errors", "requests", "ms_per_report", "pairs"):
                lines.append(f"{'':<20} {key} = {value}")
    return "\n".join(lines)


def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 10000 else f"{value:.1f} ms"
