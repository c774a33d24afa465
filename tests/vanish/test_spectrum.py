"""The Jacobian spectrum: J against torch.func, and its moments against free probability (computed here)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import integrate

from dlcli import activations
from dlcli.vanish.analysis import run
from dlcli.vanish.config import make_config
from dlcli.vanish.spectrum import jacobian_spectrum, jacobians, spectrum_inputs
from dlcli.vanish.weights import layer_weights


def torch_jacobian(config, x: np.ndarray) -> np.ndarray:
    """∂a_L/∂a_0 by torch.func.jacrev through a loop written here (layer norm, skip connections)."""
    act = activations.get(config.activation)
    layers = [tuple(torch.tensor(m) for m in layer_weights(config, i)) for i in range(1, config.depth + 1)]

    def f(a):
        for i, (w, b) in enumerate(layers):
            z = w @ a + b
            if config.norm == "layer":
                z = torch.nn.functional.layer_norm(z, z.shape, eps=1e-5)
            phi = act.torch_ref(torch, z, config.params)
            a = a + config.residual_scale * phi if config.is_residual(i + 1) else phi
        return a

    return torch.func.jacrev(f)(torch.tensor(x)).numpy()


@pytest.mark.parametrize("kwargs", [
    {"activation": "tanh", "depth": 3, "width": 12, "init": "normal", "gain": 1.3, "bias_std": 0.1},
    {"activation": "relu", "layers": [10, 14, 14, 8]},
    {"activation": "tanh", "depth": 3, "width": 12, "residual": True, "residual_scale": 0.7},
    {"activation": "sigmoid", "layers": [10, 12, 12, 9], "norm": "layer", "residual": True},
])
def test_jacobians_match_torch_func(kwargs) -> None:
    config = make_config(seed=4, spectrum_samples=3, **kwargs)
    x = spectrum_inputs(config, 0.8)
    ours = jacobians(config, x)
    for s in range(3):
        np.testing.assert_allclose(ours[s], torch_jacobian(config, x[s]), rtol=1e-10, atol=1e-13)


# Free probability (Pennington, Schoenholz & Ganguli 2017), written out here: with χ = σ_w² μ1 = 1,
# var(σ²) = L·(μ2/μ1² − 1 − s1), μk = E[φ'^(2k)], s1 = −1 Gaussian, 0 orthogonal.
# Linear: μ2/μ1² = 1; ReLU: φ'² ∈ {0, 1} with probability ½ each, μ1 = μ2 = ½, μ2/μ1² = 2.
@pytest.mark.parametrize(("act", "init", "gain", "ratio", "s1"), [
    ("identity", "normal", 1.0, 1.0, -1.0),
    ("identity", "orthogonal", 1.0, 1.0, 0.0),
    ("relu", "normal", math.sqrt(2), 2.0, -1.0),
    ("relu", "orthogonal", math.sqrt(2), 2.0, 0.0),
])
def test_spectrum_moments_match_free_probability(act, init, gain, ratio, s1) -> None:
    depth = 4
    config = make_config(act, depth=depth, width=400, init=init, gain=gain, seed=5, spectrum_samples=4)
    sp = jacobian_spectrum(config)
    var = depth * (ratio - 1 - s1)
    # 4 examples × 400 singular values at depth/width = 1%: the mean within 8%, the variance within 15%
    assert sp.mean_sq == pytest.approx(1.0, rel=0.08)
    if var == 0:
        assert sp.var_sq < 1e-20 and sp.isometric
    else:
        assert sp.var_sq == pytest.approx(var, rel=0.15)
        assert not sp.isometric
    assert sp.predicted_var_sq == pytest.approx(var, rel=1e-6)
    assert sp.predicted_mean_sq == pytest.approx(1.0, rel=1e-6)


def test_tanh_near_zero_fixed_point_with_orthogonal_weights_is_isometric() -> None:
    # σ_b = 0.003 at the critical gain: q* ≈ 0.02, each layer adds μ2/μ1² − 1 (quadrature here) to var/mean²
    config = make_config("tanh", depth=12, width=400, init="orthogonal", gain=1.018894, bias_std=0.003, seed=2,
                         spectrum_samples=2)
    sp = jacobian_spectrum(config)

    def e(g, q):
        return integrate.quad(lambda z: g(math.sqrt(q) * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi),
                              -12, 12, epsabs=1e-13)[0]

    mu1 = e(lambda u: 1 / math.cosh(u) ** 4, sp.q_star)
    mu2 = e(lambda u: 1 / math.cosh(u) ** 8, sp.q_star)
    assert sp.spread_per_layer == pytest.approx(mu2 / mu1**2 - 1, rel=1e-4)
    assert sp.isometric
    assert sp.var_sq == pytest.approx(12 * (mu2 / mu1**2 - 1), rel=0.3)


def test_spectrum_json_contract() -> None:
    result = run(make_config("tanh", depth=3, width=16, seed=1, spectrum_samples=2))
    spectrum = result.as_dict()["spectrum"]
    for key in ("mean_sq", "var_sq", "max", "condition", "predicted_mean_sq", "predicted_var_sq", "samples"):
        assert key in spectrum
    assert spectrum["samples"] == 2


def test_cli_fix_options_in_every_format(cli) -> None:
    args = ("vanish", "--act", "tanh", "--depth", "4", "--width", "16", "--seed", "1", "--residual", "--spectrum",
            "--spectrum-samples", "2")
    doc = json.loads(cli(*args, "-f", "json").stdout)
    assert doc["config"]["residual"] and doc["spectrum"]["samples"] == 2 and "residual" in doc
    plain = cli(*args, "-f", "plain").stdout
    assert "# tanh residual: " in plain and "# tanh spectrum: mean_sq " in plain
    table = cli(*args, "-f", "table")
    assert table.exit_code == 0 and "singular values of J" in table.stdout
    bad = cli("vanish", "--act", "tanh", "--norm", "batch", "--spectrum")
    assert bad.exit_code == 2 and "--spectrum with --norm batch" in bad.stderr
    assert cli("vanish", "--norm", "group").exit_code == 2
