"""Server-side SVG line charts of portfolio value, with a text alternative.

The page draws its chart on the server so it needs no chart library, no inline script and no
third-party code (the Content-Security-Policy allows only our own scripts). This module only
computes geometry; the template `_chart.html` turns it into SVG markup (Jinja escapes every
label). One chart per currency: values in different currencies never share an axis.

Points carry their source: "live" (the connector's snapshots) or daily history for days
without live data, "gateway" (Portfolio Analyst) or "flex" (a Flex statement). History points
get a marker of their own on the line, a legend entry and a column in the table, so the page
never passes a backfilled value off as a live one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from veracity_server.pages.formatting import money, short_datetime
from veracity_server.wide_decimals import with_wide_decimals

WIDTH = 640
HEIGHT = 260
MARGIN_LEFT = 72
MARGIN_RIGHT = 16
MARGIN_TOP = 16
MARGIN_BOTTOM = 36
# A browser draws a few hundred points per line without effort; beyond that the extra points
# cannot be told apart at this width, so thin them (the latest point is always kept).
MAX_POINTS_PER_SERIES = 240
MAX_TABLE_ROWS = 30
LIVE = "live"
SOURCE_LABELS = {LIVE: "Live", "gateway": "Gateway history", "flex": "Flex statement"}


@dataclass(frozen=True)
class Series:
    """One line: an account's value over time, in one currency."""

    label: str
    currency: str
    points: list[tuple[datetime, Decimal]]
    # Where each point comes from (by its moment); absent = live.
    sources: dict[datetime, str] = field(default_factory=dict)


@dataclass
class ChartGeometry:
    """Everything the template needs to draw one chart and describe it in words."""

    currency: str
    width: int = WIDTH
    height: int = HEIGHT
    lines: list[dict] = field(default_factory=list)
    y_ticks: list[dict] = field(default_factory=list)
    x_ticks: list[dict] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    table_rows: list[dict] = field(default_factory=list)
    table_total_points: int = 0
    # History points drawn as markers ({x, y, source}) and the sources the chart shows.
    markers: list[dict] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    plot_left: int = MARGIN_LEFT
    plot_right: int = WIDTH - MARGIN_RIGHT
    plot_top: int = MARGIN_TOP
    plot_bottom: int = HEIGHT - MARGIN_BOTTOM


def thin(points: list[tuple[datetime, Decimal]], limit: int) -> list[tuple[datetime, Decimal]]:
    """At most `limit` points, evenly spread, always keeping the first and the last."""
    if len(points) <= limit:
        return points
    step = (len(points) - 1) / (limit - 1)
    return [points[round(index * step)] for index in range(limit)]


def nice_step(span: Decimal, target_ticks: int = 4) -> Decimal:
    """A round tick step (1, 2 or 5 times a power of ten) giving about `target_ticks` ticks."""
    raw = span / target_ticks
    if raw <= 0:
        return Decimal(1)
    exponent = raw.adjusted()
    base = Decimal(10) ** exponent
    for multiple in (1, 2, 5, 10):
        if base * multiple >= raw:
            return base * multiple
    return base * 10


