"""Per-layer gradient growth under normalisation before φ: batch norm (Yang et al. 2019) and layer norm.

Batch norm, linear network: the gradient's mean square grows by (B − 2)/(B − 3) a layer at batch B (the
paper's rate: each unit's backward projects out 2 of B directions and divides by a batch σ whose inverse
square has mean (B − 1)/(B − 3)). Batch norm, ReLU: the paper's large-batch limit π/(π − 1); for other
activations the same B → ∞ argument gives E[φ'(Z)²]/Var φ(Z), Z ~ N(0, 1) (not in the paper). At finite B
the large-batch rate times the linear network's (B − 2)/(B − 3) is our estimate (measured: ReLU within 1%
at B = 8, tanh 3% high; docs/vanish.md).
Layer norm, wide limit: ẑ ~ N(0, 1) in every layer, so the factor is σ_w² E[φ'(Z)²]/(σ_w² E[φ(Z)²] + σ_b²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlcli.activations.base import Activation, Params
from dlcli.vanish import meanfield
from dlcli.vanish.meanfield import LayerSpec


@dataclass(frozen=True)
class NormTheory:
    """The predicted grad_rms factor per layer (√ of the mean-square rate), or None where no theory holds."""

    norm: str
    batch: int
    predicted_factor: float | None
    source: str  # where the prediction comes from, or why there is none
    limit_factor: float | None = None  # batch norm: the factor as B → ∞

    def as_dict(self) -> dict[str, object]:
        return {"norm": self.norm, "batch": self.batch, "predicted_factor": self.predicted_factor,
                "limit_factor": self.limit_factor, "source": self.source}


def predict_norm(act: Activation, params: Params, norm: str, batch: int, spec: LayerSpec,
                 residual: bool = False) -> NormTheory:
    """The growth of ∂loss/∂z per layer, going down, in a deep stack of layers like `spec`."""
    if residual:
        return NormTheory(norm, batch, None, "no mean-field prediction here for normalised residual stacks")
    if norm == "batch":
        if act.name == "identity":
            if batch < 4:
                return NormTheory(norm, batch, None, "the linear rate (B−2)/(B−3) needs B ≥ 4")
            return NormTheory(norm, batch, math.sqrt((batch - 2) / (batch - 3)),
                              f"Yang et al. 2019, linear network: (B−2)/(B−3) = {batch - 2}/{batch - 3} in mean square",
                              1.0)
        t = meanfield.tabulate(act, params)
        phi = meanfield.tabulate_function(lambda u: act.fn(u, **params))
        var = t.phi_sq.expect(1.0) - phi.expect(1.0) ** 2
        rate = t.dphi_sq.expect(1.0) / var if var > 0 else math.inf
        if act.name == "relu":
            source = ("Yang et al. 2019, ReLU: the large-batch limit π/(π−1) in mean square; the paper's "
                      "finite-B rate (from its fixed-point integrals) is not computed here: the factor at this B "
                      "is our estimate, the limit times (B−2)/(B−3)")
        else:
            source = ("large-batch mean field E[φ'(Z)²]/Var φ(Z) (the paper's B → ∞ argument; the paper gives "
                      "no rate for this activation); at this B our estimate, that times (B−2)/(B−3)")
        finite = math.sqrt(rate * (batch - 2) / (batch - 3)) if batch >= 4 else None
        return NormTheory(norm, batch, finite, source, math.sqrt(rate))
    t = meanfield.tabulate(act, params)
    rate = spec.sigma_w2 * t.dphi_sq.expect(1.0) / (spec.sigma_w2 * t.phi_sq.expect(1.0) + spec.sigma_b2)
    return NormTheory(norm, batch, math.sqrt(rate),
                      "layer norm, wide limit: σ_w²E[φ'(Z)²]/(σ_w²E[φ(Z)²] + σ_b²) in mean square")
