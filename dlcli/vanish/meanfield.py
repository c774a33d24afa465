"""Mean-field signal propagation (Poole et al. 2016; Schoenholz et al. 2017) for a stack of dense layers.

The variance map q ↦ σ_w² E[φ(√q Z)²] + σ_b² and the gradient factor χ(q) = σ_w² E[φ'(√q Z)²], by one fixed
quadrature grid per activation (an expectation for any q is one dot product); details in docs/vanish.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dlcli.activations.base import Activation, Params
from dlcli.activations.properties import max_abs_grad
from dlcli.errors import InputError

_C = 1e-6          # grid spacing near u = 0 is _C·_DT
_DT = 0.005        # relative spacing far from 0
_U_MAX = 1e22      # covers q up to Q_MAX with ~10 standard deviations to spare
Q_MAX = 1e40       # variances beyond this count as diverged
Q_MIN = 1e-14      # below this a pre-activation counts as exactly 0 (Gaussian narrower than the grid)
_TAIL = 40.0       # standard deviations kept; the Gaussian density beyond is below 1e-300
_FLAT = 1e-5       # within this many standard deviations of 0 the density counts as flat


def _grid() -> tuple[np.ndarray, np.ndarray]:
    t_max = math.asinh(_U_MAX / _C)
    t = np.arange(0.0, t_max + _DT, _DT)
    t = np.concatenate([-t[:0:-1], t])
    u = _C * np.sinh(t)
    du_dt = _C * np.cosh(t) * _DT  # trapezoid weight per node (tails are ~0, so end corrections vanish)
    return u, du_dt


@dataclass(frozen=True)
class QuadratureTable:
    """A function g tabulated on the quadrature grid, with sums of g·du outward from u = 0 for the flat middle."""

    at_zero: float
    values: np.ndarray
    middle: np.ndarray  # middle[m] = Σ g·du over the 2m + 1 nodes nearest u = 0 (summed from 0 out: no cancellation)
    weighted: np.ndarray  # g·du per node

    @classmethod
    def of(cls, values: np.ndarray, at_zero: float) -> QuadratureTable:
        values = np.where(np.isfinite(values), values, 0.0)  # far tails carry no weight; 0·inf would be nan
        # A jump at u = 0 (ReLU's φ') is integrated exactly by the trapezoid rule when the node on it holds
        # the mean of both sides; for a smooth g this changes g(0) by ~g''·(1e-8)², i.e. not at all.
        values[_CENTRE] = 0.5 * (values[_CENTRE - 1] + values[_CENTRE + 1])
        weighted = values * _DU
        pairs = weighted[_CENTRE + 1:] + weighted[_CENTRE - 1::-1]
        middle = np.concatenate([[weighted[_CENTRE]], weighted[_CENTRE] + np.cumsum(pairs)])
        return cls(at_zero, values, middle, weighted)

    def expect(self, q: float) -> float:
        """E[g(√q Z)], Z ~ N(0, 1); q below Q_MIN gives the limit q → 0⁺, (g(0⁻) + g(0⁺))/2.

        Nodes within 40 standard deviations carry weight (exp(−800) is 0 in float64). Where |u| < 1e-5·√q
        the Gaussian density is flat to 5e-11, so those nodes add up through the precomputed middle sums.
        """
        if q < Q_MIN:
            return self.at_zero
        s = math.sqrt(min(q, Q_MAX))
        lo, flat_lo = np.searchsorted(_U, (-_TAIL * s, -_FLAT * s))
        m = max(_CENTRE - int(flat_lo), 0)  # nodes on each side of 0 inside the flat middle
        hi, flat_hi = _U.size - lo, _CENTRE + m + 1
        norm = 1.0 / (s * math.sqrt(2.0 * math.pi))
        scale = -0.5 / (s * s)
        total = norm * float(self.middle[m])
        for a, b in ((lo, _CENTRE - m), (flat_hi, hi)):
            total += norm * float(np.exp(_U2[a:b] * scale) @ self.weighted[a:b])
        return total


@dataclass(frozen=True)
class ActivationTables:
    """φ(u)², φ'(u)² and φ(u)²φ'(u)² tabulated once on the quadrature grid for one activation."""

    name: str
    phi_sq: QuadratureTable
    dphi_sq: QuadratureTable
    phi_sq_dphi_sq: QuadratureTable
    max_abs_grad: float


_U, _DU = _grid()
_U2 = _U * _U
_CENTRE = _U.size // 2  # the node at u = 0


def tabulate(act: Activation, params: Params) -> ActivationTables:
    """Evaluate the activation once on the quadrature grid."""
    if act.vector:
        raise InputError(f"{act.name} acts on a whole vector; mean-field theory needs an element-wise activation")
    # As q → 0⁺, √q Z falls on either side of 0 with probability ½ each: E[g(√q Z)] tends to the mean of
    # g's one-sided limits at 0, not to g(0) (relu' is 0 at 0 by torch's convention, yet χ → σ_w²/2).
    sides = np.array([-_TINY, _TINY])
    with np.errstate(all="ignore"):
        phi, dphi = act.fn(_U, **params), act.grad(_U, **params)
        phi0, dphi0 = act.fn(sides, **params), act.grad(sides, **params)
        phi_sq, dphi_sq = phi * phi, dphi * dphi
        return ActivationTables(
            name=act.name,
            phi_sq=QuadratureTable.of(phi_sq, _mean(phi0 * phi0)),
            dphi_sq=QuadratureTable.of(dphi_sq, _mean(dphi0 * dphi0)),
            phi_sq_dphi_sq=QuadratureTable.of(phi_sq * dphi_sq, _mean(phi0 * phi0 * dphi0 * dphi0)),
            max_abs_grad=max_abs_grad(act, params)[0],
        )


_TINY = 1e-300  # a point beside 0 where every smooth g equals g(0) in float64


def _mean(sides: np.ndarray) -> float:
    return float(0.5 * (sides[0] + sides[1]))


def variance_map(t: ActivationTables, q: float, sigma_w2: float, sigma_b2: float) -> float:
    """Next layer's pre-activation variance: σ_w² E[φ(√q Z)²] + σ_b²."""
    return sigma_w2 * t.phi_sq.expect(q) + sigma_b2