def value_axis(low: Decimal, high: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """Axis bounds and step covering [low, high], padded when the values are all equal."""
    if low == high:
        pad = abs(low) / 20 if low else Decimal(1)
        low, high = low - pad, high + pad
    step = nice_step(high - low)
    axis_low = (low / step).to_integral_value(rounding="ROUND_FLOOR") * step
    axis_high = (high / step).to_integral_value(rounding="ROUND_CEILING") * step
    return axis_low, axis_high, step


def series_summary(item: Series, currency: str) -> str:
    """One sentence describing a line: first and last value, low and high."""
    values = [value for _, value in item.points]
    first_moment, first_value = min(item.points)
    last_moment, last_value = max(item.points)
    if len(item.points) == 1:
        return (f"{item.label}: {money(first_value, currency)} on "
                f"{short_datetime(first_moment)} (one data point so far).")
    change = last_value - first_value
    direction = "up" if change > 0 else "down" if change < 0 else "unchanged"
    return (f"{item.label}: {money(first_value, currency)} on {short_datetime(first_moment)}, "
            f"{money(last_value, currency)} on {short_datetime(last_moment)} ({direction}"
            f"{'' if not change else ' ' + money(abs(change), currency)}); "
            f"low {money(min(values), currency)}, high {money(max(values), currency)}, "
            f"{len(item.points)} data points.")


@with_wide_decimals
def axis_money(value: Decimal, step: Decimal, largest: Decimal) -> str:
    """A short y-axis label (`3.4M`, `36.5k`, `250`) with just enough decimals to tell ticks
    apart; the full amounts are in the summary and the table."""
    unit, suffix = ((Decimal(1_000_000), "M") if largest >= 1_000_000 else
                    (Decimal(1_000), "k") if largest >= 10_000 else (Decimal(1), ""))
    decimals = max(0, -(step / unit).adjusted())
    scaled = (value / unit).quantize(Decimal(1).scaleb(-decimals))
    return f"{scaled:,f}{suffix}"


def axis_time(moment: datetime, span: timedelta) -> str:
    """An x-axis label, as short as the span allows: `14:05`, `24 Nov`, `Nov 2026`."""
    moment = moment.astimezone(UTC)
    if span <= timedelta(hours=36):
        return moment.strftime("%H:%M")
    if span <= timedelta(days=300):
        return moment.strftime("%-d %b")
    return moment.strftime("%b %Y")


def build_chart(currency: str, series: list[Series]) -> ChartGeometry:
    """Geometry and text alternative for the series of one currency."""
    chart = ChartGeometry(currency=currency)
    drawn = [(item, thin(sorted(item.points), MAX_POINTS_PER_SERIES))
             for item in series if item.points]
    if not drawn:
        return chart
    all_points = [point for _, points in drawn for point in points]
    start = min(moment for moment, _ in all_points)
    end = max(moment for moment, _ in all_points)
    axis_low, axis_high, step = value_axis(min(v for _, v in all_points),
                                           max(v for _, v in all_points))
    plot_width = chart.plot_right - chart.plot_left
    plot_height = chart.plot_bottom - chart.plot_top
    seconds = max((end - start).total_seconds(), 1.0)

    def x_of(moment: datetime) -> float:
        if start == end:
            return chart.plot_left + plot_width / 2
        return chart.plot_left + plot_width * (moment - start).total_seconds() / seconds

    def y_of(value: Decimal) -> float:
        share = float((value - axis_low) / (axis_high - axis_low))
        return chart.plot_bottom - plot_height * share

    for index, (item, points) in enumerate(drawn):
        coordinates = [(round(x_of(moment), 1), round(y_of(value), 1))
                       for moment, value in points]
        chart.lines.append({
            "label": item.label,
            "css_class": f"series-{index % 6}",
            "points": " ".join(f"{x},{y}" for x, y in coordinates),
            "last": coordinates[-1],
            "single": len(coordinates) == 1,
        })
        chart.summaries.append(series_summary(item, currency))
        for (moment, _), (x, y) in zip(points, coordinates, strict=True):
            source = item.sources.get(moment, LIVE)
            if source != LIVE:
                chart.markers.append({"x": x, "y": y, "source": source,
                                      "css_class": f"marker-{source}"})
    shown = {item.sources.get(moment, LIVE) for item in series for moment, _ in item.points}
    if shown - {LIVE}:
        chart.sources = [{"source": source, "label": SOURCE_LABELS[source],
                          "count": sum(1 for item in series for moment, _ in item.points
                                       if item.sources.get(moment, LIVE) == source)}
                         for source in SOURCE_LABELS if source in shown]
    largest = max(abs(axis_low), abs(axis_high))
    tick = axis_low
    while tick <= axis_high:
        chart.y_ticks.append({"y": round(y_of(tick), 1),
                              "label": axis_money(tick, step, largest)})
        tick += step
    tick_count = 1 if start == end else 3
    for index in range(tick_count):
        moment = start if tick_count == 1 else start + (end - start) * index / (tick_count - 1)
        anchor = ("middle" if tick_count == 1 else
                  ("start", "middle", "end")[index])
        chart.x_ticks.append({"x": round(x_of(moment), 1), "label": axis_time(moment, end - start),
                              "anchor": anchor})
    rows = sorted(((moment, item.label, value, item.sources.get(moment, LIVE))
                   for item in series for moment, value in item.points),
                  key=lambda row: row[0], reverse=True)
    chart.table_total_points = len(rows)
    chart.table_rows = [{"when": short_datetime(moment), "when_iso": moment.isoformat(),
                         "label": label, "value": money(value, currency), "source": source,
                         "source_label": SOURCE_LABELS.get(source, source)}
                        for moment, label, value, source in rows[:MAX_TABLE_ROWS]]
    return chart
