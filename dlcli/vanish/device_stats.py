"""The torch engine's per-layer statistics on a GPU: reduced on the device in stacks of layers, no host
synchronisation per layer, a few copies to the host per run (why: docs/vanish.md, Measurement history).
It runs on a CPU too: the tests check it there against the host statistics and autograd.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from dlcli import activations
from dlcli.vanish.config import VanishConfig
from dlcli.vanish.statistics import SATURATION_LEVEL, inverse_power_of_two, max_abs_grad

# The largest stack of layers the forward statistics take together, counted at 8 bytes an element: on a
# GPU 1 GiB (a handful of launches for a deep stack); on a CPU 1 MiB, layers that are still in cache.
STACK_BYTES = {"cuda": 1 << 30, "cpu": 1 << 20}


class DeviceStatistics:
    """The (depth, N_STATS) table of statistics.TABLE_COLUMNS, reduced on the device."""

    slope_when = "forward"  # φ'(z_l) layer by layer (one launch, where the activation is one op), stacked
    makes_weight_grads = False  # autograd makes them all: their norms are then one fused launch

    def __init__(self, config: VanishConfig, torch: Any, depth: int, device: Any) -> None:
        self.torch = torch
        self.config = config
        self.forward_statistics = _ForwardStatistics(config, torch, device)

    def on_layer(self, i: int, z: Any, slope: Any, a: Any) -> None:
        self.forward_statistics.on_layer(z, slope, a)

    def finish(self, grads: Any, layer_inputs: list[Any]) -> np.ndarray:
        torch = self.torch
        depth = len(grads) // 2
        with torch.no_grad():
            forward_rows = self.forward_statistics.finish()
            weight = gradient_norms(torch, list(grads[depth:]), exact=self.config.dtype == "float64")
            delta = gradient_norms(torch, list(grads[:depth]), exact=self.config.dtype == "float64")
        return np.column_stack([weight, delta, forward_rows])


def gradient_norms(torch: Any, tensors: list[Any], exact: bool) -> np.ndarray:
    """Euclidean norms of many tensors, in float64 on the host, in three fused launches and three copies.

    torch._foreach_norm sums squares in float32 for float32 and bfloat16 tensors (float64 for float64):
    entries of a deep sigmoid stack's gradients, ~1e-40, square to 0 there. Norms outside a safe range
    are redone: each such tensor is multiplied by a power of two near 1/max|t| (exact) and its norm taken
    again; tensors whose max|t| is 0 have norm 0.
    """
    low, high = (1e-140, 1e140) if exact else (1e-12, 1e18)  # lost squares below a part in 1e7 of the sum
    acc = torch.float64 if exact else torch.float32
    norms = torch.stack(torch._foreach_norm(tensors, 2, dtype=acc)).to(torch.float64).cpu().numpy()
    suspects = [i for i, n in enumerate(norms.tolist()) if not low < n < high]
    if not suspects:
        return norms
    peaks = torch.stack(torch._foreach_norm([tensors[i] for i in suspects], math.inf, dtype=acc))
    peaks = peaks.to(torch.float64).cpu().numpy()
    rescale = [(i, peak) for i, peak in zip(suspects, peaks.tolist(), strict=True) if 0 < peak < math.inf]
    for i, peak in zip(suspects, peaks.tolist(), strict=True):
        norms[i] = peak  # 0, inf or nan: the norm is the same
    if rescale:
        scales = [inverse_power_of_two(peak, 1020 if exact else 126) for _, peak in rescale]
        scaled = torch._foreach_mul([tensors[i] for i, _ in rescale], scales)
        again = torch.stack(torch._foreach_norm(scaled, 2, dtype=acc)).to(torch.float64).cpu().numpy()
        for (i, _), scale, n in zip(rescale, scales, again.tolist(), strict=True):
            norms[i] = n / scale
    return norms


class _ForwardStatistics:
    """The FORWARD_COLUMNS (statistics.TABLE_COLUMNS) of every layer, from φ'(z_l) (or z_l) and a_l, reduced
    on stacks of equal-width layers as each fills, during the forward pass; finish() joins them, one copy to
    the host. φ'(z) comes with each layer (torch_engine._AutogradSlope) or from forward-mode AD on z."""

    def __init__(self, config: VanishConfig, torch: Any, device: Any) -> None:
        self.torch = torch
        self.config = config
        self.threshold = SATURATION_LEVEL * max_abs_grad(config)
        self.stack_bytes = STACK_BYTES.get(device.type, STACK_BYTES["cuda"])
        self.derivative = _derivative(torch, activations.get(config.activation), config.params)
        self.parts: list[tuple[Any, Any, Any, Any]] = []  # per stack: saturated, dead, var, mean, each (layers,)
        self.pending: list[tuple[Any, Any, Any]] = []
        self.buffers: dict[Any, Any] = {}  # stacks reuse their memory: no fresh pages for every stack

    def on_layer(self, z: Any, slope: Any, a: Any) -> None:
        if self.pending and (self.pending[0][0].shape != z.shape
                             or (len(self.pending) + 1) * z.numel() * 8 > self.stack_bytes):
            self._flush()
        self.pending.append((z, slope, a))  # stacked under no_grad: no graph, and no detach() per layer

    def _flush(self) -> None:
        torch = self.torch
        with torch.no_grad():
            if self.pending[0][1] is None:
                dphi = self.derivative(self._stack("z", [z for z, _, _ in self.pending]))
            else:
                dphi = self._stack("dphi", [slope for _, slope, _ in self.pending])  # (layers, batch, width)
            self.parts.append(self.reduce(dphi, self._stack("a", [a for _, _, a in self.pending])))
        self.pending = []

    def finish(self) -> np.ndarray:
        """The FORWARD_COLUMNS of every layer, a float64 table on the host."""
        if self.pending:
            self._flush()
        torch = self.torch
        columns = torch.stack([torch.cat(column).to(torch.float64) for column in zip(*self.parts, strict=True)])
        saturated, dead, var, mean = columns.cpu().numpy()
        n = self.config.batch * np.array(self.config.widths[1:], dtype=np.float64)
        # as Σ(a−c) = 0, ‖a−c‖ and c = the mean: the same columns the host statistics fill
        return np.column_stack([np.zeros_like(mean), np.sqrt(var * n), saturated, dead, mean])

    def _stack(self, name: str, tensors: list[Any]) -> Any:
        first = tensors[0]
        if len(tensors) == 1:  # a view, not a copy (reduce() changes only φ'(z), which is ours)
            return first.unsqueeze(0)
        key = (name, first.shape, first.dtype)
        buffer = self.buffers.get(key)
        if buffer is None or buffer.shape[0] < len(tensors):
            rows = max(len(tensors), self.stack_bytes // (first.numel() * 8))
            buffer = self.buffers[key] = self.torch.empty((rows, *first.shape), dtype=first.dtype,
                                                          device=first.device)
        return self.torch.stack(tensors, out=buffer[:len(tensors)])

    def reduce(self, dphi: Any, a: Any) -> tuple[Any, Any, Any, Any]:
        """Saturated count, dead count, variance and mean of a, each (layers,), from φ'(z) and a, each
        (layers, batch, width): seven launches; the conversions wait for finish(), a few launches per run."""
        torch = self.torch
        dphi = dphi.abs_()  # ours to change
        saturated = (dphi < self.threshold).sum(dim=(1, 2))  # NaN < threshold is False
        dead = (dphi.amax(dim=1) == 0).sum(dim=1)
        # Mean and variance in one pass (Welford: no cancellation, whatever mean/std), in float32 at least:
        # var_mean returns its input's dtype, and bfloat16 would round them to 8 bits.
        var, mean = torch.var_mean(a if a.dtype in (torch.float64, torch.float32) else a.float(), dim=(1, 2),
                                   correction=0)
        return saturated, dead, var, mean


def _derivative(torch: Any, act: Any, params: dict[str, float]) -> Any:
    """z ↦ φ'(z) element by element: forward-mode AD (one pass, ~half the cost of a backward pass), or
    reverse mode for an activation whose torch ops lack forward-mode formulas."""
    import torch.autograd.forward_ad as fwad

    ones: dict[Any, Any] = {}
    state = {"forward": True}

    def reverse(z: Any) -> Any:
        zd = z.detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(act.torch_ref(torch, zd, params).sum(), zd)
        return grad

    def forward(z: Any, tangent: Any) -> Any:
        with fwad.dual_level():
            return fwad.unpack_dual(act.torch_ref(torch, fwad.make_dual(z, tangent), params)).tangent

    def derivative(z: Any) -> Any:
        if state["forward"]:
            key = (z.shape, z.dtype, z.device)
            if key not in ones:
                ones[key] = torch.ones_like(z)
            try:
                if state.get("warmed"):
                    tangent = forward(z, ones[key])
                else:
                    with warnings.catch_warnings():
                        # torch's forward-AD set-up warns once that torch.jit.script is deprecated: not ours
                        warnings.simplefilter("ignore", DeprecationWarning)
                        tangent = forward(z, ones[key])
                    state["warmed"] = True
                return torch.zeros_like(z) if tangent is None else tangent
            except (NotImplementedError, RuntimeError):
                state["forward"] = False
        return reverse(z)

    return derivative
