"""A chart as a standalone SVG file: real vector curves, axes with ticks, a legend."""

from __future__ import annotations

import math
from html import escape

import numpy as np

from dlcli.charts.canvas import Chart, _finite_range, _y_values, nice_ticks, tick_label

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def to_svg(chart: Chart, width: int = 720, height: int = 440) -> str:
    left, right, top, bottom = 60, 20, 30 if chart.title else 14, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    ys = _y_values(chart)
    x_lo, x_hi = chart.x_range or _finite_range([np.asarray(s.x, float) for s in chart.series])
    y_lo, y_hi = _finite_range(ys)
    pad = 0.04 * (y_hi - y_lo)
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def sx(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def sy(y: float) -> float:
        return top + (y_hi - y) / (y_hi - y_lo) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    if chart.title:
        parts.append(f'<text x="{left}" y="18" font-size="14">{escape(chart.title)}</text>')
    for t in nice_ticks(y_lo, y_hi, 6):
        y = sy(t)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick_label(t, chart.log_y)}</text>')
    for t in nice_ticks(x_lo, x_hi, 7):
        x = sx(t)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#eee"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{tick_label(t)}</text>')
    if x_lo < 0 < x_hi:
        parts.append(f'<line x1="{sx(0):.1f}" y1="{top}" x2="{sx(0):.1f}" y2="{top + plot_h}" stroke="#999"/>')
    if not chart.log_y and y_lo < 0 < y_hi:
        parts.append(f'<line x1="{left}" y1="{sy(0):.1f}" x2="{left + plot_w}" y2="{sy(0):.1f}" stroke="#999"/>')
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>')
    for i, (s, y_values) in enumerate(zip(chart.series, ys, strict=True)):
        colour = COLOURS[i % len(COLOURS)]
        for run in _finite_runs(np.asarray(s.x, float), y_values):
            points = " ".join(f"{sx(a):.2f},{sy(min(max(b, y_lo), y_hi)):.2f}" for a, b in run)
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        ly = top + 16 + 16 * i
        parts.append(f'<line x1="{left + 10}" y1="{ly - 4}" x2="{left + 30}" y2="{ly - 4}" stroke="{colour}" '
                     'stroke-width="2"/>')
        parts.append(f'<text x="{left + 36}" y="{ly}">{escape(s.label)}</text>')
    if chart.x_label:
        parts.append(f'<text x="{left + plot_w / 2}" y="{height - 12}" text-anchor="middle">'
                     f'{escape(chart.x_label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _finite_runs(x: np.ndarray, y: np.ndarray) -> list[list[tuple[float, float]]]:
    runs: list[list[tuple[float, float]]] = [[]]
    for a, b in zip(x.tolist(), y.tolist(), strict=True):
        if math.isfinite(a) and math.isfinite(b):
            runs[-1].append((a, b))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]
