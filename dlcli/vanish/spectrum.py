"""The singular values of the input–output Jacobian J = ∂a_L/∂a_0 of single examples, and free probability.

J = Π_l D_l W_l (D_l = diag φ'(z_l); with --residual a layer's factor is I + α D_l W_l, with --norm layer the
normalisation's Jacobian sits between W_l and D_l), made exactly in float64 and decomposed by SVD.
Pennington, Schoenholz & Ganguli 2017: at the fixed point q*, with μ_k = E[φ'(√q* Z)^(2k)] and χ1 = σ_w² μ1,
the squared singular values have mean χ1^L and variance χ1^(2L)·L·(μ2/μ1² − 1 − s1), where s1 = −1 for
i.i.d. weights (Gaussian or uniform) and 0 for orthogonal ones: each layer adds μ2/μ1² − 1 − s1 to the
relative variance (free multiplicative convolution), so only orthogonal weights and φ' ≈ 1 near q* can
keep every direction's size (dynamical isometry). As in the paper, the examples start at the fixed point:
a_0 ~ N(0, p*) with σ_w² p* + σ_b² = q* (standard normal where q* is 0 or diverges).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dlcli import activations
from dlcli.vanish import blas, meanfield
from dlcli.vanish.config import NORM_EPS, Progress, VanishConfig
from dlcli.vanish.memory import check_memory
from dlcli.vanish.numpy_engine import NumpyNetwork
from dlcli.vanish.weights import layer_weights

ISOMETRIC_SPREAD = 0.25   # var/mean² of σ² below this (σ² within about ±50% of its mean) ...
ISOMETRIC_MEAN = (0.5, 2.0)  # ... and the mean σ² in this range: every direction keeps its size
HISTOGRAM_BINS = 12
STREAM = 3  # the examples' own random stream (dlcli.vanish.weights uses 0-2)
Q_LIMIT = 1e-12  # expectations at q* = 0 are taken here: the limit from above, not φ'(0)


@dataclass(frozen=True)
class Spectrum:
    samples: int
    mean_sq: float              # mean of σ², all singular values of all samples
    var_sq: float               # their variance
    max: float                  # the largest singular value
    condition: float            # largest / smallest singular value (inf where one is 0)
    predicted_mean_sq: float | None   # χ1^L at the fixed point
    predicted_var_sq: float | None    # χ1^(2L)·L·(μ2/μ1² − 1 − s1)
    predicted_mean_sq_layerwise: float | None  # Π_l σ_w² μ1(q_l), from the input's variance
    predicted_var_sq_layerwise: float | None   # that² · Σ_l (μ2/μ1² − 1 − s1)(q_l)
    s1: float | None            # the S-transform's first moment of WWᵀ: −1 i.i.d., 0 orthogonal
    spread_per_layer: float | None    # μ2/μ1² − 1 − s1 at q*
    q_star: float
    input_var: float            # p*, the examples' variance per unit
    isometric: bool
    edges: tuple[float, ...]    # log-spaced bin edges of the singular values
    counts: tuple[int, ...]
    zeros: int                  # singular values below 1e-12 of the largest (outside the bins)

    def as_dict(self) -> dict[str, object]:
        return {
            "mean_sq": self.mean_sq, "var_sq": self.var_sq, "max": self.max, "condition": self.condition,
            "predicted_mean_sq": self.predicted_mean_sq, "predicted_var_sq": self.predicted_var_sq,
            "samples": self.samples, "predicted_mean_sq_layerwise": self.predicted_mean_sq_layerwise,
            "predicted_var_sq_layerwise": self.predicted_var_sq_layerwise, "s1": self.s1,
            "spread_per_layer": self.spread_per_layer, "q_star": self.q_star, "input_var": self.input_var,
            "isometric": self.isometric,
            "histogram": {"edges": list(self.edges), "counts": list(self.counts), "zeros": self.zeros},
        }


def spectrum_bytes(config: VanishConfig) -> int:
    """Peak bytes: the float64 weights (width² × depth), three (samples, n_l, n_0) Jacobian stacks, the SVD's."""
    pairs = zip(config.widths[:-1], config.widths[1:], strict=True)
    weights = sum(i * o for i, o in pairs) * 8
    jac = config.spectrum_samples * max(config.widths) * config.widths[0] * 8
    return int(weights + 4 * jac + 64 * max(config.widths) * 8)


