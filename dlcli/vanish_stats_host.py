"""The torch engine's per-layer statistics on a CPU: numpy on each layer's tensors while they are in cache.

A CPU tensor is a numpy array without a copy, and numpy's reductions on a layer-sized array are 3-4× faster
than torch's (whose kernels split 32k-element work across threads and wait for them). Each layer's row is
taken as soon as its tensors exist: φ'(z_l) and a_l in the forward pass, ∂loss/∂z_l and ∂loss/∂W_l in
autograd hooks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlcli import activations
from dlcli.vanish import SATURATION_LEVEL, VanishConfig, inverse_power_of_two, max_abs_grad, norm2

# float32 sums of squares at least this large lost nothing that matters to underflow: squares below
# float32's smallest normal number (1.2e-38), a million of them, add up to 1.2e-32, a part in 1e7 of it.
SINGLE_SAFE_BELOW, SINGLE_SAFE_ABOVE = 1e-25, 1e35


class HostStatistics:
    """A (depth, 7) float64 table — ‖∂W‖, ‖δ‖, Σ(a−c), ‖a−c‖, saturated count, dead count, c — filled per layer."""

    wants_slope = True  # φ'(z_l) layer by layer, with a_l

    def __init__(self, config: VanishConfig, torch: Any, depth: int) -> None:
        self.torch = torch
        self.config = config
        self.table = np.zeros((depth, 7))
        self.threshold = SATURATION_LEVEL * max_abs_grad(config)
        self.exact = config.dtype == "float64"
        self.inverse = [1.0] * depth
        self.ones: dict[tuple[int, Any], np.ndarray] = {}

    def numpy(self, t: Any) -> np.ndarray:
        """The tensor's data, shared (float64, float32) or as float32 (bfloat16, which numpy lacks: exact)."""
        t = t.detach()
        return (t.float() if t.dtype == self.torch.bfloat16 else t).numpy()

    def on_layer(self, i: int, z: Any, dphi: Any, a: Any) -> None:
        """Layer i's forward row, from φ'(z) (None: the registry's φ' of z, in float64) and a."""
        if dphi is None:
            act = activations.get(self.config.activation)
            slope = act.grad(self.numpy(z).astype(np.float64), **self.config.params)
        else:
            slope = self.numpy(dphi)
        self.table[i, 2:] = self.forward_row(slope, self.numpy(a))

    def forward_row(self, slope: np.ndarray, a: np.ndarray) -> tuple[float, float, int, int, float]:
        flat = a.reshape(-1)
        if self.exact:  # Σa² − n·mean² then loses ~(mean/std)²·1e-16 relatively (1e-14 for a sigmoid layer)
            centre = 0.0
        else:           # at float32 precision, centre on one sample first so that nothing cancels
            centre = float(flat[0])
            flat = flat - flat.dtype.type(centre)
        saturated = np.abs(slope) < self.threshold  # NaN is neither saturated nor dead
        count = int(np.count_nonzero(saturated))
        if self.threshold <= 0:
            dead = int(np.count_nonzero((slope == 0).all(axis=0)))
        elif count < slope.shape[0]:  # a dead unit is saturated on every sample: none can be dead
            dead = 0
        else:  # look for zeros only in units saturated on every sample
            candidates = saturated.all(axis=0)
            dead = int(np.count_nonzero((slope[:, candidates] == 0).all(axis=0))) if candidates.any() else 0
        ones = self.ones.get((flat.size, flat.dtype))
        if ones is None:
            ones = self.ones[flat.size, flat.dtype] = np.ones(flat.size, flat.dtype)
        return float(flat @ ones), math.sqrt(float(flat @ flat)), count, dead, centre  # BLAS sums: 2-3× np.sum

    def on_delta(self, i: int) -> Any:
        def hook(g: Any) -> None:  # runs before layer i's ∂W is made from g
            delta = self.table[i, 1] = norm2(self.numpy(g))
            self.inverse[i] = inverse_power_of_two(delta)
        return hook

    def on_weight_grad(self, i: int) -> Any:
        def hook(g: Any) -> None:
            w = self.numpy(g)
            if self.exact:
                self.table[i, 0] = norm2(w)
            else:  # g is ours alone (autograd.grad hands it over, writes no .grad): scaled in place
                self.table[i, 0] = single_norm(w, self.inverse[i])
        return hook

    def hooks(self, zs: list[Any], weights: list[Any]) -> list[Any]:
        """Autograd hooks that take each ‖δ_l‖ and ‖∂W_l‖ as soon as autograd makes it (still in cache)."""
        return ([z.register_hook(self.on_delta(i)) for i, z in enumerate(zs)]
                + [w.register_hook(self.on_weight_grad(i)) for i, w in enumerate(weights)])

    def finish(self, grads: Any) -> np.ndarray:
        return self.table


def single_norm(x: np.ndarray, inverse: float) -> float:
    """‖x‖ of a float32 ∂W_l = δ_lᵀa_{l-1}, multiplied in place by `inverse`, a power of two near 1/‖δ_l‖.

    Scaled, its entries are O(√batch·max|a|), and their squares sum in float32 (one pass, where a float64
    copy would cost three) with an error of a few parts in 1e6, the precision of float32 gradients
    themselves; a sum still near float32's limits (activations near 0) is redone in float64.
    """
    flat = x.ravel(order="K")  # ∂W is aᵀδ transposed in memory: a view in memory order
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        flat *= np.float32(inverse)
        total = float(flat @ flat)
    if SINGLE_SAFE_BELOW < total < SINGLE_SAFE_ABOVE or total == 0.0 and not flat.any():
        return math.sqrt(total) / inverse
    return norm2(flat) / inverse
