"""Mean-field theory of residual stacks a_l = a_{l−1} + α·φ(W_l a_{l−1} + b_l) (Yang & Schoenholz 2017).

Per unit, with p_l = E[a_l²], m_l = E[a_l] and q_l = σ_w² p_{l−1} + σ_b² the pre-activation variance:
    m_l = m_{l−1} + α E[φ(√q_l Z)],   p_l = p_{l−1} + 2α m_{l−1} E[φ] + α² E[φ²]
(a_{l−1,i} and z_{l,i} are independent in the wide limit). Backward, with G_l = E[(∂loss/∂a_l)²]:
    E[δ_l²] = α² E[φ'(√q_l Z)²] G_l,   G_{l−1} = G_l + σ_w² (n_l/n_{l−1}) E[δ_l²] = G_l (1 + α² χ(q_l)),
so each residual layer multiplies the gradient's mean square by 1 + α²χ ≥ 1; a layer whose width changes is
plain (m, p, G as in dlcli.vanish.meanfield).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlcli.activations.base import Activation, Params
from dlcli.vanish import meanfield
from dlcli.vanish.meanfield import Q_MAX, LayerSpec


@dataclass(frozen=True)
class ResidualTheory:
    """Predictions for a residual stack; ratios are layer 1 over layer L, as measured."""

    scale: float                          # α
    plain_layers: tuple[int, ...]         # layers without the skip connection (their width changes)
    layer_q: tuple[float, ...]            # q_l, pre-activation variance
    layer_p: tuple[float, ...]            # p_l = E[a_l²]
    predicted_grad_rms: tuple[float, ...]  # √E[δ_l²], layer 1 first
    predicted_ratio: float                # predicted_grad_rms[0] / predicted_grad_rms[-1]
    factor_top: float                     # predicted grad_rms factor going down from layer L to L−1
    factor_bottom: float                  # ... from layer 2 to layer 1

    @property
    def per_layer_factor(self) -> float:
        """The geometric mean of the predicted per-layer factors."""
        n = len(self.predicted_grad_rms) - 1
        return self.predicted_ratio ** (1.0 / n) if n and 0 < self.predicted_ratio < math.inf else math.nan

    def as_dict(self) -> dict[str, object]:
        return {
            "residual_scale": self.scale, "plain_layers": list(self.plain_layers),
            "predicted_ratio": self.predicted_ratio, "per_layer_factor": self.per_layer_factor,
            "factor_top": self.factor_top, "factor_bottom": self.factor_bottom,
            "layer_q": list(self.layer_q), "layer_p": list(self.layer_p),
            "predicted_grad_rms": list(self.predicted_grad_rms),
        }


def predict_residual(act: Activation, params: Params, layers: Sequence[LayerSpec], residual: Sequence[bool],
                     scale: float, *, loss: str = "projection", input_var: float = 1.0) -> ResidualTheory:
    """The recursions above for a stack whose layer l adds its input back where residual[l − 1]."""
    tables = meanfield.tabulate(act, params)
    phi = meanfield.tabulate_function(lambda u: act.fn(u, **params))
    phi_dphi_sq = meanfield.tabulate_function(lambda u: act.fn(u, **params) * act.grad(u, **params) ** 2)
    depth = len(layers)
    m, p = 0.0, input_var
    qs, ps, ms = [], [], []
    for spec, skip in zip(layers, residual, strict=True):
        q = min(spec.sigma_w2 * p + spec.sigma_b2, Q_MAX)
        e_phi, e_phi2 = phi.expect(q), tables.phi_sq.expect(q)
        if skip:
            m, p = m + scale * e_phi, p + 2 * scale * m * e_phi + scale**2 * e_phi2
        else:
            m, p = e_phi, e_phi2
        qs.append(q)
        ps.append(min(p, math.inf))
        ms.append(m)
    # The top: δ_L = c·(∂loss/∂a_L)·φ'(z_L), c = α on a residual layer.
    q_top = qs[-1]
    c2 = scale**2 if residual[-1] else 1.0
    if loss == "mse":  # ∂loss/∂a_L = a_L − t, a_L = [a_{L−1} +] c·φ(z_L), t ~ N(0, 1)
        d2, pd2, p2d2 = (tables.dphi_sq.expect(q_top), phi_dphi_sq.expect(q_top),
                         tables.phi_sq_dphi_sq.expect(q_top))
        if residual[-1]:
            p_below, m_below = (ps[-2], ms[-2]) if depth > 1 else (input_var, 0.0)
            top = c2 * ((p_below + 1) * d2 + 2 * scale * m_below * pd2 + scale**2 * p2d2)
        else:
            top = p2d2 + d2
        g = ps[-1] + 1.0
    else:
        top = c2 * tables.dphi_sq.expect(q_top)
        g = 1.0
    delta2 = [0.0] * depth
    delta2[-1] = top
    for i in range(depth - 1, 0, -1):
        spec = layers[i]
        g = (g if residual[i] else 0.0) + spec.sigma_w2 * spec.fan_out / spec.fan_in * delta2[i]
        c2 = scale**2 if residual[i - 1] else 1.0
        delta2[i - 1] = c2 * tables.dphi_sq.expect(qs[i - 1]) * g
    rms = np.sqrt(np.array(delta2))
    ratio = float(rms[0] / rms[-1]) if rms[-1] > 0 else math.nan
    factors = rms[:-1] / rms[1:] if depth > 1 else np.array([math.nan])
    return ResidualTheory(
        scale=scale, plain_layers=tuple(i + 1 for i, skip in enumerate(residual) if not skip),
        layer_q=tuple(qs), layer_p=tuple(ps), predicted_grad_rms=tuple(float(r) for r in rms),
        predicted_ratio=ratio, factor_top=float(factors[-1]), factor_bottom=float(factors[0]),
    )
