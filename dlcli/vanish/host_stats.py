"""The torch engine's per-layer statistics on a CPU: numpy on the forward tensors, torch's dot on the gradients.

Each ∂W_l is made after the backward pass into one reused buffer and reduced while in cache; the measurements
behind these choices are in docs/vanish.md (Measurement history).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlcli import activations
from dlcli.vanish.config import VanishConfig
from dlcli.vanish.statistics import (
    FORWARD_COLUMNS,
    N_STATS,
    SATURATION_LEVEL,
    inverse_power_of_two,
    max_abs_grad,
    norm2,
)

# Sums of squares in these ranges lost nothing that matters to underflow or overflow. float64: squares
# below 1e-308 are lost, a part in 1e28 of a sum above 1e-280. float32 (summed after scaling): squares
# below float32's smallest normal number (1.2e-38), a million of them, add up to 1.2e-32, a part in 1e7.
SAFE_SUMS = {"float64": (1e-280, math.inf), "float32": (1e-25, 1e35)}


class HostStatistics:
    """The (depth, N_STATS) table of statistics.TABLE_COLUMNS, filled per layer in numpy."""

    slope_when = "after"  # every layer's row after the forward pass, in one loop: code and data in cache
    makes_weight_grads = True  # one at a time, into one buffer, each reduced while in cache

    def __init__(self, config: VanishConfig, torch: Any, depth: int) -> None:
        self.torch = torch
        self.config = config
        self.table = np.zeros((depth, N_STATS))
        self.threshold = SATURATION_LEVEL * max_abs_grad(config)
        self.exact = config.dtype == "float64"
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
        self.table[i, FORWARD_COLUMNS] = self.forward_row(slope, self.numpy(a))

    def forward_row(self, slope: np.ndarray, a: np.ndarray) -> tuple[float, float, int, int, float]:
        """The FORWARD_COLUMNS of one layer. `slope` is ours, and is overwritten by |φ'|."""
        flat = a.reshape(-1)
        if self.exact:  # Σa² − n·mean² then loses ~(mean/std)²·1e-16 relatively (1e-14 for a sigmoid layer)
            centre = 0.0
        else:           # at float32 precision, centre on one sample first so that nothing cancels
            centre = float(flat[0])
            flat = flat - flat.dtype.type(centre)
        magnitude = np.abs(slope, out=slope)  # |0| is 0 and |NaN| NaN: the dead test below still holds
        saturated = magnitude < self.threshold  # NaN is neither saturated nor dead
        count = int(np.count_nonzero(saturated))
        if self.threshold > 0 and count < magnitude.shape[0]:  # a dead unit is saturated on every sample
            dead = 0
        else:  # max over the batch: NaN where any φ' is, so NaN never counts as dead
            dead = int(np.count_nonzero(magnitude.max(axis=0) == 0))
        ones = self.ones.get((flat.size, flat.dtype))
        if ones is None:
            ones = self.ones[flat.size, flat.dtype] = np.ones(flat.size, flat.dtype)
        return float(flat @ ones), math.sqrt(float(flat @ flat)), count, dead, centre  # BLAS sums: 2-3× np.sum

    def finish(self, deltas: Any, layer_inputs: list[Any]) -> np.ndarray:
        """Fill in ‖∂W_l‖ and ‖δ_l‖ from each δ_l = ∂loss/∂z_l and the layer's input a_{l−1}."""
        torch = self.torch
        buffers: dict[tuple[int, int], Any] = {}
        with torch.no_grad():
            for i, (delta, layer_input) in enumerate(zip(deltas, layer_inputs, strict=True)):
                # in float64: a deep float32 stack's δ_l (~1e-30) square to subnormals, slow and then redone
                self.table[i, 1] = gradient_norm(torch, delta if delta.dtype == torch.float64 else delta.double())
                if self.table[i, 1] == 0.0 and (i == 0 or math.isfinite(self.table[i - 1, 3])):
                    continue  # δ_l = 0, a_{l-1} (or the normal input) finite: ∂W_l = 0 exactly (float32 deep stacks)
                shape = (delta.shape[1], layer_input.shape[1])
                if shape not in buffers:
                    buffers[shape] = torch.empty(shape, dtype=delta.dtype)
                weight_grad = torch.mm(delta.t(), layer_input, out=buffers[shape])  # as autograd's linear backward
                # 1/‖δ_l‖ scales ∂W_l near 1
                self.table[i, 0] = gradient_norm(torch, weight_grad, inverse_power_of_two(self.table[i, 1]))
        return self.table


def gradient_norm(torch: Any, t: Any, inverse: float = 1.0) -> float:
    """‖t‖ safe from underflow and overflow in one torch dot: float32/bfloat16 summed in float32 (after
    scaling t in place by `inverse`, a power of two near 1/‖t‖, if far from 1); a sum outside SAFE_SUMS is
    redone in float64 numpy (statistics.norm2)."""
    exact = t.dtype == torch.float64
    low, high = SAFE_SUMS["float64" if exact else "float32"]
    flat = t.reshape(-1) if exact or t.dtype == torch.float32 else t.reshape(-1).float()
    scale = 1.0 if exact or 2.0**-40 <= inverse <= 2.0**40 else inverse
    if scale != 1.0:
        flat.mul_(scale)
    total = float(flat.dot(flat))
    if low < total < high or total == 0.0 and _all_zero(torch, flat):
        return math.sqrt(total) / scale
    return norm2(flat.numpy()) / scale


def _all_zero(torch: Any, flat: Any) -> bool:
    """Whether every entry is 0 (not NaN), in one pass: aminmax takes a fifth of the time of any() here."""
    smallest, largest = torch.aminmax(flat)
    return float(smallest) == 0.0 == float(largest)
