"""Shared by the vanish engine tests: an independent torch reference, and the statistics comparison."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcli import activations, vanish
from dlcli.vanish.config import VanishConfig

STAT_FIELDS = ("weight_grad_norm", "grad_rms", "act_mean", "act_std", "saturated_frac", "dead_frac")


def reference_torch_grads(config: VanishConfig) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """∂loss/∂z_l and ∂loss/∂W_l from a torch model built here, independently of dlcli.vanish_torch
    (in float32 for a float32 config, else float64)."""
    net = vanish.build_numpy(config)
    act = activations.get(config.activation)
    dtype = torch.float32 if config.dtype == "float32" else torch.float64
    a = torch.tensor(net.x, dtype=dtype)
    zs, weights = [], []
    for w, b in zip(net.weights, net.biases, strict=True):
        lin = torch.nn.Linear(w.shape[1], w.shape[0], dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w))
            lin.bias.copy_(torch.tensor(b))
        z = lin(a)
        zs.append(z)
        weights.append(lin.weight)
        a = act.torch_ref(torch, z, config.params)
    head = torch.tensor(net.head, dtype=dtype)
    loss = 0.5 * ((a - head) ** 2).sum() if config.loss == "mse" else (a @ head).sum()
    grads = torch.autograd.grad(loss, zs + weights)
    depth = len(zs)
    return [g.numpy() for g in grads[:depth]], [g.numpy() for g in grads[depth:]]


def assert_same_stats(a: list[vanish.LayerStats], b: list[vanish.LayerStats], rtol: float) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x.layer, x.width) == (y.layer, y.width)
        for name in STAT_FIELDS:
            assert getattr(x, name) == pytest.approx(getattr(y, name), rel=rtol, abs=1e-300,
                                                                 nan_ok=True), (x.layer, name)


@pytest.fixture(params=[True, False], ids=["host-stats", "device-stats"])
def on_host(request) -> bool:
    """The torch engine's two ways of taking statistics: numpy per layer (CPU), tensors on the device (GPU)."""
    return request.param
