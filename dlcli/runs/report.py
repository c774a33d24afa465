"""What `dlcli report` says of a recorded run: its headline, ranked findings tied to layers and steps, heat maps
of layers × steps, the loss curve; the JSON, CSV and HTML are built here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli.runs.analysis import Finding, find
from dlcli.runs.run import Run, load_run
from dlcli.runs.store import METRICS

BLOCK_ABOVE = 16   # modules: above this many, heat maps show blocks unless asked for modules
SUM_SQUARES = {"grad_norm", "weight_norm"}            # a block's value: √Σ of its modules' squares
MAXIMUM = {"act_absmax", "dead_frac", "saturated_frac"}  # a block's value: its largest


@dataclass(frozen=True)
class Heat:
    """One metric over layers × sampled steps: `values[i, k]` of `labels[i]` at `steps[k]` (NaN: not measured)."""

    metric: str
    by: str                 # module or block
    labels: list[str]
    steps: np.ndarray
    values: np.ndarray


@dataclass
class RunReport:
    run: Run
    verdict: str
    findings: list[Finding]
    nonfinite: dict[str, Any] | None

    def loss_curve(self) -> tuple[np.ndarray, np.ndarray] | None:
        return self.run.scalars.get("loss")

    def headline(self) -> dict[str, Any]:
        cfg, run = self.run.config, self.run
        curve = self.loss_curve()
        return {
            "model": cfg.get("model"), "parameters": cfg.get("parameters"), "optimizer": cfg.get("optimizer"),
            "status": run.status, "steps": run.last_step, "sampled": len(run.steps), "every": cfg.get("every"),
            "first_loss": float(curve[1][0]) if curve is not None and len(curve[1]) else None,
            "final_loss": float(curve[1][-1]) if curve is not None and len(curve[1]) else None,
            "verdict": self.verdict, "alarms": sum(f.severity == "alarm" for f in self.findings),
            "world_size": cfg.get("world_size", 1),
        }

    def heat(self, metric: str, by: str = "auto") -> Heat:
        """The heat map of `metric`; `by` module, block, or auto (blocks above BLOCK_ABOVE modules)."""
        run = self.run
        values = run.values[metric].T.copy()
        if by == "auto":
            by = "block" if len(run.modules) > BLOCK_ABOVE and len({m.block for m in run.modules}) < len(
                run.modules) else "module"
        if by == "module":
            return Heat(metric, by, [m.name for m in run.modules], run.steps, values)
        blocks: dict[str, list[int]] = {}
        for j, m in enumerate(run.modules):
            blocks.setdefault(m.block, []).append(j)
        rows = [_block_value(metric, run, idx) for idx in blocks.values()]
        return Heat(metric, by, list(blocks), run.steps, np.array(rows).reshape(len(rows), len(run.steps)))

    def steps_dicts(self) -> list[dict[str, Any]]:
        run = self.run
        loss = dict(zip(*map(list, run.scalars["loss"]), strict=True)) if "loss" in run.scalars else {}
        lrs = {n: dict(zip(*map(list, v), strict=True)) for n, v in run.scalars.items() if n.split("/")[0] == "lr"}
        out = []
        for i, step in enumerate(run.steps.tolist()):
            layers = []
            for j, m in enumerate(run.modules):
                row: dict[str, Any] = {"name": m.name}
                for metric in METRICS:
                    row[metric] = float(run.values[metric][i, j]) if run.known[metric][i, j] else None
                layers.append(row)
            out.append({"step": step, "loss": loss.get(step), **{n: v.get(step) for n, v in lrs.items()},
                         "verdict": run.verdicts.get(step), "layers": layers})
        return out

    def as_dict(self) -> dict[str, Any]:
        run = self.run
        curve = self.loss_curve()
        return {
            "path": run.path, "status": run.status, "config": run.config, "headline": self.headline(),
            "verdict": self.verdict, "nonfinite": self.nonfinite,
            "findings": [f.as_dict() for f in self.findings],
            "modules": [{"name": m.name, "type": m.type, "block": m.block, "parameters": m.parameters,
                         "activation": m.activation} for m in run.modules],
            "loss": None if curve is None else {"steps": curve[0].tolist(), "values": curve[1].tolist()},
            "steps": self.steps_dicts(),
        }

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        """One row per sampled step and module: step, loss, module and every metric."""
        header = ["step", "loss", "module", *METRICS]
        rows = []
        for s in self.steps_dicts():
            for layer in s["layers"]:
                rows.append([s["step"], s["loss"], layer["name"], *(layer[m] for m in METRICS)])
        return header, rows

    def html(self) -> str:
        """One self-contained page: inline SVG and CSS, nothing fetched."""
        from dlcli.runs.html import page

        return page(self)

    def html_fragment(self) -> str:
        from dlcli.runs.html import fragment

        return fragment(self)

    def _repr_html_(self) -> str:
        return self.html_fragment()


def _block_value(metric: str, run: Run, idx: list[int]) -> np.ndarray:
    vals = run.values[metric][:, idx]
    known = run.known[metric][:, idx]
    out = np.full(len(run.steps), np.nan)
    for i in range(len(run.steps)):
        v = vals[i][known[i]]
        if not len(v):
            continue
        if metric in SUM_SQUARES:
            out[i] = math.sqrt(float(np.sum(v * v)))
        elif metric in MAXIMUM:
            out[i] = float(np.max(v))
        elif metric == "update_ratio":  # ‖ΔW_block‖ / ‖W_block‖ from each module's ratio and weight norm
            w = run.values["weight_norm"][i, idx][known[i]]
            out[i] = math.sqrt(float(np.sum((v * w) ** 2))) / math.sqrt(float(np.sum(w * w))) if np.any(w) else np.nan
        else:
            out[i] = float(np.mean(v))
    return out


def report_run(run: Run) -> RunReport:
    """The report of a run read from its store."""
    verdict, findings, nonfinite = find(run)
    return RunReport(run, verdict, findings, nonfinite)


def load_report(path: str) -> RunReport:
    """The report of the run stored at `path`."""
    return report_run(load_run(path))
