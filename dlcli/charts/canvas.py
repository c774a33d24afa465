"""Line charts as text: curves drawn in braille dots (2×4 per character cell), with axes and tick labels.

Pure layout: `draw(chart, width, height)` returns rows of (text, owner) segments, where owner is a series
index, AXIS, LABEL or None. The CLI turns owners into colours, or into distinct markers when there is no colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

AXIS = -1
LABEL = -2
GRID = -3
MARKERS = "*+xo#@%="
_BRAILLE_BASE = 0x2800
# dot bit for (column 0..1, row 0..3) inside one braille cell
_DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


@dataclass
class Series:
    label: str
    x: np.ndarray
    y: np.ndarray


@dataclass
class Chart:
    series: list[Series]
    title: str = ""
    x_label: str = ""
    y_label: str = ""
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    log_y: bool = False
    zero_lines: bool = True


@dataclass
class Drawing:
    """The chart laid out as text rows; each row is a list of (text, owner) segments."""

    rows: list[list[tuple[str, int | None]]] = field(default_factory=list)
    legend: list[tuple[str, int]] = field(default_factory=list)
    markers: bool = False


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 × 10^k apart) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + 1e-9 * step:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def tick_label(value: float, log: bool = False) -> str:
    if log:
        exponent = round(value)
        if abs(value - exponent) > 1e-9:  # a tick inside a decade: the value itself
            return f"{10.0 ** value:.2g}"
        return "1" if exponent == 0 else f"1e{exponent}"
    text = f"{value:.4g}"
    return "0" if text in ("-0", "0") else text


def _finite_range(values: list[np.ndarray]) -> tuple[float, float]:
    finite = [v[np.isfinite(v)] for v in values]
    finite = [v for v in finite if v.size]
    if not finite:
        return (0.0, 1.0)
    lo = min(float(v.min()) for v in finite)
    hi = max(float(v.max()) for v in finite)
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        pad = 0.5 if hi == 0 else abs(hi) * 0.1
        return (lo - pad, hi + pad)
    return (lo, hi)


def _y_values(chart: Chart) -> list[np.ndarray]:
    if not chart.log_y:
        return [np.asarray(s.y, dtype=float) for s in chart.series]
    out = []
    for s in chart.series:
        y = np.asarray(s.y, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan))
    return out


def draw(chart: Chart, width: int = 72, height: int = 20, markers: bool = False) -> Drawing:
    """Lay the chart out in `width` × `height` character cells for the plot area (labels come on top).

    markers=False draws braille dots (finest resolution); markers=True draws one marker character per
    cell and series, so several series stay distinguishable without colour.
    """
    width, height = max(width, 8), max(height, 4)
    ys = _y_values(chart)
    xs = [np.asarray(s.x, dtype=float) for s in chart.series]
    x_lo, x_hi = chart.x_range or _finite_range(xs)
    if chart.y_range is not None:
        y_lo, y_hi = (math.log10(v) for v in chart.y_range) if chart.log_y else chart.y_range
    else:
        y_lo, y_hi = _finite_range(ys)
        if not chart.log_y:
            pad = 0.04 * (y_hi - y_lo)
            y_lo, y_hi = y_lo - pad, y_hi + pad
    sub_x, sub_y = (1, 1) if markers else (2, 4)
    px_w, px_h = width * sub_x, height * sub_y

    def to_px(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(invalid="ignore", over="ignore"):
            col = (x - x_lo) / (x_hi - x_lo) * (px_w - 1)
            row = (y_hi - y) / (y_hi - y_lo) * (px_h - 1)
        return col, row

    bits = np.zeros((height, width), dtype=np.int32)
    owner = np.full((height, width), -99, dtype=np.int32)  # -99: empty cell

    def plot_pixels(cols: np.ndarray, rows: np.ndarray, who: int) -> None:
        ok = (cols >= 0) & (cols <= px_w - 1) & (rows >= 0) & (rows <= px_h - 1)
        c, r = cols[ok].astype(int), rows[ok].astype(int)
        cell_r, cell_c = r // sub_y, c // sub_x
        if markers:
            bits[cell_r, cell_c] = 1
        else:
            dot = np.array(_DOT_BITS)[c % 2, r % 4]
            np.bitwise_or.at(bits, (cell_r, cell_c), dot)
        if who == GRID:
            free = owner[cell_r, cell_c] == -99
            owner[cell_r[free], cell_c[free]] = GRID
        else:
            owner[cell_r, cell_c] = who

    if chart.zero_lines:
        if x_lo < 0 < x_hi:
            c0, _ = to_px(np.array([0.0]), np.array([0.0]))
            rows = np.arange(0, px_h, 2 if not markers else 1, dtype=float)
            plot_pixels(np.full(rows.shape, np.rint(c0[0])), rows, GRID)
        if not chart.log_y and y_lo < 0 < y_hi:
            _, r0 = to_px(np.array([0.0]), np.array([0.0]))
            cols = np.arange(0, px_w, 2 if not markers else 1, dtype=float)
            plot_pixels(cols, np.full(cols.shape, np.rint(r0[0])), GRID)

    for index, (x, y) in enumerate(zip(xs, ys, strict=True)):
        cols, rows = to_px(x, y)
        cols, rows = _connect(np.rint(cols), np.rint(rows), px_w, px_h)
        plot_pixels(cols, rows, index)

    return _layout(chart, bits, owner, (x_lo, x_hi), (y_lo, y_hi), markers)


def _connect(cols: np.ndarray, rows: np.ndarray, px_w: int, px_h: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of the polyline through the points, broken at non-finite points."""
    finite = np.isfinite(cols) & np.isfinite(rows)
    joined = finite[:-1] & finite[1:]
    c0, r0 = cols[:-1][joined], rows[:-1][joined]
    dc, dr = cols[1:][joined] - c0, rows[1:][joined] - r0
    steps = np.clip(np.maximum(np.abs(dc), np.abs(dr)), 1, 4 * (px_w + px_h)).astype(int)
    segment = np.repeat(np.arange(steps.size), steps)
    t = (np.arange(segment.size) - np.repeat(np.cumsum(steps) - steps, steps)) / np.repeat(steps, steps)
    out_c = np.concatenate([cols[finite], np.rint(c0[segment] + dc[segment] * t)])
    out_r = np.concatenate([rows[finite], np.rint(r0[segment] + dr[segment] * t)])
    return out_c, out_r