def check_spectrum_memory(config: VanishConfig) -> None:
    """InputError before anything is allocated, when the Jacobians will not fit."""
    samples = config.spectrum_samples
    check_memory(config, need=spectrum_bytes(config), where="memory for --spectrum",
                 advice=f"lower --spectrum-samples ({samples:,} Jacobians of {max(config.widths):,} × "
                 f"{config.widths[0]:,} are kept), or shrink --width or --depth (the weights, width² × depth)")


def jacobians(config: VanishConfig, x: np.ndarray, net: NumpyNetwork | None = None,
              progress: Progress | None = None) -> np.ndarray:
    """J of every example x[s], shaped (samples, n_L, n_0), in float64 (the weights of `net` if float64)."""
    act = activations.get(config.activation)
    params = config.params
    alpha = config.residual_scale
    samples, n0 = x.shape
    a = x
    jac: np.ndarray | None = None  # None: the identity
    for layer in range(1, config.depth + 1):
        if net is not None and net.x.dtype == np.float64:
            w, b = net.weights[layer - 1], net.biases[layer - 1]
        else:
            w, b = layer_weights(config, layer)
        z = a @ w.T + b
        # (samples, n_l, n_0): W J for every example in one product, samples side by side
        m = np.broadcast_to(w, (samples, *w.shape)).copy() if jac is None else np.matmul(w, jac)
        if config.norm == "layer":
            centred = z - z.mean(axis=1, keepdims=True)
            inv = 1.0 / np.sqrt((centred * centred).mean(axis=1, keepdims=True) + NORM_EPS)
            z = centred * inv
            n = z.shape[1]
            m -= m.mean(axis=1, keepdims=True)
            m -= z[:, :, None] * (np.einsum("si,sij->sj", z, m) / n)[:, None, :]
            m *= inv[:, :, None]
        phi = act.fn(z, **params)
        m *= act.grad(z, **params)[:, :, None]
        if config.is_residual(layer):
            m *= alpha
            if jac is None:
                m[:, np.arange(n0), np.arange(n0)] += 1.0
            else:
                m += jac
            a = a + alpha * phi
        else:
            a = phi
        jac = m
        if progress:
            progress("spectrum", layer, config.depth)
    assert jac is not None
    return jac


def spectrum_inputs(config: VanishConfig, input_var: float = 1.0) -> np.ndarray:
    """The examples: N(0, input_var), (samples, n_0), from their own stream (not the batch's)."""
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(STREAM, 0)))
    return rng.standard_normal((config.spectrum_samples, config.widths[0])) * math.sqrt(input_var)


def fixed_point_input(config: VanishConfig) -> tuple[float, float]:
    """(q*, p*): the top layer's fixed point reached from unit inputs, and the input variance that starts there."""
    t = meanfield.tabulate(activations.get(config.activation), config.params)
    specs = config.layer_specs()
    top = specs[-1]
    q_star = meanfield.fixed_point(t, top.sigma_w2, top.sigma_b2, specs[0].sigma_w2 + specs[0].sigma_b2)
    first = specs[0]
    if not 0 < q_star < math.inf or q_star <= first.sigma_b2:
        return q_star, 1.0
    return q_star, (q_star - first.sigma_b2) / first.sigma_w2


