"""The numpy engine: forward and backward written out for a stack of dense layers.

The network: z_l = W_l a_{l-1} + b_l, a_l = φ(z_l) for l = 1..L, standard-normal inputs a_0, and a loss at
the top, by default the fixed random projection Σ_batch v·a_L, whose gradient v does not depend on the
forward pass. Losses are sums over the batch, so per-example gradients do not depend on the batch size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dlcli import activations
from dlcli.vanish import blas
from dlcli.vanish.config import NORM_EPS, Progress, VanishConfig
from dlcli.vanish.statistics import SATURATION_LEVEL, LayerStats, layer_stats, max_abs_grad
from dlcli.vanish.weights import inputs, layer_weights, loss_grad, loss_head


@dataclass
class NumpyNetwork:
    """Weights, biases, inputs and loss head in the working dtype."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    x: np.ndarray
    head: np.ndarray


def build_numpy(config: VanishConfig, progress: Progress | None = None) -> NumpyNetwork:
    dtype = np.dtype(config.dtype)
    pairs = []
    for layer in range(1, config.depth + 1):
        pairs.append(layer_weights(config, layer))
        if progress:
            progress("weights", layer, config.depth)
    return NumpyNetwork(
        weights=[w.astype(dtype, copy=False) for w, _ in pairs],
        biases=[b.astype(dtype, copy=False) for _, b in pairs],
        x=inputs(config).astype(dtype, copy=False),
        head=loss_head(config),
    )


def forward_backward(config: VanishConfig, net: NumpyNetwork, progress: Progress | None = None,
                     ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Forward through the stack, then yield (layer, φ'(ẑ_l), a_l, ∂loss/∂z_l, ∂loss/∂W_l) from L down to 1
    (ẑ_l = z_l, or z_l normalised under --norm).

    φ and φ' come from the registry in float64; matrix products run in the working dtype.
    """
    act = activations.get(config.activation)
    params = config.params
    dtype = net.x.dtype
    depth = config.depth
    alpha = dtype.type(config.residual_scale)
    zs: list[np.ndarray] = []
    inv_stds: list[np.ndarray | None] = []
    outs: list[np.ndarray] = [net.x]
    for i in range(depth):
        z = outs[-1] @ net.weights[i].T + net.biases[i]
        z, inv_std = normalise(z, config.norm)
        zs.append(z)
        inv_stds.append(inv_std)
        phi = act.fn(z.astype(np.float64, copy=False), **params).astype(dtype, copy=False)
        outs.append(outs[-1] + alpha * phi if config.is_residual(i + 1) else phi)
        if progress:
            progress("forward", i + 1, depth)
    g = loss_grad(config, outs[-1], net.head)
    for i in range(depth - 1, -1, -1):
        dphi = act.grad(zs[i].astype(np.float64, copy=False), **params)
        a = outs[i + 1]
        residual = config.is_residual(i + 1)
        delta = g * dphi.astype(dtype, copy=False)
        if residual:
            delta *= alpha
        delta = normalise_backward(delta, zs[i], inv_stds[i], config.norm)
        dw = delta.T @ outs[i]
        if i:
            g = g + delta @ net.weights[i] if residual else delta @ net.weights[i]
        zs[i] = outs[i + 1] = None  # type: ignore[call-overload]  # free memory as we go down
        yield i + 1, dphi, a, delta, dw
        if progress:
            progress("backward", depth - i, depth)


def normalise(z: np.ndarray, norm: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(ẑ, 1/√(var + ε)): z centred and scaled over the batch (axis 0) or the units (axis 1), as torch's
    batch_norm (training) and layer_norm without affine parameters; (z, None) for norm "none"."""
    if norm == "none":
        return z, None
    axis = 0 if norm == "batch" else 1
    centred = z - z.mean(axis=axis, keepdims=True)
    inv_std = 1.0 / np.sqrt((centred * centred).mean(axis=axis, keepdims=True) + NORM_EPS)
    return centred * inv_std, inv_std


def normalise_backward(g: np.ndarray, z_hat: np.ndarray, inv_std: np.ndarray | None, norm: str) -> np.ndarray:
    """∂loss/∂z from g = ∂loss/∂ẑ: (g − mean(g) − ẑ·mean(g·ẑ))/√(var + ε), means over the normalised axis."""
    if norm == "none" or inv_std is None:
        return g
    axis = 0 if norm == "batch" else 1
    return inv_std * (g - g.mean(axis=axis, keepdims=True) - z_hat * (g * z_hat).mean(axis=axis, keepdims=True))


def run_numpy(config: VanishConfig, progress: Progress | None = None, net: NumpyNetwork | None = None,
              ) -> list[LayerStats]:
    """Per-layer statistics (layer 1 first) from the numpy engine (on `net` where the caller built it)."""
    net = build_numpy(config, progress) if net is None else net
    threshold = SATURATION_LEVEL * max_abs_grad(config)
    # Products below ~16M multiply-adds gain nothing from a second BLAS thread (see dlcli.blas).
    small = config.batch * max(i * o for i, o in zip(config.widths, config.widths[1:], strict=False)) < 1 << 24
    # NaN/inf is reported as the run's finding (analysis.non_finite), not as numpy's warnings on stderr
    with blas.single_thread(small), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        stats = [layer_stats(layer, dphi, a, delta, dw, threshold)
                 for layer, dphi, a, delta, dw in forward_backward(config, net, progress)]
    return stats[::-1]
