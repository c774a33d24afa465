"""--norm: the numpy engine's written-out backward against torch autograd, and the growth per layer against
Yang et al. 2019 (batch norm) and the wide-limit layer-norm rate (quadrature here)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from dlcli import activations, vanish
from dlcli.vanish.config import make_config
from dlcli.vanish.numpy_engine import build_numpy, forward_backward


def autograd_deltas(config) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """∂loss/∂z_l (z before the normalisation) and ∂loss/∂W_l by a torch loop and autograd written here."""
    net = build_numpy(config)
    act = activations.get(config.activation)
    a = torch.tensor(net.x)
    zs, ws = [], []
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        wt = torch.tensor(w, requires_grad=True)
        z = a @ wt.T + torch.tensor(b)
        zs.append(z)
        ws.append(wt)
        zh = (torch.nn.functional.batch_norm(z, None, None, training=True, eps=1e-5) if config.norm == "batch"
              else torch.nn.functional.layer_norm(z, (z.shape[1],), eps=1e-5))
        phi = act.torch_ref(torch, zh, config.params)
        a = a + config.residual_scale * phi if config.is_residual(i + 1) else phi
    head = torch.tensor(net.head)
    loss = 0.5 * ((a - head) ** 2).sum() if config.loss == "mse" else (a @ head).sum()
    grads = torch.autograd.grad(loss, zs + ws)
    return [g.numpy() for g in grads[: len(zs)]], [g.numpy() for g in grads[len(zs):]]


@pytest.mark.parametrize("kwargs", [
    {"activation": "tanh", "norm": "batch"},
    {"activation": "relu", "norm": "layer", "loss": "mse"},
    {"activation": "elu", "norm": "batch", "residual": True, "residual_scale": 0.6},
    {"activation": "sigmoid", "norm": "layer", "residual": True},
])
def test_normalisation_backward_matches_autograd(kwargs) -> None:
    config = make_config(depth=4, width=12, batch=6, seed=7, **kwargs)
    deltas, dws = autograd_deltas(config)
    for layer, _, _, delta, dw in forward_backward(config, build_numpy(config)):
        np.testing.assert_allclose(delta, deltas[layer - 1], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(dw, dws[layer - 1], rtol=1e-10, atol=1e-14)


def measured_factor(config, skip: int = 3) -> float:
    """The geometric-mean grad_rms factor per layer going down, away from the top and the input layers."""
    rms = [s.grad_rms for s in vanish.run_numpy(config)]
    lo, hi = skip, config.depth - skip
    return (rms[lo - 1] / rms[hi - 1]) ** (1.0 / (hi - lo))


@pytest.mark.parametrize("batch", [8, 16])
def test_linear_batch_norm_growth_is_the_papers_rate(batch) -> None:
    # Yang et al. 2019: a linear batch-norm network's gradient grows by (B−2)/(B−3) a layer in mean square.
    # (At B = 4 a unit's 1/σ² has infinite variance: one seed's rate scatters by ±5%, so B ≥ 8 here.)
    config = make_config("identity", depth=20, width=400, batch=batch, norm="batch", init="normal", loss="mse", seed=1)
    assert measured_factor(config) == pytest.approx(math.sqrt((batch - 2) / (batch - 3)), rel=0.015)
    result = vanish.run(config)
    assert result.norm is not None
    assert result.norm.predicted_factor == pytest.approx(math.sqrt((batch - 2) / (batch - 3)), rel=1e-12)


@pytest.mark.parametrize(("batch", "rel"), [(64, 0.025), (256, 0.012)])
def test_relu_batch_norm_growth_approaches_the_large_batch_limit(batch, rel) -> None:
    # Yang et al. 2019: ReLU's rate tends to π/(π−1) in mean square as B → ∞, from above (O(1/B) more at finite B)
    config = make_config("relu", depth=16, width=400, batch=batch, norm="batch", init="kaiming", seed=1)
    limit = math.sqrt(math.pi / (math.pi - 1))
    measured = measured_factor(config)
    assert measured == pytest.approx(limit, rel=rel)


def _gauss(g) -> float:
    return integrate.quad(lambda z: g(z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), -14, 14, epsabs=1e-14)[0]


@pytest.mark.parametrize("name", ["tanh", "relu"])
def test_layer_norm_growth_is_the_wide_limit_rate(name) -> None:
    # with ẑ ~ N(0, 1) in every layer: σ_w² E[φ'(Z)²] / (σ_w² E[φ(Z)²] + σ_b²), here σ_b = 0
    phi = {"tanh": math.tanh, "relu": lambda u: max(u, 0.0)}[name]
    dphi = {"tanh": lambda u: 1 / math.cosh(u) ** 2, "relu": lambda u: float(u > 0)}[name]
    expected = math.sqrt(_gauss(lambda z: dphi(z) ** 2) / _gauss(lambda z: phi(z) ** 2))
    config = make_config(name, depth=16, width=400, batch=32, norm="layer", init="normal", gain=1.7, seed=1)
    assert measured_factor(config) == pytest.approx(expected, rel=0.02)
    assert vanish.run(config).norm.predicted_factor == pytest.approx(expected, rel=1e-5)


def test_batch_norm_needs_two_examples() -> None:
    from dlcli.errors import InputError

    with pytest.raises(InputError, match="--norm batch needs --batch of at least 2"):
        make_config("tanh", norm="batch", batch=1)
