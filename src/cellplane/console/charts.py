"""Bar charts drawn on the server as inline SVG: no chart library, no script, readable without one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # for the bar's <title> (a tooltip, and what a screen reader reads)


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    peak_label: str
    first_label: str
    last_label: str
    summary: str  # the chart in one sentence, for its aria-label


def daily_bars(days: Sequence[tuple[date, int, int]], fmt: object, width: int = 600, height: int = 140) -> BarChart:
    """One bar per day of up + down bytes, scaled to the busiest day."""
    size = fmt if callable(fmt) else str
    totals = [(day, up + down) for day, up, down in days]
    peak = max((total for _, total in totals), default=0)
    plot = height - 20
    step = width / max(len(totals), 1)
    bars = []
    for index, (day, total) in enumerate(totals):
        bar_height = (total / peak * plot) if peak else 0
        bars.append(
            Bar(
                x=round(index * step + 1, 1),
                y=round(plot - bar_height, 1),
                width=round(max(step - 2, 1), 1),
                height=round(bar_height, 1),
                label=f"{day.isoformat()}: {size(total)}",
            )
        )
    total = sum(t for _, t in totals)
    first = totals[0][0].isoformat() if totals else ""
    last = totals[-1][0].isoformat() if totals else ""
    return BarChart(
        width=width,
        height=height,
        bars=bars,
        peak_label=size(peak),
        first_label=first,
        last_label=last,
        summary=f"Data used per day from {first or 'no day'} to {last or 'no day'}: {size(total)} in all",
    )
