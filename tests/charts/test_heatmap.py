"""The heat-map renderer: one level per decade, distinct characters, blanks for what has no logarithm."""

from __future__ import annotations

import math

import numpy as np

from dlcli.charts import heatmap


def test_levels_are_whole_decades_and_non_positive_values_are_blank():
    values = np.array([[1e-9, 5e-9, 1e-8, 0.0, math.nan, 0.99]])
    lv, bounds = heatmap.levels(values)
    assert bounds == [10.0**e for e in range(-9, 0)]
    assert lv.tolist() == [[0, 0, 1, -1, -1, 8]]


def test_more_decades_than_characters_share_levels():
    lv, bounds = heatmap.levels(np.array([[1e-20, 1e-1]]))
    assert len(bounds) <= len(heatmap.LEVEL_CHARS) and bounds[0] == 1e-20
    assert lv.tolist() == [[0, len(bounds) - 1]]


def test_text_rows_use_distinct_characters_and_a_shared_span():
    a = heatmap.HeatMap(np.array([[1e-6, 1e-6], [1e-1, 1e-1]]), ["1 a", "2 b"], ["1", "2"], "t", "epoch")
    b = heatmap.HeatMap(np.array([[1e-2, 1e-2], [1e-1, 1e-1]]), ["1 a", "2 b"], ["1", "2"])
    span = heatmap.positive_span([a, b])
    assert span == (1e-6, 1e-1)
    text_a = heatmap.to_text(heatmap.draw(a, cell=2, span=span)).splitlines()
    text_b = heatmap.to_text(heatmap.draw(b, cell=2, span=span)).splitlines()
    assert text_a[1].endswith("│....") and text_a[2].endswith("│@@@@")
    assert text_b[0].endswith("│####")  # 1e-2 sits between them on the shared scale
    legend = text_a[-1]
    chars = [item.split(" ")[0] for item in legend.split("  ")]
    assert len(set(chars)) == len(chars) == 6 and "≥1e-6" in legend


def test_svg_has_a_cell_per_value_and_stacks():
    hm = heatmap.HeatMap(np.full((3, 4), 1e-3), ["1", "2", "3"], ["1", "2", "3", "4"], "t")
    svg = heatmap.to_svg(hm)
    assert svg.count("<title>") == 12
    both = heatmap.stack_svgs([svg, svg])
    assert both.count("<svg") == 3 and 'y="0"' in both
