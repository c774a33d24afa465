"""Mean-field theory beside the measurement of `vanish --model`: a dense → activation → dense chain's local factor."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli import activations
from dlcli.errors import with_article
from dlcli.probe.hooks import Pass, moments, value
from dlcli.probe.kinds import is_dense, is_norm
from dlcli.vanish import meanfield


@dataclass(frozen=True)
class LayerTheory:
    """Mean-field's local factor grad_rms(this) / grad_rms(next) beside the measured one, or why it does not apply."""

    applies: bool
    reason: str = ""
    next: str | None = None            # the weighted module the gradient comes back through
    sigma_w2: float | None = None      # fan_in·Var(W) of that next module
    q: float | None = None             # measured pre-activation second moment E[z²] of this module
    e_dphi2_predicted: float | None = None  # E[φ'(√q Z)²], Z ~ N(0, 1)
    e_dphi2_measured: float | None = None
    predicted_factor: float | None = None
    measured_factor: float | None = None

    def as_dict(self) -> dict[str, object]:
        if not self.applies:
            return {"applies": False, "reason": self.reason}
        return {k: v for k, v in self.__dict__.items() if k != "reason"}


def layer_theory(torch: Any, run: Pass, host: np.ndarray, i: int, grad_rms: list[float | None],
                 nxt: dict[int, int]) -> LayerTheory:
    """Row i's theory; grad_rms per row index, nxt: row → the weighted row taking its activation's output."""
    m = run.rows[i][1]
    if is_norm(torch, m):
        return LayerTheory(False, "normalisation: its gradient depends on the batch's own statistics")
    if not is_dense(torch, m):
        return LayerTheory(False, f"{type(m).__name__} is not a Linear or Conv layer")
    if run.calls[i] == 0:
        return LayerTheory(False, "the module never ran")
    if run.order and run.order[-1] == i and i not in nxt:
        return LayerTheory(False, "top layer: its gradient comes from the loss")
    seen = run.act[i]
    if seen is None:
        return LayerTheory(False, "no element-wise activation module takes its output (functional calls such as "
                           "F.relu are not seen; a norm, pooling or residual add may come first)")
    if grad_rms[i] is None:
        return LayerTheory(False, "its output gets no gradient")
    name, params = seen
    j = nxt.get(i)
    if j is None:
        return LayerTheory(False, f"the {name} output reaches the next weighted layer through other operations "
                           "(a residual add, pooling, dropout or attention): mean-field's per-layer factor "
                           "covers dense → activation → dense only")
    nm = run.rows[j][1]
    next_rms = grad_rms[j]
    if not is_dense(torch, nm):
        return LayerTheory(False, f"the next weighted layer, {run.rows[j][0]}, is {with_article(type(nm).__name__)}, "
                           "not a Linear or Conv")
    if next_rms is None or next_rms == 0:
        return LayerTheory(False, f"the next layer, {run.rows[j][0]}, gets no gradient")
    w = nm.weight
    fan_in = int(np.prod(w.shape[1:]))
    _, w_std = moments(value(run, host, j, "weight_sum"), value(run, host, j, "weight_norm"), w.numel())
    var_w = (w_std or 0.0) ** 2
    per_input = w.shape[0] * (int(np.prod(w.shape[2:])) if w.dim() > 2 else 1)
    if isinstance(nm, torch.nn.modules.conv._ConvNd):
        per_input = per_input // nm.groups / int(np.prod(nm.stride))
    numel = run.slots[i].get("_numel") or 1
    q = (value(run, host, i, "out_norm") or 0.0) ** 2 / numel
    e_pred = _tables(name, tuple(sorted(params.items()))).dphi_sq.expect(q)
    predicted = math.sqrt(var_w * per_input * e_pred)
    measured = (grad_rms[i] or 0.0) / next_rms
    return LayerTheory(True, "", run.rows[j][0], fan_in * var_w, q, e_pred,
                       (value(run, host, i, "e_dphi2") or 0.0) / numel, predicted, measured)


@functools.lru_cache(maxsize=16)
def _tables(name: str, params: tuple[tuple[str, float], ...]) -> meanfield.ActivationTables:
    """One activation's quadrature tables (pure in its name and parameters: made once per process)."""
    return meanfield.tabulate(activations.get(name), dict(params))