def chi(t: ActivationTables, q: float, sigma_w2: float) -> float:
    """Mean-square gradient factor per layer at variance q: σ_w² E[φ'(√q Z)²]."""
    return sigma_w2 * t.dphi_sq.expect(q)


def fixed_point(t: ActivationTables, sigma_w2: float, sigma_b2: float, q_start: float) -> float:
    """The fixed point q* that iterating the variance map from q_start approaches (inf if it diverges).

    The variance map is increasing in q for the activations here, so the iteration moves monotonically
    towards the nearest fixed point in the direction V(q_start) − q_start points; it is bracketed by
    stepping a factor of 2 at a time and then pinned down by bisection in log q.
    """
    def excess(q: float) -> float:
        return variance_map(t, q, sigma_w2, sigma_b2) - q

    q = max(q_start, Q_MIN)
    d = excess(q)
    if abs(d) <= 1e-12 * q:
        return q
    step = 0.5 if d < 0 else 2.0
    lo = q
    while True:
        hi = lo * step
        if hi < Q_MIN:
            # V(q) < q all the way down: the variance map contracts to 0 (φ(0) = 0 and σ_b = 0, as for tanh).
            return 0.0
        if hi > Q_MAX:
            return math.inf
        d_hi = excess(hi)
        if d_hi == 0 or (d_hi < 0) != (d < 0):
            break
        lo = hi
    a, b = sorted((lo, hi))
    if b < 1e-8 and variance_map(t, 0.0, sigma_w2, sigma_b2) == 0.0:
        # q = 0 is itself a fixed point (φ(0) = 0, σ_b = 0); a crossing this close to it is quadrature error.
        return 0.0
    da = excess(a)
    for _ in range(80):
        m = math.sqrt(a * b)
        dm = excess(m)
        if dm == 0 or b / a - 1 < 1e-13:
            return m
        if (dm < 0) == (da < 0):
            a, da = m, dm
        else:
            b = m
    return math.sqrt(a * b)


