"""Two recorded runs side by side: aligned by module name and sampled step, each layer scored by how far its health
(gradient norm, update ratio, activation scale, dead units) differs between them, ranked; the loss curves, the
configuration and recorded scalars that changed. The score is defined in docs/diff.md."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli.errors import InputError
from dlcli.runs.report import RunReport, report_run
from dlcli.runs.run import Run

METRICS = ("grad_norm", "update_ratio", "act_std", "dead_frac")   # what "health" is compared by
FRACTIONS = {"dead_frac"}  # compared as share + FRACTION_OFFSET: 0 → 10% counts as ×2, 0 → all as ×11
FRACTION_OFFSET = 0.1
FLOOR = 1e-6               # a magnitude under FLOOR × the step's largest (both runs, every module) counts as that
NONFINITE = 7.0            # NaN or ±inf in one run, a finite value in the other: above any finite pair (≤ 6)
TOLERANCE = 1e-3           # decades (0.23%): a difference at or under it is float noise, counted as none
UNCOMPARED = ("started", "argv")  # configuration keys that differ between any two runs (argv: the store names)


@dataclass(frozen=True)
class MetricDiff:
    """One metric of one layer: the largest difference (decades), the first step beyond the tolerance, the step of
    the largest, and both runs' values there."""

    score: float
    step: int | None
    peak_step: int | None
    a: float | None
    b: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "step": self.step, "peak_step": self.peak_step, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class LayerDiff:
    """A module of both runs: its score (the largest of its metrics'), the metric that differs most and from which
    step; every metric's own."""

    name: str
    type: str
    score: float
    metric: str | None
    metrics: dict[str, MetricDiff]

    @property
    def top(self) -> MetricDiff | None:
        return self.metrics[self.metric] if self.metric is not None else None

    def as_dict(self) -> dict[str, Any]:
        top = self.top
        return {"name": self.name, "type": self.type, "score": self.score, "metric": self.metric,
                "step": top.step if top else None, "peak_step": top.peak_step if top else None,
                "a": top.a if top else None, "b": top.b if top else None,
                "metrics": {m: d.as_dict() for m, d in self.metrics.items()}}


@dataclass
class RunDiff:
    a: RunReport
    b: RunReport
    tolerance: float
    modules: list[str]                     # common, in A's order
    steps: np.ndarray                      # the sampled steps both runs have, ascending
    cells: dict[str, np.ndarray]           # metric -> modules × steps, decades (0 within tolerance; NaN: unmeasured)
    layers: list[LayerDiff]                # ranked: largest score first, then A's order
    only_a: list[str]
    only_b: list[str]
    loss_step: int | None                  # the first recorded step whose losses differ beyond the tolerance
    scalars: list[dict[str, Any]]          # recorded scalars (learning rates, ...) that differ: name, step, a, b
    config: list[dict[str, Any]]           # configuration entries that differ: key, a, b

    @property
    def differing(self) -> list[LayerDiff]:
        return [x for x in self.layers if x.score > 0]

    def heat(self, metric: str = "all") -> np.ndarray:
        """modules × steps: the metric's difference, or with `all` each cell's largest over METRICS."""
        if metric != "all":
            return self.cells[metric]
        return np.fmax.reduce(np.stack([self.cells[m] for m in METRICS]), axis=0)

    def as_dict(self) -> dict[str, Any]:
        def side(rep: RunReport) -> dict[str, Any]:
            curve = rep.loss_curve()
            return {"path": rep.run.path, **rep.headline(),
                    "loss": None if curve is None else {"steps": curve[0].tolist(), "values": curve[1].tolist()}}

        return {
            "a": side(self.a), "b": side(self.b), "tolerance": self.tolerance, "metrics": list(METRICS),
            "steps": self.steps.tolist(), "modules": self.modules, "only_a": self.only_a, "only_b": self.only_b,
            "differing": len(self.differing), "layers": [x.as_dict() for x in self.layers],
            "loss_differs_from": self.loss_step, "scalars": self.scalars, "config": self.config,
            "cells": {m: [[None if math.isnan(v) else v for v in row] for row in self.cells[m].tolist()]
                      for m in METRICS},
        }

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        """One row per layer, ranked: its score, metric, steps, the two values, and every metric's score."""
        header = ["rank", "name", "type", "score", "metric", "step", "peak_step", "a", "b", *METRICS]
        rows = []
        for rank, x in enumerate(self.layers, start=1):
            d = x.as_dict()
            rows.append([rank, x.name, x.type, x.score, x.metric or "", d["step"], d["peak_step"], d["a"], d["b"],
                         *(x.metrics[m].score for m in METRICS)])
        return header, rows


