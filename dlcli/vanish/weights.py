"""Weights, inputs and the loss head, generated once in float64 and shared by both engines."""

from __future__ import annotations

import math

import numpy as np

from dlcli.vanish import blas
from dlcli.vanish.config import VanishConfig


def stream_rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    """Stream `stream` (inputs 0, loss head 1, weights 2), item `index` (the layer) of `seed`."""
    # Independent streams per purpose and layer: the weights do not change with --batch or --loss,
    # and layer l's weights do not change with --depth.
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, index)))


def _rng(config: VanishConfig, stream: int, index: int = 0) -> np.random.Generator:
    return stream_rng(config.seed, stream, index)


def draw_weight(rng: np.random.Generator, init: str, g: float, rows: int, fan_in: int, fan_out: int) -> np.ndarray:
    """A (rows, fan_in) float64 weight: default/xavier uniform, orthogonal, else N(0, g²/fan_in)."""
    if init == "default":
        bound = g / math.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=(rows, fan_in))
    if init == "xavier":
        bound = g * math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, size=(rows, fan_in))
    if init == "orthogonal":
        return g * _orthogonal(rng, rows, fan_in)
    return rng.standard_normal((rows, fan_in)) * (g / math.sqrt(fan_in))


def layer_weights(config: VanishConfig, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) of layer `layer` (1-based), W shaped (fan_out, fan_in) like nn.Linear.weight, float64."""
    fan_in, fan_out = config.widths[layer - 1], config.widths[layer]
    rng = _rng(config, 2, layer)
    w = draw_weight(rng, config.init, config.gain, fan_out, fan_in, fan_out)
    if config.bias_std is not None:
        b = rng.standard_normal(fan_out) * config.bias_std
    elif config.init == "default":
        bound = 1.0 / math.sqrt(fan_in)
        b = rng.uniform(-bound, bound, size=fan_out)
    else:
        b = np.zeros(fan_out)
    return w, b


def _orthogonal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """torch.nn.init.orthogonal_'s construction: QR of a Gaussian matrix, signs fixed by diag(R)."""
    flat = rng.standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    with blas.single_thread(rows * cols <= 1 << 20):  # 4.4 s on two busy threads at 400², 25 ms on one
        q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    return q.T if rows < cols else q


def inputs(config: VanishConfig) -> np.ndarray:
    """The batch of standard-normal inputs, (batch, n_0)."""
    return _rng(config, 0).standard_normal((config.batch, config.widths[0]))


def loss_head(config: VanishConfig) -> np.ndarray:
    """The projection v (n_L,) for the projection loss, or the targets (batch, n_L) for MSE."""
    rng = _rng(config, 1)
    if config.loss == "mse":
        return rng.standard_normal((config.batch, config.widths[-1]))
    return rng.standard_normal(config.widths[-1])


def loss_grad(config: VanishConfig, top: np.ndarray, head: np.ndarray) -> np.ndarray:
    """∂loss/∂a_L for the batch: v for Σ v·a_L, a_L − t for ½ Σ ‖a_L − t‖²."""
    if config.loss == "mse":
        return top - head.astype(top.dtype)
    return np.broadcast_to(head.astype(top.dtype), top.shape)
