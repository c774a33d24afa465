"""--residual: both engines on the same weights, and the gradient ratio against the recursion written here."""

from __future__ import annotations

import dataclasses
import math

import pytest
from engines_reference import assert_same_stats
from scipy import integrate

from dlcli import vanish
from dlcli.vanish.analysis import run
from dlcli.vanish.config import make_config
from dlcli.vanish.torch_engine import run_torch


@pytest.mark.parametrize("kwargs", [
    {"activation": "tanh", "depth": 6, "width": 24, "residual": True},
    {"activation": "relu", "layers": [20, 20, 30, 30, 10], "residual": True, "residual_scale": 0.5, "loss": "mse"},
    {"activation": "softsign", "depth": 4, "width": 16, "residual": True, "norm": "layer"},
    {"activation": "gelu", "depth": 5, "width": 16, "norm": "batch", "init": "kaiming"},
    {"activation": "sigmoid", "layers": [12, 16, 16, 8], "norm": "layer", "dtype": "float32"},
])
def test_numpy_and_torch_engines_agree_with_fixes(kwargs, on_host) -> None:
    config = make_config(batch=12, seed=3, **kwargs)
    torch_stats = run_torch(dataclasses.replace(config, engine="torch"), on_host=on_host)
    rtol = 1e-4 if config.dtype == "float32" else 1e-12
    assert_same_stats(vanish.run_numpy(config), torch_stats, rtol=rtol)


def _gauss(g, q: float) -> float:
    """E[g(√q Z)], Z ~ N(0, 1), by scipy quadrature."""
    s = math.sqrt(q)
    return integrate.quad(lambda z: g(s * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), -14, 14,
                          epsabs=1e-14, limit=200)[0]


def residual_tanh_ratio(depth: int, sigma_w2: float, alpha: float) -> float:
    """Yang & Schoenholz's recursions for a_l = a_{l−1} + α tanh(W a_{l−1}), tanh odd so E[a_l] = 0:
    q_l = σ_w² p_{l−1}, p_l = p_{l−1} + α² E[tanh²]; G_{l−1} = G_l (1 + α² σ_w² E[tanh'²]),
    E[δ_l²] = α² E[tanh'²] G_l."""
    p, qs = 1.0, []
    for _ in range(depth):
        q = sigma_w2 * p
        qs.append(q)
        p += alpha**2 * _gauss(lambda u: math.tanh(u) ** 2, q)
    d2 = [_gauss(lambda u: 1 / math.cosh(u) ** 4, q) for q in qs]
    g, delta2 = 1.0, [0.0] * depth
    for i in range(depth - 1, -1, -1):
        delta2[i] = alpha**2 * d2[i] * g
        g *= 1 + alpha**2 * sigma_w2 * d2[i]
    return math.sqrt(delta2[0] / delta2[-1])


@pytest.mark.parametrize(("gain", "alpha"), [(1.0, 1.0), (1.5, 0.5)])
def test_residual_tanh_gradient_ratio_matches_its_recursion(gain, alpha) -> None:
    config = make_config("tanh", depth=20, width=400, batch=64, init="normal", gain=gain, seed=2, residual=True,
                         residual_scale=alpha)
    result = run(config)
    expected = residual_tanh_ratio(20, gain**2, alpha)
    assert result.grad_rms_ratio == pytest.approx(expected, rel=0.05)  # width 400: finite-width scatter
    assert result.residual is not None
    assert result.residual.predicted_ratio == pytest.approx(expected, rel=1e-3)
    assert result.verdict == "healthy"


def test_a_layer_whose_width_changes_stays_plain_and_is_named() -> None:
    config = make_config("tanh", layers=[16, 16, 24, 24, 8], seed=1, residual=True)
    assert config.plain_layers() == [2, 4]
    result = run(config)
    assert result.residual is not None and result.residual.plain_layers == (2, 4)
    assert any("Layers 2, 4 change width and stay plain" in line for line in result.explanation)
    assert result.as_dict()["residual"]["plain_layers"] == [2, 4]


def test_residual_scale_must_be_positive() -> None:
    from dlcli.errors import InputError

    with pytest.raises(InputError, match="--residual-scale"):
        make_config("tanh", residual=True, residual_scale=0.0)