def differences(metric: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per cell (steps × modules) the difference in decades between two runs' values of `metric`: |log10(a/b)|
    with magnitudes floored at FLOOR × the step's largest and fractions offset by
    FRACTION_OFFSET; NONFINITE where one value is finite and the other not (or NaN against ±inf)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if metric in FRACTIONS:
            fa, fb = a + FRACTION_OFFSET, b + FRACTION_OFFSET
        else:
            both = np.concatenate([np.abs(a), np.abs(b)], axis=1)
            largest = np.max(np.where(np.isfinite(both), both, 0.0), axis=1, initial=0.0, keepdims=True)
            floor = FLOOR * largest
            fa, fb = np.maximum(np.abs(a), floor), np.maximum(np.abs(b), floor)
        out = np.abs(np.log10(fa) - np.log10(fb))
        out = np.where((fa == 0) & (fb == 0), 0.0, out)   # a step where every value is zero
    fin_a, fin_b = np.isfinite(a), np.isfinite(b)
    same_kind = (np.isnan(a) & np.isnan(b)) | (np.isinf(a) & (a == b))
    out = np.where(fin_a & fin_b, out, np.where(same_kind, 0.0, NONFINITE))
    return out


def _measured(run: Run, metric: str, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, measured): steps × modules of `metric` (NaN where not measured, or measured NaN)."""
    at = np.ix_(rows, cols)
    known = run.known[metric][at]
    return np.where(known, run.values[metric][at], np.nan), known


def _metric_diff(d: np.ndarray, steps: np.ndarray, va: np.ndarray, vb: np.ndarray) -> MetricDiff:
    """One module's metric: `d` its differences over the aligned steps (0 within tolerance, NaN unmeasured)."""
    over = np.flatnonzero(d > 0)
    if not len(over):
        return MetricDiff(0.0, None, None, None, None)
    peak = int(over[np.argmax(d[over])])
    return MetricDiff(float(d[peak]), int(steps[over[0]]), int(steps[peak]), float(va[peak]), float(vb[peak]))


def diff_runs(a: RunReport, b: RunReport, tolerance: float = TOLERANCE) -> RunDiff:
    """The two runs aligned and compared; one clear line when they share no module or no sampled step."""
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise InputError(f"--tolerance must be zero or positive, got {tolerance:g}")
    ra, rb = a.run, b.run
    names_a, names_b = [m.name for m in ra.modules], [m.name for m in rb.modules]
    common = [n for n in names_a if n in set(names_b)]
    if not common:
        raise InputError(f"{ra.path} and {rb.path} share no module: different architectures "
                         f"({few(names_a)} vs {few(names_b)})")
    steps = np.intersect1d(ra.steps, rb.steps)
    if not len(steps):
        raise InputError(f"{ra.path} and {rb.path} share no sampled step ({_span(ra)} vs {_span(rb)}): "
                         "record both with the same every=")
    ia, ib = np.searchsorted(ra.steps, steps), np.searchsorted(rb.steps, steps)
    ja = np.array([names_a.index(n) for n in common], dtype=np.int64)
    jb = np.array([names_b.index(n) for n in common], dtype=np.int64)
    cells, per_metric = {}, {}
    for metric in METRICS:
        va, ka = _measured(ra, metric, ia, ja)
        vb, kb = _measured(rb, metric, ib, jb)
        d = differences(metric, va, vb)
        d = np.where(ka & kb, np.where(d > tolerance, d, 0.0), np.nan)
        cells[metric] = d.T
        per_metric[metric] = (va, vb)
    layers = []
    for j, name in enumerate(common):
        metrics = {m: _metric_diff(cells[m][j], steps, per_metric[m][0][:, j], per_metric[m][1][:, j])
                   for m in METRICS}
        top = min(METRICS, key=lambda m: (-metrics[m].score, metrics[m].step or 0))  # a tie: the earliest
        score = metrics[top].score
        layers.append(LayerDiff(name, ra.modules[int(ja[j])].type, score, top if score > 0 else None, metrics))
    order = sorted(range(len(layers)), key=lambda k: (-layers[k].score, k))
    return RunDiff(a, b, tolerance, common, steps, cells, [layers[k] for k in order],
                   [n for n in names_a if n not in set(common)], [n for n in names_b if n not in set(common)],
                   _loss_step(ra, rb, tolerance), _scalars(ra, rb, tolerance), _config(ra.config, rb.config))


def load_diff(path_a: str, path_b: str, tolerance: float = TOLERANCE) -> RunDiff:
    """The diff of the runs stored at `path_a` and `path_b`."""
    from dlcli.runs.run import load_run

    return diff_runs(report_run(load_run(path_a)), report_run(load_run(path_b)), tolerance)


def _apart(x: float, y: float, tolerance: float) -> bool:
    """Whether two recorded scalars differ by more than the tolerance, relatively (10**tolerance − 1)."""
    if not (math.isfinite(x) and math.isfinite(y)):
        return not (x == y or (math.isnan(x) and math.isnan(y)))
    return abs(x - y) > (10 ** tolerance - 1) * max(abs(x), abs(y))


def _first_apart(sa: tuple[np.ndarray, np.ndarray], sb: tuple[np.ndarray, np.ndarray],
                 tolerance: float) -> tuple[int, float, float] | None:
    """(step, a, b) of the first step both recorded where the two values differ, or None."""
    at_b = dict(zip(sb[0].tolist(), sb[1].tolist(), strict=True))
    for step, x in zip(sa[0].tolist(), sa[1].tolist(), strict=True):
        if step in at_b and _apart(x, at_b[step], tolerance):
            return int(step), float(x), float(at_b[step])
    return None


def _loss_step(ra: Run, rb: Run, tolerance: float) -> int | None:
    if "loss" not in ra.scalars or "loss" not in rb.scalars:
        return None
    found = _first_apart(ra.scalars["loss"], rb.scalars["loss"], tolerance)
    return None if found is None else found[0]


def _scalars(ra: Run, rb: Run, tolerance: float) -> list[dict[str, Any]]:
    out = []
    for name in sorted(set(ra.scalars) & set(rb.scalars) - {"loss"}):
        found = _first_apart(ra.scalars[name], rb.scalars[name], tolerance)
        if found is not None:
            out.append({"name": name, "step": found[0], "a": found[1], "b": found[2]})
    return out


def _flat(value: Any, key: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{key}.{k}" if key else str(k)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_flat(v, f"{key}.{i}"))
        return out
    return {key: value}


def _config(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """The configuration entries (flattened: param_groups.1.lr) that differ or exist in one run only."""
    fa, fb = _flat({k: v for k, v in a.items() if k not in UNCOMPARED}), \
        _flat({k: v for k, v in b.items() if k not in UNCOMPARED})
    keys = list(fa) + [k for k in fb if k not in fa]
    return [{"key": k, "a": fa.get(k), "b": fb.get(k)} for k in keys if fa.get(k) != fb.get(k)]


def few(names: list[str], shown: int = 3) -> str:
    """'a, b, c and 4 more'."""
    if not names:
        return "no module"
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _span(run: Run) -> str:
    s = run.steps
    if not len(s):
        return "no sampled step"
    every = run.config.get("every")
    return f"steps {int(s[0])} to {int(s[-1])}" + (f" every {every}" if every else "") if len(s) > 1 \
        else f"step {int(s[0])}"
