"""Charts on the terminal: a canvas Drawing turned into Rich text, coloured per series or marked per series."""

from __future__ import annotations

import sys

from rich.text import Text

from dlcli.charts import canvas, heatmap
from dlcli.cli.render import colour_allowed, console
from dlcli.errors import InputError

HEAT_STYLES = ["blue", "blue", "cyan", "cyan", "green", "green", "yellow", "red", "bold red"]  # per level
PALETTE = ["cyan", "magenta", "yellow", "green", "red", "blue", "bright_white", "bright_black"]
MAX_SERIES = min(len(PALETTE), len(canvas.MARKERS))  # no colour or marker is ever used twice in one plot


def print_chart(chart: canvas.Chart, width: int, height: int) -> None:
    """Draw `chart` on stdout: braille in colour on a terminal; distinct markers when colour is off."""
    if len(chart.series) > MAX_SERIES:
        raise InputError(f"one chart draws at most {MAX_SERIES} curves, each with its own colour and marker "
                         f"(got {len(chart.series)})")
    colour = colour_allowed(sys.stdout)
    markers = not colour and len(chart.series) > 1
    drawing = canvas.draw(chart, width, height, markers=markers)
    out = console()
    legend = _legend_lines(drawing, out.width)
    if not colour:
        body = canvas.to_text(drawing).split("\n")
        body = body[:-1] if drawing.legend else body
        lines = body + ["   ".join(f"{canvas.MARKERS[i % len(canvas.MARKERS)] if drawing.markers else '──'} {label}"
                                   for label, i in line) for line in legend]
        out.file.write("\n".join(lines) + "\n")
        out.file.flush()
        return
    text = Text()
    for row in drawing.rows:
        for segment, who in row:
            text.append(segment, style=_style(who))
        text.append("\n")
    for k, line in enumerate(legend):
        if k:
            text.append("\n")
        for n, (label, i) in enumerate(line):
            text.append(("   " if n else "") + "── ", style=_style(i))
            text.append(label)
    out.print(text, no_wrap=True, crop=False)


def _legend_lines(drawing: canvas.Drawing, width: int) -> list[list[tuple[str, int]]]:
    """The legend's entries packed into lines of at most `width` (an entry is never split)."""
    lines: list[list[tuple[str, int]]] = []
    used = width
    for entry in drawing.legend:
        size = len(entry[0]) + 2
        if lines and used + 3 + size <= width:
            lines[-1].append(entry)
            used += 3 + size
        else:
            lines.append([entry])
            used = size
    return lines


def _style(who: int | None) -> str:
    if who is None:
        return ""
    if who == canvas.GRID:
        return "bright_black"
    if who in (canvas.AXIS, canvas.LABEL):
        return "dim" if who == canvas.AXIS else ""
    return PALETTE[who % len(PALETTE)]


def print_heat(drawing: heatmap.HeatDrawing) -> None:
    """Draw a heat map on stdout: its levels coloured on a terminal; its characters alone when colour is off."""
    colour = colour_allowed(sys.stdout)
    out = console()
    if not colour:
        out.file.write(heatmap.to_text(drawing) + "\n")
        out.file.flush()
        return
    text = Text()
    for row in drawing.rows:
        for segment, level in row:
            text.append(segment, style="" if level is None else HEAT_STYLES[level % len(HEAT_STYLES)])
        text.append("\n")
    for n, (ch, bound, level) in enumerate(drawing.legend):
        text.append(("  " if n else "") + ch, style=HEAT_STYLES[level % len(HEAT_STYLES)])
        text.append(f" ≥{bound}")
    out.print(text)
