"""Two checkpoints of one architecture (`dlcli diff --model NET --weights A --weights B`): per layer how far the
weights moved, ‖W_B − W_A‖ / ‖W_A‖, and the gradient flow of each checkpoint on the same batch (‖∂L/∂W‖ under
each, their ratio), read by the same pass as `vanish --model`; layers ranked as `dlcli diff` ranks runs."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from dlcli.diff.runs import NONFINITE, TOLERANCE, differences

if TYPE_CHECKING:
    from dlcli.probe.report import ModuleResult
    from dlcli.probe.run import ModelOptions

METRICS = ("weight_change", "grad_norm")


@dataclass(frozen=True)
class WeightLayer:
    """One module: its weights' relative change, its weight gradient under each checkpoint, and the score."""

    name: str
    type: str
    weight_norm_a: float
    weight_norm_b: float
    weight_change: float | None       # ‖W_B − W_A‖ / ‖W_A‖ (None where ‖W_A‖ = 0)
    grad_norm_a: float | None         # ‖∂L/∂W‖ (None: frozen, tied, unused)
    grad_norm_b: float | None
    scores: dict[str, float]
    gradient_a: str = "ok"
    gradient_b: str = "ok"

    @property
    def score(self) -> float:
        return max(self.scores.values())

    @property
    def metric(self) -> str | None:
        return max(METRICS, key=self.scores.__getitem__) if self.score > 0 else None

    @property
    def grad_ratio(self) -> float | None:
        a, b = self.grad_norm_a, self.grad_norm_b
        return b / a if a is not None and b is not None and a > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "score": self.score, "metric": self.metric, "step": None,
                "weight_change": self.weight_change, "weight_norm_a": self.weight_norm_a,
                "weight_norm_b": self.weight_norm_b, "grad_norm_a": self.grad_norm_a, "grad_norm_b": self.grad_norm_b,
                "grad_ratio": self.grad_ratio, "gradient_a": self.gradient_a, "gradient_b": self.gradient_b,
                "scores": dict(self.scores)}


@dataclass
class WeightsDiff:
    a: ModuleResult
    b: ModuleResult
    paths: tuple[str, str]
    tolerance: float
    layers: list[WeightLayer]       # ranked: largest score first, then the model's order

    @property
    def differing(self) -> list[WeightLayer]:
        return [x for x in self.layers if x.score > 0]

    def as_dict(self) -> dict[str, Any]:
        def side(r: ModuleResult, path: str) -> dict[str, Any]:
            return {"weights": path, "verdict": r.verdict, "gradient_ratio": r.gradient_ratio}

        c = self.a.config
        return {"model": c.model, "config": {"data": c.data, "input_shape": list(c.input_shape), "batch": c.batch,
                                             "loss": c.loss, "output": c.output, "dtype": c.dtype,
                                             "device": c.device, "mode": c.mode, "seed": c.seed},
                "a": side(self.a, self.paths[0]), "b": side(self.b, self.paths[1]), "tolerance": self.tolerance,
                "metrics": list(METRICS), "differing": len(self.differing),
                "layers": [x.as_dict() for x in self.layers]}

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        header = ["rank", "name", "type", "score", "metric", "weight_change", "weight_norm_a", "weight_norm_b",
                  "grad_norm_a", "grad_norm_b", "grad_ratio"]
        return header, [[rank, x.name, x.type, x.score, x.metric or "", x.weight_change, x.weight_norm_a,
                         x.weight_norm_b, x.grad_norm_a, x.grad_norm_b, x.grad_ratio]
                        for rank, x in enumerate(self.layers, start=1)]


def weight_changes(torch: Any, model_a: Any, model_b: Any) -> dict[str, tuple[float, float, float | None]]:
    """Per module with parameters: (‖W_A‖, ‖W_B‖, ‖W_B − W_A‖ / ‖W_A‖) over its weight tensors, in float64."""
    from dlcli.probe.kinds import owner_modules, row_weights

    modules_b = dict(owner_modules(model_b))
    out = {}
    with torch.no_grad():
        for name, mod in owner_modules(model_a):
            wa = [w.detach().to(torch.float64) for w in row_weights(mod)]
            wb = [w.detach().to(torch.float64) for w in row_weights(modules_b[name])]
            na = math.sqrt(sum(float((w * w).sum()) for w in wa))
            nb = math.sqrt(sum(float((w * w).sum()) for w in wb))
            delta = math.sqrt(sum(float(((y - x) ** 2).sum()) for x, y in zip(wa, wb, strict=True)))
            out[name] = (na, nb, delta / na if na > 0 else (None if delta > 0 else 0.0))
    return out


