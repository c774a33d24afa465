"""What `dlcli diff` shows, laid out once for the terminal (dlcli/cli/diff_output.py) and the page
(dlcli/diff/html.py): the headline, each ranked layer in words, the heat map of the difference and the two loss
curves as dlcli.charts figures."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from dlcli.charts.canvas import Chart
from dlcli.charts.heatmap import HeatMap
from dlcli.diff.runs import METRICS, RunDiff, few
from dlcli.errors import unknown_name
from dlcli.runs import views as run_views
from dlcli.runs.views import Figure, short

HEAT_METRICS = ("all", *METRICS)
MEANING = {
    "all": "the largest difference of grad_norm, update_ratio, act_std and dead_frac",
    **{m: f"the difference of {m}" for m in METRICS},
}
BLANK = "blank: the runs agree there (within the tolerance), or not measured in both"
SCORE = "score: the largest |log10(B/A)| over the aligned steps, in decades (2: ×100); 0: the runs agree"


def check_metric(metric: str) -> str:
    if metric not in HEAT_METRICS:
        raise unknown_name("metric", metric, HEAT_METRICS)
    return metric


def side(report: Any) -> str:
    """One run in a line: its file, model, steps, status, loss and verdict."""
    f = {x.key: x.text for x in run_views.headline(report)}
    steps = f["steps"].replace(" (", " steps (", 1)
    return f"{report.run.path}: {f['run']}; {steps}; {f['status']}; loss {f['loss']}; {f['verdict']}"


def headline(diff: RunDiff) -> list[Figure]:
    """The two runs, what was aligned, what changed, and how many layers differ."""
    steps = diff.steps
    span = f"step {int(steps[0]):,}" if len(steps) == 1 else f"steps {int(steps[0]):,} to {int(steps[-1]):,}"
    figures = [Figure("a", "A", side(diff.a)), Figure("b", "B", side(diff.b)),
               Figure("aligned", "aligned", f"{_count(len(diff.modules), 'module')} × "
                                            f"{_count(len(steps), 'sampled step')} ({span})")]
    if diff.only_a or diff.only_b:
        parts = [f"only in {who}: {few(names, 4)}" for who, names in (("A", diff.only_a), ("B", diff.only_b)) if names]
        figures.append(Figure("unaligned", "unaligned", "; ".join(parts)))
    changes = [f"{c['key']} {_value(c['a'])} → {_value(c['b'])}" for c in diff.config]
    changes += [f"{s['name']} {short(s['a'])} → {short(s['b'])} from step {s['step']:,}" for s in diff.scalars]
    if changes:
        figures.append(Figure("changed", "changed", "; ".join(changes)))
    figures.append(Figure("loss", "loss", loss_text(diff)))
    n, total = len(diff.differing), len(diff.layers)
    if n:
        top = diff.layers[0]
        text = f"{n} of {total} layers differ; most: {top.name} ({layer_text(top)})"
    else:
        text = f"none: the runs agree on every layer and aligned step (tolerance {diff.tolerance:g} decades)"
    figures.append(Figure("differ", "differ", text))
    return figures


def loss_text(diff: RunDiff) -> str:
    ca, cb = diff.a.loss_curve(), diff.b.loss_curve()
    if ca is None or cb is None or not len(ca[0]) or not len(cb[0]):
        return "not recorded in " + ("either run" if (ca is None or not len(ca[0])) and
                                     (cb is None or not len(cb[0])) else "one run")
    final = f"last {short(ca[1][-1])} at step {int(ca[0][-1]):,} (A), {short(cb[1][-1])} at step {int(cb[0][-1]):,} (B)"
    if diff.loss_step is None:
        return f"the same at every step both recorded; {final}"
    return f"differs from step {diff.loss_step:,}; {final}"


def layer_text(layer: Any) -> str:
    """'update_ratio ×100 from step 1, largest at step 1: 0.001 vs 0.1' (B/A at the largest difference)."""
    top = layer.top
    if top is None:
        return "agrees"
    return (f"{layer.metric} {factor(top.a, top.b)} from step {top.step:,}, largest at step {top.peak_step:,}: "
            f"{short(top.a)} vs {short(top.b)}")


def factor(a: float | None, b: float | None) -> str:
    """B against A: '×100', '×0.01', or 'nan → 1' where a ratio says nothing."""
    if a is None or b is None:
        return ""
    if math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0:
        r = b / a
        return f"×{r:.3g}"
    return f"{short(a)} → {short(b)}"


def heat_map(diff: RunDiff, metric: str = "all", columns: int | None = None) -> HeatMap:
    """The difference (decades) of `metric`, modules × aligned steps; at most `columns` columns (neighbouring
    steps share one: their largest)."""
    values, steps, per = run_views.share_columns(diff.heat(check_metric(metric)), diff.steps, columns, True)
    x_label = "step" if per == 1 else f"step (each column {per} samples: their largest)"
    name = "difference" if metric == "all" else f"{metric} difference"
    return HeatMap(values, list(diff.modules), [str(int(s)) for s in steps],
                   title=f"{name}, |log10(B/A)| by module and step (log colour scale)", x_label=x_label)


def empty_note(hm: HeatMap) -> str | None:
    """Why the heat map has nothing to draw: the runs agree at every cell."""
    v = hm.values
    if not np.any(np.isfinite(v) & (v > 0)):
        return "nothing to draw: the runs agree at every aligned step"
    return None


def loss_chart(diff: RunDiff, points: int | None = None) -> Chart | None:
    """Both runs' loss curves on one set of axes (log scale where both would be); None where neither recorded it."""
    charts = [(who, run_views.loss_chart(rep, points)) for who, rep in (("A", diff.a), ("B", diff.b))]
    drawn = [(who, c, rep) for (who, c), rep in zip(charts, (diff.a, diff.b), strict=True) if c is not None]
    if not drawn:
        return None
    series = []
    for who, chart, rep in drawn:
        s = chart.series[0]
        series.append(type(s)(f"{who}: {os.path.basename(rep.run.path)}", s.x, s.y))
    log = all(c.log_y for _, c, _ in drawn)
    xs = np.concatenate([s.x for s in series])
    x_range = (float(xs.min()), float(xs.max())) if xs.max() > xs.min() else None
    return Chart(series, title="loss per step" + (" (log scale)" if log else ""), x_label="step", x_range=x_range,
                 log_y=log)


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _value(v: Any) -> str:
    if isinstance(v, float):
        return short(v)
    return "–" if v is None else str(v)