def chi_at_fixed_point(t: ActivationTables, sigma_w2: float, q_star: float) -> float:
    """χ1 = χ(q*); for a diverging variance, the limit of χ(q) as q grows."""
    return chi(t, Q_MAX if math.isinf(q_star) else q_star, sigma_w2)


def critical_gain(t: ActivationTables, sigma_b2: float) -> float | None:
    """The σ_w that puts the fixed point at χ1 = 1 for bias variance σ_b² (None where no σ_w does).

    A fixed point q with gain σ_w satisfies q = σ_w² E[φ²] + σ_b², so σ_w² = (q − σ_b²)/E[φ²] and
    χ1 = (q − σ_b²) E[φ'²]/E[φ²]: one equation in q, solved on a log grid and refined by bisection.
    Where χ1 only approaches 1 as a limit (tanh at σ_b = 0 as q → 0, ReLU as q → ∞) the limit's gain is used.
    """
    def gain_and_chi(q: float) -> tuple[float, float]:
        e_phi = t.phi_sq.expect(q)
        if e_phi <= 0 or q <= sigma_b2:
            return math.nan, math.nan
        s_w2 = (q - sigma_b2) / e_phi
        return math.sqrt(s_w2), s_w2 * t.dphi_sq.expect(q)

    lo_exp = math.log10(max(sigma_b2, Q_MIN * 10)) + 1e-9
    qs = np.logspace(lo_exp, math.log10(Q_MAX) - 1, 100)
    chis = np.array([gain_and_chi(float(q))[1] for q in qs])
    ok = np.isfinite(chis)
    qs, chis = qs[ok], chis[ok]
    if qs.size == 0:
        return None
    # χ1 − 1 within 1e-9 counts as zero (ReLU sits at exactly 1 for every q): such points are candidates
    # themselves, and only clean sign changes between the others are refined.
    side = np.where(np.abs(chis - 1.0) < 1e-9, 0.0, np.sign(chis - 1.0))
    candidates = [float(q) for q in qs[side == 0][:3]]
    for i in np.nonzero(side[:-1] * side[1:] < 0)[0][:3]:
        a, b = float(qs[i]), float(qs[i + 1])
        sa = math.copysign(1.0, gain_and_chi(a)[1] - 1.0)
        for _ in range(60):
            m = math.sqrt(a * b)
            if math.copysign(1.0, gain_and_chi(m)[1] - 1.0) == sa:
                a = m
            else:
                b = m
        candidates.append(math.sqrt(a * b))
    best = int(np.argmin(np.abs(chis - 1.0)))
    if abs(chis[best] - 1.0) < 1e-4:
        candidates.append(float(qs[best]))
    # Keep a gain only if the network's own variance (q_1 = σ_w² + σ_b² for unit-variance inputs) flows to
    # a fixed point with χ1 = 1: an unstable fixed point (SiLU's q = 0 at σ_w = 2) is never reached.
    for q in sorted(candidates):
        gain = gain_and_chi(q)[0]
        q_star = fixed_point(t, gain**2, sigma_b2, gain**2 + sigma_b2)
        if abs(chi_at_fixed_point(t, gain**2, q_star) - 1.0) < 1e-3:
            return gain
    return None


@dataclass(frozen=True)
class LayerSpec:
    """What the theory needs of one dense layer: its widths and the effective σ_w², σ_b²."""

    fan_in: int
    fan_out: int
    sigma_w2: float
    sigma_b2: float