def jacobian_spectrum(config: VanishConfig, net: NumpyNetwork | None = None,
                      progress: Progress | None = None) -> Spectrum:
    """Measure the singular values of J over --spectrum-samples examples and set free probability beside them."""
    q_star, input_var = fixed_point_input(config)
    widest = max(config.widths)
    with blas.single_thread(config.spectrum_samples * widest * widest * config.widths[0] < 1 << 24):
        jac = jacobians(config, spectrum_inputs(config, input_var), net, progress)
    # LAPACK's SVD makes many small BLAS calls: on one thread 14× faster here beside other work (400², 4 samples)
    with blas.single_thread(True):
        s = np.linalg.svd(jac, compute_uv=False).ravel()
    del jac
    sq = s * s
    mean_sq, var_sq = float(sq.mean()), float(sq.var())
    largest = float(s.max())
    smallest = float(s.min())
    condition = largest / smallest if smallest > 0 else math.inf
    edges, counts, zeros = histogram(s)
    pred = predict_spectrum(config, q_star, input_var)
    spread = var_sq / mean_sq**2 if mean_sq > 0 else math.inf
    isometric = spread < ISOMETRIC_SPREAD and ISOMETRIC_MEAN[0] <= mean_sq <= ISOMETRIC_MEAN[1]
    return Spectrum(config.spectrum_samples, mean_sq, var_sq, largest, condition, *pred, q_star, input_var, isometric,
                    edges=edges, counts=counts, zeros=zeros)


def histogram(s: np.ndarray, bins: int = HISTOGRAM_BINS) -> tuple[tuple[float, ...], tuple[int, ...], int]:
    """Counts of singular values in log-spaced bins from the smallest (above 1e-12 of the largest) to the largest."""
    top = float(s.max())
    if not top > 0:
        return (), (), int(s.size)
    positive = s[s > 1e-12 * top]
    lo = float(positive.min())
    if lo == top:
        lo, top = lo * 0.99, top * 1.01
    edges = np.geomspace(lo, top, bins + 1)
    counts, _ = np.histogram(positive, bins=edges)
    return tuple(float(e) for e in edges), tuple(int(c) for c in counts), int(s.size - positive.size)


def predict_spectrum(config: VanishConfig, q_star: float, input_var: float = 1.0,
                     ) -> tuple[float | None, float | None, float | None, float | None, float | None, float | None]:
    """(mean, variance at q*; mean, variance layer by layer from input_var; s1; spread per layer at q*) by free
    probability (None where it does not apply here: --residual, --norm, orthogonal weights on non-square layers)."""
    act = activations.get(config.activation)
    t = meanfield.tabulate(act, config.params)
    specs = config.layer_specs()
    top = specs[-1]
    square = all(s.fan_in == s.fan_out for s in specs)
    if config.residual or config.norm != "none" or (config.init == "orthogonal" and not square):
        return None, None, None, None, None, None
    s1 = 0.0 if config.init == "orthogonal" else -1.0
    quartic = meanfield.tabulate_function(lambda u: act.grad(u, **config.params) ** 4)

    def spread(q: float) -> tuple[float, float]:
        mu1, mu2 = t.dphi_sq.expect(q), quartic.expect(q)
        return mu1, (mu2 / mu1**2 - 1.0 - s1) if mu1 > 0 else math.inf

    depth = config.depth
    q_top = min(max(q_star, Q_LIMIT), meanfield.Q_MAX)  # q* = 0: the limit q → 0⁺ (ReLU's μ1 is ½ there)
    mu1, r = spread(q_top)
    chi1 = top.sigma_w2 * mu1
    mean = _power(chi1, depth)
    var = _power(chi1, 2 * depth) * depth * r if mean < math.inf else math.inf
    mean_l, rel_var = 1.0, 0.0
    q = min(specs[0].sigma_w2 * input_var + specs[0].sigma_b2, meanfield.Q_MAX)
    for i, spec in enumerate(specs):
        if i:
            q = min(meanfield.variance_map(t, q, spec.sigma_w2, spec.sigma_b2), meanfield.Q_MAX)
        m1, rl = spread(max(q, Q_LIMIT))
        mean_l *= spec.sigma_w2 * m1
        rel_var += rl
    return mean, var, mean_l, mean_l**2 * rel_var, s1, r


def _power(base: float, exponent: int) -> float:
    try:
        return base**exponent
    except OverflowError:
        return math.inf