def _layout(chart: Chart, bits: np.ndarray, owner: np.ndarray, x_lim: tuple[float, float],
            y_lim: tuple[float, float], markers: bool) -> Drawing:
    height, width = bits.shape
    y_ticks = nice_ticks(y_lim[0], y_lim[1], count=max(2, min(6, height // 2)))
    decades = [t for t in y_ticks if abs(t - round(t)) < 1e-9]
    if chart.log_y and len(decades) >= 2:  # label whole powers of ten when there are two of them to show
        y_ticks = decades
    tick_rows: dict[int, str] = {}
    for t in y_ticks:
        row = round((y_lim[1] - t) / (y_lim[1] - y_lim[0]) * (height - 1))
        if 0 <= row < height:
            tick_rows.setdefault(row, tick_label(t, chart.log_y))
    margin = max((len(s) for s in tick_rows.values()), default=1)
    drawing = Drawing(markers=markers)
    if chart.title:
        drawing.rows.append([(" " * (margin + 1) + chart.title, LABEL)])
    if chart.y_label:
        drawing.rows.append([(chart.y_label.rjust(margin), LABEL)])
    for r in range(height):
        label = tick_rows.get(r, "")
        cells: list[tuple[str, int | None]] = [(label.rjust(margin), LABEL), ("┤" if label else "│", AXIS)]
        for c in range(width):
            who = int(owner[r, c])
            if who == -99:
                cells.append((" ", None))
            elif markers:
                cells.append(("." if who == GRID else MARKERS[who % len(MARKERS)], who))
            else:
                cells.append((chr(_BRAILLE_BASE + int(bits[r, c])), who))
        drawing.rows.append(merge_runs(cells))
    x_ticks = nice_ticks(x_lim[0], x_lim[1], count=max(2, min(7, width // 10)))
    axis = ["─"] * width
    labels = [" "] * (width + 12)
    for t in x_ticks:
        c = round((t - x_lim[0]) / (x_lim[1] - x_lim[0]) * (width - 1))
        if 0 <= c < width:
            axis[c] = "┬"
            text = tick_label(t)
            start = max(0, min(c - len(text) // 2, width + 12 - len(text)))
            if all(ch == " " for ch in labels[max(0, start - 1):start + len(text) + 1]):
                labels[start:start + len(text)] = list(text)
    drawing.rows.append([(" " * margin + "└" + "".join(axis), AXIS)])
    drawing.rows.append([(" " * (margin + 1) + "".join(labels).rstrip(), LABEL)])
    if chart.x_label:
        drawing.rows.append([(" " * (margin + 1) + chart.x_label.center(width).rstrip(), LABEL)])
    drawing.legend = [(s.label, i) for i, s in enumerate(chart.series)]
    return drawing


def merge_runs(row: list[tuple[str, int | None]]) -> list[tuple[str, int | None]]:
    """Neighbouring cells of one owner (series, or colour level) joined into one run of text."""
    merged: list[tuple[str, int | None]] = []
    for text, who in row:
        if merged and merged[-1][1] == who:
            merged[-1] = (merged[-1][0] + text, who)
        else:
            merged.append((text, who))
    return merged


def to_text(drawing: Drawing) -> str:
    """The drawing as plain text, legend last (markers name the series when there is no colour)."""
    lines = ["".join(text for text, _ in row).rstrip() for row in drawing.rows]
    if drawing.legend:
        key = "   ".join(
            (f"{MARKERS[i % len(MARKERS)]} {label}" if drawing.markers else f"── {label}")
            for label, i in drawing.legend
        )
        lines.append(key)
    return "\n".join(lines)
