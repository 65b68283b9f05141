"""Geometry for the small SVG charts of the dashboard and release pages (drawn by the templates).

Hand-placed rectangles and lines keep the pages offline and light; a chart library would be larger
than everything it would draw here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .gate import LABELS

if TYPE_CHECKING:
    from .selectors import Dashboard

PLOT_X0, PLOT_W = 70.0, 420.0  # left gutter for row labels, plot width
ROW_H = 24.0
SEGMENT_KEYS = {"response1": "A (response 1)", "response2": "B (response 2)", "tie": "Tie"}
STATE_KEYS = {"accepted": "Accepted", "disputed": "Disputed", "needs_votes": "Needs votes", "excluded": "Excluded"}


@dataclass(frozen=True)
class ForestRow:
    label: str
    n: int
    value: float | None
    low: float | None
    high: float | None
    note: str
    y: float
    x: float | None
    x_low: float | None
    x_high: float | None


@dataclass(frozen=True)
class Tick:
    value: float
    x: float
    reference: bool  # 0.667 and 0.8, the conventional reliability bars


@dataclass(frozen=True)
class Forest:
    rows: list[ForestRow]
    ticks: list[Tick]
    height: float
    width: float = PLOT_X0 + PLOT_W + 20


def _x(value: float, lo: float, hi: float) -> float:
    return round(PLOT_X0 + (value - lo) / (hi - lo) * PLOT_W, 1)


def forest(entries: Iterable[tuple[str, int, Mapping[str, Any]]]) -> Forest:
    """entries: (row label, pairs, {"value", "low", "high", "note"}) alpha estimates."""
    items = list(entries)
    seen = [v for _, _, e in items for v in (e.get("value"), e.get("low")) if v is not None]
    lo = min([0.0, *seen])
    lo = float(int(lo * 5 - 1)) / 5 if lo < 0 else 0.0  # round down to a multiple of 0.2
    hi = 1.0
    rows = []
    for i, (label, n, e) in enumerate(items):
        value, low, high = e.get("value"), e.get("low"), e.get("high")
        rows.append(
            ForestRow(
                label=label,
                n=n,
                value=value,
                low=low,
                high=high,
                note=e.get("note", ""),
                y=i * ROW_H + ROW_H / 2 + 4,
                x=_x(value, lo, hi) if value is not None else None,
                x_low=_x(low, lo, hi) if low is not None else None,
                x_high=_x(high, lo, hi) if high is not None else None,
            )
        )
    # 0.6 would print on top of 0.667; below -0.4 the scale is too wide for every 0.2.
    marks = sorted({lo, 0.0, 0.2, 0.4, 0.667, 0.8, 1.0} - ({0.2, 0.4} if lo < -0.4 else set()))
    ticks = [Tick(v, _x(v, lo, hi), v in (0.667, 0.8)) for v in marks if v >= lo]
    return Forest(rows, ticks, height=len(items) * ROW_H + 28)


@dataclass(frozen=True)
class Segment:
    key: str
    title: str
    n: int
    share: float
    x: float
    w: float


@dataclass(frozen=True)
class StackRow:
    label: str
    total: int
    y: float
    segments: list[Segment]


@dataclass(frozen=True)
class Stack:
    rows: list[StackRow]
    legend: list[tuple[str, str]]
    height: float
    width: float = PLOT_X0 + PLOT_W + 80


def stack(entries: Iterable[tuple[str, Mapping[str, int]]], keys: Mapping[str, str]) -> Stack:
    """One 100% bar per entry, split by `keys` in order."""
    rows = []
    for i, (label, counts) in enumerate(entries):
        total = sum(int(counts.get(k, 0)) for k in keys)
        x = PLOT_X0
        segments = []
        for key, title in keys.items():
            n = int(counts.get(key, 0))
            w = round(n / total * PLOT_W, 1) if total else 0.0
            segments.append(Segment(key, title, n, n / total if total else 0.0, round(x, 1), w))
            x += w
        rows.append(StackRow(label, total, i * ROW_H + 4, segments))
    return Stack(rows, list(keys.items()), height=len(rows) * ROW_H + 8)


def label_bars(tasks: Mapping[str, Mapping[str, Any]]) -> Stack:
    """Release labels per task from a release summary's `tasks`."""
    return stack(((task, info.get("labels", {})) for task, info in tasks.items()), SEGMENT_KEYS)


def alpha_forest(tasks: Mapping[str, Mapping[str, Any]]) -> Forest:
    """Alpha with its interval per task from a release's statistics `tasks`."""
    return forest((task, int(info.get("pairs", 0)), info.get("alpha", {})) for task, info in tasks.items())


@dataclass(frozen=True)
class DashboardCharts:
    alpha: Forest
    votes: Stack
    states: Stack


def dashboard_charts(report: Dashboard) -> DashboardCharts:
    def estimate(a: Any) -> dict[str, Any]:
        e = a.alpha
        return {"value": e.value, "low": e.low, "high": e.high, "note": e.note}

    alpha_rows = [(t.task, t.pairs, estimate(t.agreement)) for t in report.tasks]
    alpha_rows.append(("Overall", sum(t.pairs for t in report.tasks), estimate(report.overall)))
    votes = [(t.task, dict(zip(LABELS, t.vote_labels, strict=False))) for t in report.tasks]
    states = [(t.task, t.states) for t in report.tasks]
    return DashboardCharts(forest(alpha_rows), stack(votes, SEGMENT_KEYS), stack(states, STATE_KEYS))
