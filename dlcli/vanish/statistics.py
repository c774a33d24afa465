"""The per-layer statistics both engines report, and the norms they are made from."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from dlcli import activations
from dlcli.vanish.config import VanishConfig

SATURATION_LEVEL = 0.01  # a unit-sample is saturated where |φ'(z)| < 1% of max|φ'|
# A unit is dead where φ'(z) = 0 on every example; a live relu unit, active on half the examples, is 0 on all of
# n of them with probability 2^−n: from 8 examples (1/256) on a dead share means dead units, below it chance.
MIN_DEAD_EXAMPLES = 8


def dead_units_note(examples: int, option: str = "--batch") -> str:
    """Why no dead share is given for fewer than MIN_DEAD_EXAMPLES examples (`option`: what sets their number)."""
    return (f"Dead units need ≥ {MIN_DEAD_EXAMPLES} examples; got {examples} ({option}): a relu unit live on half "
            "the examples is 0 on all n of them with probability 2^−n, so no unit is called dead (dead_frac empty).")

# The torch engine's per-layer table, one row per layer, named here once: both ways of taking the statistics
# (host_stats, device_stats) fill these columns and torch_engine.to_layer_stats reads them. The centre c keeps
# the variance from cancelling at low precision: Var a = ‖a−c‖²/n − (Σ(a−c)/n)².
TABLE_COLUMNS = (
    ("weight_grad_norm", "‖∂W‖, the Frobenius norm of ∂loss/∂W_l"),
    ("delta_norm", "‖δ‖, the norm of δ_l = ∂loss/∂z_l over batch and units"),
    ("centred_sum", "Σ(a−c) over batch and units"),
    ("centred_norm", "‖a−c‖"),
    ("saturated", "the count of unit-samples with |φ'(z)| below the saturation threshold"),
    ("dead", "the count of units with φ'(z) = 0 for every sample"),
    ("centre", "c, a centring constant for a (0, a sample of a, or its mean)"),
)
N_STATS = len(TABLE_COLUMNS)
FORWARD_COLUMNS = slice(2, N_STATS)  # the columns taken from the forward pass, centred_sum to centre


@dataclass(frozen=True)
class LayerStats:
    layer: int
    width: int
    weight_grad_norm: float   # Frobenius norm of ∂loss/∂W_l
    grad_rms: float           # root mean square of ∂loss/∂z_l over batch and units
    act_mean: float
    act_std: float
    saturated_frac: float     # share of unit-samples with |φ'(z)| < 1% of max|φ'|
    dead_frac: float          # share of units with φ'(z) = 0 for every sample (NaN below MIN_DEAD_EXAMPLES)

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def inverse_power_of_two(x: float, limit: int = 126) -> float:
    """A power of two near 1/x (x > 0 and finite; else 1), its exponent within ±limit: multiplying by it is
    exact, and keeps a float32 (limit 126) or float64 (limit 1020) scale a normal number."""
    if not 0 < x < math.inf:
        return 1.0
    return 2.0 ** -min(max(math.frexp(x)[1], -limit), limit)


def norm2(x: np.ndarray) -> float:
    """Euclidean norm of all entries in float64, safe from underflow and overflow (entries below 1e-154
    square to 0, above 1e154 to inf): those sums are redone after scaling by the largest entry."""
    flat = np.asarray(x, dtype=np.float64).ravel(order="K")  # in memory order: no copy of a transpose
    with np.errstate(over="ignore", under="ignore"):
        total = float(flat @ flat)
    if 1e-280 < total < math.inf or total == 0.0 and not flat.any():
        return math.sqrt(total)
    scale = float(np.abs(flat).max())
    if scale == 0.0 or not math.isfinite(scale):
        return scale
    flat = flat / scale
    return scale * math.sqrt(float(flat @ flat))


def layer_stats(layer: int, z_dphi: np.ndarray, a: np.ndarray, delta: np.ndarray, dw: np.ndarray,
                sat_threshold: float) -> LayerStats:
    """The per-layer statistics, all computed in float64 whatever the working dtype."""
    a64 = np.asarray(a, dtype=np.float64)
    zero_grad = z_dphi == 0.0
    return LayerStats(
        layer=layer, width=a.shape[1],
        weight_grad_norm=norm2(dw),
        grad_rms=norm2(delta) / math.sqrt(delta.size),
        act_mean=float(a64.mean()), act_std=float(a64.std()),
        saturated_frac=float(np.count_nonzero(np.abs(z_dphi) < sat_threshold)) / z_dphi.size,
        dead_frac=float(np.count_nonzero(zero_grad.all(axis=0))) / z_dphi.shape[1]
        if z_dphi.shape[0] >= MIN_DEAD_EXAMPLES else math.nan,
    )


def max_abs_grad(config: VanishConfig) -> float:
    """max|φ'| over the real line (a golden-section search: cached, as every run asks for it)."""
    return _max_abs_grad(config.activation, tuple(sorted(config.params.items())))


@functools.lru_cache(maxsize=64)
def _max_abs_grad(name: str, params: tuple[tuple[str, float], ...]) -> float:
    return activations.properties(activations.get(name), dict(params)).max_abs_grad
