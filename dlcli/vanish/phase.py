"""The order-to-chaos phase diagram over (σ_w², σ_b²) (Poole et al. 2016; Schoenholz et al. 2017).

χ1 = σ_w² E[φ'(√q* Z)²] at the fixed point q* reached from unit-variance inputs: χ1 < 1 ordered (gradients
vanish), χ1 > 1 chaotic (they explode), χ1 = 1 the critical line (from meanfield.critical_gain, exact).
ξ = 1/|ln χ1| is the gradient's depth scale (Schoenholz et al.'s ξ_c equals it in the ordered phase);
stacks train to a depth of about 6ξ. The grid's q* comes from E[φ²] and E[φ'²] tabulated once on a log grid of
q and interpolated (a few parts in 1e4; the critical line itself is solved without it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dlcli.activations.base import Activation, Params
from dlcli.vanish import meanfield

DEPTH_SCALES = (1.0, 3.0, 10.0, 30.0)   # ξ contours; trainable depth ≈ 6ξ
TRAINABLE = 6.0
_LOG_Q = np.linspace(-12.0, 8.0, 801)  # log10 q of the interpolation grid


@dataclass(frozen=True)
class PhaseDiagram:
    activation: str
    sigma_w2: np.ndarray          # grid columns
    sigma_b2: np.ndarray          # grid rows
    chi1: np.ndarray              # (rows, columns)
    q_star: np.ndarray            # (rows, columns)
    critical: tuple[float | None, ...]  # σ_w² of χ1 = 1 for each σ_b² row (None: no σ_w² gets there)
    contours: dict[float, tuple[tuple[float | None, float | None], ...]]  # ξ → per row (ordered, chaotic) σ_w²
    point: dict[str, float] | None  # the user's σ_w², σ_b², χ1, ξ, q*

    @property
    def depth_scale(self) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return 1.0 / np.abs(np.log(self.chi1))

    def as_dict(self) -> dict[str, object]:
        rows = [float(b) for b in self.sigma_b2]
        return {
            "activation": self.activation,
            "critical_line": [{"sigma_b2": b, "sigma_w2": w} for b, w in zip(rows, self.critical, strict=True)],
            "grid": {"sigma_w2": [float(w) for w in self.sigma_w2], "sigma_b2": rows,
                     "chi1": self.chi1.tolist(), "depth_scale": self.depth_scale.tolist(),
                     "q_star": self.q_star.tolist()},
            "contours": [{"depth_scale": xi, "trainable_depth": TRAINABLE * xi,
                          "line": [{"sigma_b2": b, "ordered_sigma_w2": o, "chaotic_sigma_w2": c}
                                   for b, (o, c) in zip(rows, line, strict=True)]}
                         for xi, line in self.contours.items()],
            "point": self.point,
        }


def chi1_grid(t: meanfield.ActivationTables, sigma_w2: np.ndarray, sigma_b2: np.ndarray,
              ) -> tuple[np.ndarray, np.ndarray]:
    """(χ1, q*) for every pair (broadcast), the fixed point reached from q_1 = σ_w² + σ_b²."""
    qs = 10.0**_LOG_Q
    e_phi = np.array([t.phi_sq.expect(float(q)) for q in qs])
    e_dphi = np.array([t.dphi_sq.expect(float(q)) for q in qs])
    w, b = np.broadcast_arrays(np.asarray(sigma_w2, float), np.asarray(sigma_b2, float))
    w, b = w.ravel(), b.ravel()
    excess = w[:, None] * e_phi[None, :] + b[:, None] - qs[None, :]
    q0 = w + b
    k0 = np.searchsorted(qs, q0)
    up = w * np.interp(np.log10(np.maximum(q0, qs[0])), _LOG_Q, e_phi) + b > q0
    k = np.arange(qs.size)[None, :]
    q_star = np.empty(w.size)
    for i in range(w.size):
        row = excess[i]
        if up[i]:
            hits = np.nonzero((row <= 0) & (k[0] >= k0[i]))[0]
            if hits.size == 0:
                q_star[i] = math.inf
                continue
            j = int(hits[0])
        else:
            hits = np.nonzero((row >= 0) & (k[0] < k0[i]))[0]
            if hits.size == 0:
                q_star[i] = 0.0
                continue
            j = int(hits[-1]) + 1
        j = min(max(j, 1), qs.size - 1)
        e0, e1 = row[j - 1], row[j]
        frac = e0 / (e0 - e1) if e0 != e1 else 1.0
        q_star[i] = 10.0 ** (_LOG_Q[j - 1] + min(max(frac, 0.0), 1.0) * (_LOG_Q[j] - _LOG_Q[j - 1]))
    # q* = 0: the limit q → 0⁺ (ReLU's E[φ'²] is 1/2 there, though φ'(0)² = 0)
    d_at = np.where(np.isinf(q_star), t.dphi_sq.expect(meanfield.Q_MAX),
                    np.interp(np.log10(np.clip(q_star, qs[0], qs[-1])), _LOG_Q, e_dphi))
    shape = np.broadcast_shapes(np.shape(sigma_w2), np.shape(sigma_b2))
    return (w * d_at).reshape(shape), q_star.reshape(shape)


def phase_diagram(act: Activation, params: Params, point: tuple[float, float] | None = None,
                  columns: int = 61, rows: int = 21, sigma_b2_max: float = 1.0) -> PhaseDiagram:
    """χ1 on a (σ_b², σ_w²) grid, the critical line on its rows, the ξ contours, and `point` (σ_w², σ_b²)."""
    t = meanfield.tabulate(act, params)
    b_axis = np.linspace(0.0, sigma_b2_max, rows)
    critical: list[float | None] = []
    for b in b_axis:
        gain = meanfield.critical_gain(t, float(b))
        critical.append(None if gain is None else gain * gain)
    known = [c for c in critical if c is not None]
    w_max = max(4.0, 1.25 * max(known)) if known else 4.0
    if point is not None:
        w_max = max(w_max, 1.1 * point[0])
    w_axis = np.linspace(w_max / columns, w_max, columns)
    chi, q_star = chi1_grid(t, w_axis[None, :], b_axis[:, None])
    contours = {}
    for xi in DEPTH_SCALES:
        contours[xi] = tuple((_crossing(w_axis, row, math.exp(-1.0 / xi)), _crossing(w_axis, row, math.exp(1.0 / xi)))
                             for row in chi)
    marked = None
    if point is not None:
        c, q = chi1_grid(t, np.array([point[0]]), np.array([point[1]]))
        c1 = float(c[0])
        marked = {"sigma_w2": point[0], "sigma_b2": point[1], "chi1": c1, "q_star": float(q[0]),
                  "depth_scale": math.inf if c1 == 1 else 1.0 / abs(math.log(c1)) if c1 > 0 else 0.0}
    return PhaseDiagram(act.name, w_axis, b_axis, chi, q_star, tuple(critical), contours, marked)


def _crossing(w: np.ndarray, chi: np.ndarray, level: float) -> float | None:
    """The first σ_w² along a row where χ1 crosses `level` (linear between grid columns), or None."""
    above = chi >= level
    idx = np.nonzero(above[1:] & ~above[:-1])[0]
    if idx.size == 0:
        return None
    i = int(idx[0])
    c0, c1 = chi[i], chi[i + 1]
    return float(w[i] + (level - c0) / (c1 - c0) * (w[i + 1] - w[i]))
