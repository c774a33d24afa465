"""The braille chart renderer: ticks, dot placement, markers, log scale."""

from __future__ import annotations

import numpy as np

from dlcli.charts import canvas


def test_nice_ticks():
    assert canvas.nice_ticks(-5, 5) == [-5.0, -2.5, 0.0, 2.5, 5.0]
    assert canvas.nice_ticks(0, 1, 6) == [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
    assert canvas.nice_ticks(-0.3, 0.7, 3) == [0.0, 0.5]


def _plot_rows(drawing):
    """The plot-area characters of each row (after the tick-label margin and the axis character)."""
    rows = []
    for row in drawing.rows:
        text = "".join(t for t, _ in row)
        if "│" in text or "┤" in text:
            rows.append(text.split("│" if "│" in text else "┤", 1)[1])
    return rows


def test_diagonal_line_runs_corner_to_corner_in_braille():
    x = np.linspace(0, 1, 50)
    chart = canvas.Chart([canvas.Series("y=x", x, x)], x_range=(0, 1), y_range=(0, 1), zero_lines=False)
    rows = _plot_rows(canvas.draw(chart, width=10, height=5))
    assert len(rows) == 5 and all(len(r) == 10 for r in rows)
    # bottom-left cell holds the lowest-left dot (bit 0x40), top-right cell the highest-right dot (bit 0x08)
    assert (ord(rows[-1][0]) - 0x2800) & 0x40
    assert (ord(rows[0][-1]) - 0x2800) & 0x08
    assert rows[0][0] == " " and rows[-1][-1] == " "


def test_markers_distinguish_series_without_colour():
    x = np.linspace(-1, 1, 100)
    chart = canvas.Chart([canvas.Series("up", x, x), canvas.Series("down", x, -x)], zero_lines=False)
    drawing = canvas.draw(chart, width=20, height=8, markers=True)
    text = canvas.to_text(drawing)
    assert "*" in text and "+" in text
    assert text.splitlines()[-1] == "* up   + down"


def test_log_axis_labels_powers_of_ten():
    layers = np.arange(1, 21)
    chart = canvas.Chart([canvas.Series("grad", layers, 10.0 ** -layers)], log_y=True)
    text = canvas.to_text(canvas.draw(chart, width=40, height=10))
    assert "1e-5" in text and "1e-15" in text


def test_nan_breaks_the_line():
    x = np.arange(10.0)
    y = x.copy()
    y[5] = np.nan
    cols, rows = canvas._connect(x, y, 100, 100)
    assert 5.0 not in cols
