"""What `dlcli report` shows, laid out once for every medium: the headline's figures, where each finding is, the
heat maps and the loss curve as dlcli.charts figures. The terminal (dlcli/cli/report.py) and the HTML page
(dlcli/runs/html.py) draw these; neither computes a figure of its own."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli.charts.canvas import Chart, Series
from dlcli.charts.heatmap import HeatMap
from dlcli.errors import InputError, unknown_name
from dlcli.runs.store import METRICS

MAIN_METRICS = ("grad_norm", "update_ratio", "act_std", "dead_frac")   # the page's heat maps
BYS = ("auto", "module", "block")
SIGNED = {"act_mean"}                                     # drawn as |value|: the colour scale is logarithmic
LARGEST = {"act_absmax", "dead_frac", "saturated_frac"}   # samples sharing a column: their largest, else the mean
MEANING = {
    "grad_norm": "‖∂L/∂W‖, the norm of the gradient of each module's weights",
    "weight_norm": "‖W‖, the norm of each module's weights",
    "update_ratio": "‖ΔW‖/‖W‖, how far the step moved each module's weights",
    "grad_rms": "the RMS of the entries of ∂L/∂W",
    "act_mean": "|mean| of each module's activations",
    "act_std": "the standard deviation of each module's activations",
    "act_absmax": "the largest |activation| of each module",
    "dead_frac": "the share of each module's units that are dead (no gradient passes them)",
    "saturated_frac": "the share of unit-samples where a smooth activation is saturated",
}
BLANK = "blank: zero, not measured or not finite"
STALE_AFTER = 60.0   # seconds without a write after which a run still marked running may have died


@dataclass(frozen=True)
class Figure:
    """One line of the headline: `key` (steps, loss, verdict, ...), its label and its text."""

    key: str
    label: str
    text: str


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise unknown_name("metric", metric, METRICS)
    return metric


def check_by(by: str) -> str:
    if by not in BYS:
        raise InputError(f"by must be one of {', '.join(BYS)} (got {by!r})")
    return by


def short(x: float | None, digits: int = 4) -> str:
    """A number for people: `digits` significant digits; 'nan', 'inf'; '–' for none."""
    if x is None:
        return "–"
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = f"{x:.{digits}g}"
    return "0" if text in ("-0", "0") else text


def status_text(report: Any, idle: float | None = None) -> str:
    """'finished', or what became of a run that did not finish (still running, interrupted, failed)."""
    status, step = report.run.status, report.run.last_step
    if status == "finished":
        return "finished"
    if status == "running":
        text = f"still running: step {step:,} so far" if step else "still running: no step recorded yet"
        if idle is not None and idle >= STALE_AFTER:
            text += f" (nothing written for {_duration(idle)}: the process may have died)"
        return text
    if status == "interrupted":
        return f"interrupted at step {step:,} (Ctrl-C): the run did not finish"
    if status == "failed":
        return f"failed at step {step:,} (an exception ended it): the run did not finish"
    return f"{status} at step {step:,}: the run did not finish"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def headline(report: Any, idle: float | None = None) -> list[Figure]:
    """The run in a few lines: what trained, how many steps, how it ended, the loss, the verdict."""
    h = report.headline()
    what = [str(h["model"] or "a model")]
    if h["parameters"] is not None:
        what.append(f"{h['parameters']:,} parameters")
    what.append(str(h["optimizer"]) if h["optimizer"] else "no optimizer (w.step())")
    if (h.get("world_size") or 1) > 1:
        layouts = set((report.run.config.get("parallelism") or {}).values())
        kind = "sharded" if any(t.startswith(("Shard", "_Shard")) for t in layouts) else "replicated"
        what.append(f"{h['world_size']} ranks ({kind}; rank 0's loss)")
    sampled = f"{h['sampled']} sampled" + (f", every {h['every']}" if h["every"] else "")
    figures = [Figure("run", "run", ", ".join(what)),
               Figure("steps", "steps", f"{h['steps']:,} ({sampled})"),
               Figure("status", "status", status_text(report, idle))]
    curve = report.loss_curve()
    if curve is not None and len(curve[0]):
        steps, loss = curve
        figures.append(Figure("loss", "loss", f"{short(loss[0])} at step {int(steps[0]):,} → {short(loss[-1])} at "
                                              f"step {int(steps[-1]):,}" if len(steps) > 1 else
                              f"{short(loss[0])} at step {int(steps[0]):,}"))
    else:
        figures.append(Figure("loss", "loss", no_loss(report)))
    alarms = sum(f.severity == "alarm" for f in report.findings)
    notes = len(report.findings) - alarms
    counts = [f"{n} {word}{'' if n == 1 else 's'}" for n, word in ((alarms, "alarm"), (notes, "note")) if n]
    figures.append(Figure("verdict", "verdict", report.verdict + (f" ({', '.join(counts)})" if counts else "")))
    return figures


def no_loss(report: Any) -> str:
    """Why there is no loss curve."""
    if report.run.status == "running":
        return "none in the store yet (what w.record(...) records is written at each sampled step)"
    return "not recorded (w.record(loss=loss) in the loop records it)"


def where(finding: Any, shown: int = 3) -> str:
    """'step 12 · fc1, fc2': the step a finding holds from and the modules it names."""
    parts = [] if finding.step is None else [f"step {finding.step:,}"]
    modules = list(finding.modules)
    if modules:
        more = f" and {len(modules) - shown} more" if len(modules) > shown else ""
        parts.append(", ".join(modules[:shown]) + more)
    return " · ".join(parts)


def heat_map(report: Any, metric: str, by: str = "auto", columns: int | None = None) -> HeatMap:
    """The heat map of `metric`, modules (or blocks) × sampled steps; at most `columns` columns (neighbouring
    samples share one: their largest value for fractions and maxima, else their mean)."""
    heat = report.heat(check_metric(metric), check_by(by))
    values = np.abs(heat.values) if metric in SIGNED else np.asarray(heat.values, dtype=float)
    values, steps, per = share_columns(values, np.asarray(heat.steps), columns, metric in LARGEST)
    name = f"|{metric}|" if metric in SIGNED else metric
    x_label = "step" if per == 1 else \
        f"step (each column {per} samples: their {'largest' if metric in LARGEST else 'mean'})"
    return HeatMap(values, list(heat.labels), [str(int(s)) for s in steps],
                   title=f"{name} by {heat.by} and step (log colour scale)", x_label=x_label)


def share_columns(values: np.ndarray, steps: np.ndarray, columns: int | None, largest: bool,
                  ) -> tuple[np.ndarray, np.ndarray, int]:
    """(values, steps, samples per column): rows × steps fitted to at most `columns` columns, neighbouring samples
    sharing one (their largest, or their mean); each column labelled by its first step."""
    if columns is None or not len(steps) > columns >= 1:
        return values, steps, 1
    per = math.ceil(len(steps) / columns)
    values = np.stack([_reduce(values[:, k:k + per], largest) for k in range(0, len(steps), per)],
                      axis=1) if len(values) else values[:, ::per]
    return values, steps[::per], per


def _reduce(chunk: np.ndarray, largest: bool) -> np.ndarray:
    """Per row, the largest or the mean of the finite values of `chunk` (NaN where it has none)."""
    ok = np.isfinite(chunk)
    count = ok.sum(axis=1)
    if largest:
        out = np.where(ok, chunk, -np.inf).max(axis=1)
    else:
        out = np.where(ok, chunk, 0.0).sum(axis=1) / np.maximum(count, 1)
    return np.where(count > 0, out, np.nan)


def empty_note(hm: HeatMap, metric: str) -> str | None:
    """Why a heat map has nothing to draw (no sampled step, no module, no value above zero), or None."""
    if hm.values.size == 0:
        return "no sampled step yet" if not hm.column_labels else "no module with parameters"
    v = hm.values
    if not np.any(np.isfinite(v) & (v > 0)):
        return f"no value of {metric} above zero to draw (all zero, not measured or not finite)"
    return None


def loss_chart(report: Any, points: int | None = None) -> Chart | None:
    """The recorded loss per step (log scale when positive over more than a decade); at most `points` points, a
    bin's lowest and highest kept so that spikes stay. None when no loss was recorded."""
    curve = report.loss_curve()
    if curve is None or not len(curve[0]):
        return None
    x, y = np.asarray(curve[0], dtype=float), np.asarray(curve[1], dtype=float)
    if points is not None and len(x) > points:
        keep = _envelope(y, points)
        x, y = x[keep], y[keep]
    finite = y[np.isfinite(y)]
    log = bool(finite.size) and bool(np.all(finite > 0)) and float(finite.max()) >= 10 * float(finite.min())
    x_range = (float(x[0]), float(x[-1])) if x[-1] > x[0] else None
    return Chart([Series("loss", x, y)], title="loss per step" + (" (log scale)" if log else ""), x_label="step",
                 x_range=x_range, log_y=log)


def _envelope(y: np.ndarray, points: int) -> np.ndarray:
    """Indices of the lowest and highest finite value of each of `points // 2` bins (and a bin's first non-finite
    value, which breaks the curve where the loss did), in order."""
    keep: list[int] = []
    for b in np.array_split(np.arange(len(y)), max(1, points // 2)):
        yb = y[b]
        ok = np.isfinite(yb)
        picks = set()
        if ok.any():
            picks |= {int(b[np.argmin(np.where(ok, yb, np.inf))]), int(b[np.argmax(np.where(ok, yb, -np.inf))])}
        if not ok.all():
            picks.add(int(b[np.argmin(ok)]))
        keep += sorted(picks)
    return np.array(keep, dtype=np.int64)