def diff_weights(opts: ModelOptions, path_a: str, path_b: str, tolerance: float = TOLERANCE, progress: Any = None,
                 say: Callable[[str], None] | None = None) -> WeightsDiff:
    """Load NET with each checkpoint, read one pass of each on the same batch (the same dropout masks), compare;
    the user's code runs in its place (loader.user_code: its prints on stderr, its warnings marked)."""
    from dlcli.probe.loader import user_code

    with user_code():
        return _diff_weights(opts, path_a, path_b, tolerance, progress, say)


def _diff_weights(opts: ModelOptions, path_a: str, path_b: str, tolerance: float, progress: Any,
                  say: Callable[[str], None] | None) -> WeightsDiff:
    import torch

    from dlcli.errors import InputError
    from dlcli.probe.loader import load_weights
    from dlcli.probe.report import analyse_module
    from dlcli.probe.run import prepare_model
    from dlcli.vanish.memory import check_memory

    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise InputError(f"--tolerance must be zero or positive, got {tolerance:g}")
    if opts.init not in (None, "keep"):
        raise InputError("diff --weights compares the checkpoints as they are: leave out --init")
    prepared = prepare_model(replace(opts, weights=path_a), say)
    model_a = prepared.model
    check_memory(None, need=2 * sum(p.numel() * p.element_size() for p in model_a.parameters()),
                 advice="lower --batch")   # the second checkpoint's weights and gradients
    model_b = copy.deepcopy(model_a)
    load_weights(model_b, path_b)
    results = []
    for model in (model_a, model_b):
        torch.manual_seed(prepared.seed)   # dropout draws the same masks under both checkpoints
        results.append(analyse_module(model, prepared.batch, None, prepared.loss, seed=prepared.seed,
                                      eval_mode=opts.eval_mode, output=opts.output, check_advice=False,
                                      progress=progress, label=opts.model, data=prepared.data))
    changes = weight_changes(torch, model_a, model_b)
    return compare(results[0], results[1], changes, (path_a, path_b), tolerance)


def compare(ra: ModuleResult, rb: ModuleResult, changes: dict[str, tuple[float, float, float | None]],
            paths: tuple[str, str], tolerance: float = TOLERANCE) -> WeightsDiff:
    """The layers of two passes of one architecture scored and ranked: a weight change r scores log10(1 + r)
    decades, the gradients as runs' do (|log10(B/A)|, floored at 1e-6 of the pass's largest)."""
    rows_b = {s.name: s for s in rb.layers}
    names = [s.name for s in ra.layers]
    grads = np.array([[np.nan if s.weight_grad_norm is None else s.weight_grad_norm for s in ra.layers],
                      [np.nan if rows_b[n].weight_grad_norm is None else rows_b[n].weight_grad_norm for n in names]])
    grad_d = differences("grad_norm", grads[:1], grads[1:])[0]
    layers = []
    for j, sa in enumerate(ra.layers):
        sb = rows_b[sa.name]
        na, nb, change = changes[sa.name]
        if change is None:
            change_score = NONFINITE
        else:
            change_score = math.log10(1 + change) if math.isfinite(change) else NONFINITE
        grad_score = 0.0 if sa.weight_grad_norm is None or sb.weight_grad_norm is None else float(grad_d[j])
        scores = {"weight_change": change_score if change_score > tolerance else 0.0,
                  "grad_norm": grad_score if grad_score > tolerance else 0.0}
        layers.append(WeightLayer(sa.name, sa.type, na, nb, change, sa.weight_grad_norm, sb.weight_grad_norm, scores,
                                  sa.gradient, sb.gradient))
    order = sorted(range(len(layers)), key=lambda k: (-layers[k].score, k))
    return WeightsDiff(ra, rb, paths, tolerance, [layers[k] for k in order])
