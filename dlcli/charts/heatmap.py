"""Heat maps (rows × columns of positive values) on a log colour scale: as text, one distinct character per
level (readable without colour), and as SVG; plus stacking several SVG pictures into one file."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from html import escape

import numpy as np

from dlcli.charts.canvas import merge_runs

LEVEL_CHARS = ".:-=+*#%@"   # lowest to highest; a blank cell is zero, NaN or not positive
_STEPS = [k * 10**e for e in range(7) for k in (1, 2, 5)]
SVG_COLOURS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"]


@dataclass
class HeatMap:
    values: np.ndarray            # (rows, columns), row 0 drawn at the top
    row_labels: list[str]
    column_labels: list[str]      # one per column; the text drawing labels a few of them
    title: str = ""
    x_label: str = ""


@dataclass
class HeatDrawing:
    """Rows of (text, level) segments (level None: labels, blanks); the legend maps characters to values."""

    rows: list[list[tuple[str, int | None]]] = field(default_factory=list)
    legend: list[tuple[str, str, int]] = field(default_factory=list)   # (character, lower bound, level)


def levels(values: np.ndarray, count: int = len(LEVEL_CHARS), span: tuple[float, float] | None = None,
           ) -> tuple[np.ndarray, list[float]]:
    """Each value's level 0..count−1 on a log scale over whole decades (−1: not positive or not finite), and the
    lower bound of every level. Up to `count` decades get one level each; more share levels evenly. `span`:
    the (smallest, largest) value the scale covers (several maps on one scale); default: these values'."""
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v) & (v > 0)
    if not ok.any():
        return np.full(v.shape, -1), [1.0]
    smallest, largest = span if span is not None else (float(v[ok].min()), float(v[ok].max()))
    lo = math.floor(math.log10(smallest))
    hi = math.floor(math.log10(largest)) + 1
    decades = max(hi - lo, 1)
    step = math.ceil(decades / count)
    n = max(math.ceil(decades / step), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lv = np.floor((np.log10(np.where(ok, v, 1.0)) - lo) / step).astype(int)
    lv = np.where(ok, np.clip(lv, 0, n - 1), -1)
    return lv, [10.0 ** (lo + step * i) for i in range(n)]


def _decade(x: float) -> str:
    e = round(math.log10(x))
    return "1" if e == 0 else f"1e{e}"


def positive_span(maps: list[HeatMap]) -> tuple[float, float] | None:
    """The smallest and largest positive finite value over several maps (to draw them on one scale)."""
    found = [m.values[np.isfinite(m.values) & (m.values > 0)] for m in maps]
    found = [f for f in found if f.size]
    if not found:
        return None
    return float(min(f.min() for f in found)), float(max(f.max() for f in found))


def draw(hm: HeatMap, cell: int = 2, span: tuple[float, float] | None = None) -> HeatDrawing:
    """One text row per heat-map row, `cell` characters per column; tick labels under the columns."""
    lv, bounds = levels(hm.values, span=span)
    chars = _chars(len(bounds))
    margin = max((len(r) for r in hm.row_labels), default=0)
    drawing = HeatDrawing()
    if hm.title:
        drawing.rows.append([(hm.title, None)])
    for label, row in zip(hm.row_labels, lv, strict=True):
        segments: list[tuple[str, int | None]] = [(label.rjust(margin) + " │", None)]
        for level in row:
            segments.append((chars[level] * cell if level >= 0 else " " * cell, int(level) if level >= 0 else None))
        drawing.rows.append(merge_runs(segments))
    columns = lv.shape[1] if lv.ndim == 2 else 0
    axis = " " * margin + " └" + "─" * (columns * cell)
    drawing.rows.append([(axis, None)])
    ticks = [" "] * (columns * cell + 8)
    width_needed = max((len(c) for c in hm.column_labels), default=1) + 1
    every = next(m for m in _STEPS if m * cell >= width_needed)
    shown = [c for c in range(columns) if (c + 1) % every == 0]
    if every > 2 or not shown:
        shown = [0, *shown]
    for c in shown:
        text = hm.column_labels[c]
        start = c * cell + (cell - 1) // 2
        if all(ch == " " for ch in ticks[max(0, start - 1):start + len(text) + 1]):
            ticks[start:start + len(text)] = list(text)
    drawing.rows.append([(" " * (margin + 2) + "".join(ticks).rstrip(), None)])
    if hm.x_label:
        drawing.rows.append([(" " * (margin + 2) + hm.x_label, None)])
    drawing.legend = [(chars[i], _decade(b), i) for i, b in enumerate(bounds)]
    return drawing


def _chars(n: int) -> str:
    """n distinct characters spread over LEVEL_CHARS, always ending on its densest one."""
    if n >= len(LEVEL_CHARS):
        return LEVEL_CHARS
    picks = np.round(np.linspace(0, len(LEVEL_CHARS) - 1, n)).astype(int) if n > 1 else [len(LEVEL_CHARS) - 1]
    return "".join(LEVEL_CHARS[i] for i in picks)


def legend_text(drawing: HeatDrawing) -> str:
    """'. ≥1e-9  : ≥1e-8 ...' — each character and the lower bound of its values."""
    return "  ".join(f"{ch} ≥{bound}" for ch, bound, _ in drawing.legend)


def to_text(drawing: HeatDrawing) -> str:
    lines = ["".join(t for t, _ in row).rstrip() for row in drawing.rows]
    return "\n".join([*lines, legend_text(drawing)])


def to_svg(hm: HeatMap, width: int = 720, row_height: int = 18, span: tuple[float, float] | None = None) -> str:
    """The heat map as a standalone SVG: coloured cells, row labels, a few column labels, a colour key."""
    lv, bounds = levels(hm.values, span=span)
    rows, columns = lv.shape
    left, top, right = 12 + 7 * max((len(r) for r in hm.row_labels), default=1), 30 if hm.title else 10, 20
    plot_w = width - left - right
    cw = plot_w / max(columns, 1)
    height = top + rows * row_height + 70
    colours = [SVG_COLOURS[round(i * (len(SVG_COLOURS) - 1) / max(len(bounds) - 1, 1))] for i in range(len(bounds))]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>']
    if hm.title:
        parts.append(f'<text x="{left}" y="18" font-size="14">{escape(hm.title)}</text>')
    for r in range(rows):
        y = top + r * row_height
        parts.append(f'<text x="{left - 6}" y="{y + row_height * 0.7:.1f}" text-anchor="end">'
                     f'{escape(hm.row_labels[r])}</text>')
        for c in range(columns):
            level = int(lv[r, c])
            fill = colours[level] if level >= 0 else "#ffffff"
            parts.append(f'<rect x="{left + c * cw:.2f}" y="{y}" width="{cw + 0.3:.2f}" height="{row_height}" '
                         f'fill="{fill}"><title>{hm.values[r, c]:.3g}</title></rect>')
    base = top + rows * row_height
    every = max(1, math.ceil(columns / 12))
    for c in range(0, columns, every):
        parts.append(f'<text x="{left + (c + 0.5) * cw:.1f}" y="{base + 14}" text-anchor="middle">'
                     f'{escape(hm.column_labels[c])}</text>')
    if hm.x_label:
        parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{base + 30}" text-anchor="middle">'
                     f'{escape(hm.x_label)}</text>')
    for i, b in enumerate(bounds):
        x = left + i * 64
        parts.append(f'<rect x="{x}" y="{base + 42}" width="14" height="14" fill="{colours[i]}"/>')
        parts.append(f'<text x="{x + 18}" y="{base + 54}">≥{_decade(b)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


_SIZE = re.compile(r'<svg [^>]*width="(\d+)" height="(\d+)"')


def stack_svgs(documents: list[str]) -> str:
    """Several standalone SVG pictures one above the other in one SVG document."""
    y, width, parts = 0, 0, []
    for doc in documents:
        match = _SIZE.search(doc)
        w, h = (int(match.group(1)), int(match.group(2))) if match else (720, 440)
        body = doc.replace("<svg ", f'<svg x="0" y="{y}" ', 1)
        parts.append(body)
        y += h
        width = max(width, w)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" viewBox="0 0 {width} {y}">\n'
            + "".join(parts) + "</svg>\n")