@dataclass(frozen=True)
class Theory:
    """Mean-field predictions for one stack; ratios are layer 1 over layer L, as measured."""

    q_star: float
    chi1: float
    per_layer_factor: float        # √χ1, the predicted grad_rms factor per layer at the fixed point
    predicted_ratio: float         # √χ1^(L−1)
    naive_bound: float             # max|φ'|^(L−1), the notes' argument (weights ignored)
    depth_scale: float             # ξ = 1/|ln χ1|: gradient variance changes by e every ξ layers
    sigma_w2: float
    sigma_b2: float
    critical_gain: float | None    # σ_w (= --gain with --init normal) giving χ1 = 1 at this σ_b
    layer_q: tuple[float, ...]     # pre-activation variance q_l of each layer, from the input's variance
    predicted_grad_rms: tuple[float, ...]  # layer by layer, iterating the maps from the input
    predicted_ratio_layerwise: float

    def as_dict(self) -> dict[str, object]:
        """The JSON contract (`layer_q` left out)."""
        return {
            "q_star": self.q_star, "chi1": self.chi1, "per_layer_factor": self.per_layer_factor,
            "predicted_ratio": self.predicted_ratio, "naive_bound": self.naive_bound,
            "depth_scale": self.depth_scale, "sigma_w2": self.sigma_w2, "sigma_b2": self.sigma_b2,
            "critical_gain": self.critical_gain, "predicted_ratio_layerwise": self.predicted_ratio_layerwise,
            "predicted_grad_rms": list(self.predicted_grad_rms),
        }


def predict(act: Activation, params: Params, layers: Sequence[LayerSpec], *, input_var: float = 1.0,
            loss: str = "projection", critical_bias_var: float = 0.0) -> Theory:
    """Mean-field theory for a dense stack, the top layer's σ's standing for the whole stack's fixed point."""
    t = tabulate(act, params)
    depth = len(layers)
    q_l: list[float] = []
    q = layers[0].sigma_w2 * input_var + layers[0].sigma_b2
    for i, spec in enumerate(layers):
        if i:
            q = variance_map(t, min(q, Q_MAX), spec.sigma_w2, spec.sigma_b2)
        q_l.append(min(q, math.inf))
    # Backward: E[δ_L²] from the loss, then E[δ_l²] = E[φ'(z_l)²]·σ_w,l+1²·(N_l+1/N_l)·E[δ_l+1²].
    q_top = min(q_l[-1], Q_MAX)
    if loss == "mse":  # δ_L = (φ(z) − t)·φ'(z) with t ~ N(0, 1) independent of z
        top = t.phi_sq_dphi_sq.expect(q_top) + t.dphi_sq.expect(q_top)
    else:              # δ_L = v·φ'(z) with v ~ N(0, 1)
        top = t.dphi_sq.expect(q_top)
    ms = [0.0] * depth
    ms[-1] = top
    for i in range(depth - 2, -1, -1):
        nxt = layers[i + 1]
        ms[i] = chi(t, min(q_l[i], Q_MAX), nxt.sigma_w2) * nxt.fan_out / nxt.fan_in * ms[i + 1]
    rms = tuple(math.sqrt(m) for m in ms)

    top_spec = layers[-1]
    q_star = fixed_point(t, top_spec.sigma_w2, top_spec.sigma_b2, q_l[0])
    chi1 = chi_at_fixed_point(t, top_spec.sigma_w2, q_star)
    factor = math.sqrt(chi1)
    log_chi = math.log(chi1) if chi1 > 0 else -math.inf
    return Theory(
        q_star=q_star, chi1=chi1, per_layer_factor=factor,
        predicted_ratio=_power(factor, depth - 1),
        naive_bound=_power(t.max_abs_grad, depth - 1),
        depth_scale=math.inf if log_chi == 0 else 1.0 / abs(log_chi),
        sigma_w2=top_spec.sigma_w2, sigma_b2=top_spec.sigma_b2,
        critical_gain=critical_gain(t, critical_bias_var),
        layer_q=tuple(q_l), predicted_grad_rms=rms,
        predicted_ratio_layerwise=(rms[0] / rms[-1]) if rms[-1] > 0 else math.nan,
    )


def _power(base: float, exponent: int) -> float:
    """base**exponent without OverflowError (returns inf, as float64 arithmetic would)."""
    try:
        return base**exponent
    except OverflowError:
        return math.inf


def tabulate_function(g: Callable[[np.ndarray], np.ndarray]) -> QuadratureTable:
    """Any function g(u) on the quadrature grid: E[g(√q Z)] is then Table.expect(q) (for the other theories)."""
    with np.errstate(all="ignore"):
        return QuadratureTable.of(np.asarray(g(_U), dtype=np.float64), float(g(np.zeros(1))[0]))
