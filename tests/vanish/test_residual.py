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


def test_theory_describes_the_residual_network_measured(cli) -> None:
    """--residual: `theory` is the residual recursion's prediction (checked against the recursion written above,
    and the measurement), the plain stack's mean field kept under `theory.plain_stack`, in JSON and plain text."""
    import json

    args = ("vanish", "--act", "tanh", "--depth", "20", "--width", "400", "--init", "normal", "--gain", "1",
            "--seed", "2", "--residual")
    result = cli(*args, "-f", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    theory, expected = doc["theory"], residual_tanh_ratio(20, 1.0, 1.0)
    assert theory["network"] == "residual"
    assert theory["predicted_ratio"] == pytest.approx(expected, rel=1e-3)
    assert theory["predicted_ratio"] == pytest.approx(doc["grad_rms_ratio"], rel=0.05)
    assert theory["per_layer_factor"] == pytest.approx(expected ** (1 / 19), rel=1e-3)
    assert theory["predicted_grad_rms"] == pytest.approx(doc["residual"]["predicted_grad_rms"])
    plain = theory["plain_stack"]  # tanh at σ_w² = 1 without skips: χ1 = 1 at q* = 0, ratio 1, not the residual's
    assert plain["chi1"] == pytest.approx(1.0, abs=1e-5) and plain["predicted_ratio"] == pytest.approx(1.0, abs=1e-3)
    assert expected > 3  # so the two cannot be confused
    text = cli(*args, "-f", "plain").stdout
    summary = next(line for line in text.splitlines() if line.startswith("# tanh: verdict"))
    assert f"network residual, per_layer_factor {theory['per_layer_factor']!r}" in summary
    assert f", predicted_ratio {theory['predicted_ratio']!r}," in summary
    assert f"plain_stack_predicted_ratio {plain['predicted_ratio']!r}" in summary


def test_theory_describes_the_batch_normalised_network_measured(cli) -> None:
    """--norm batch on identity layers: Yang et al. 2019's linear rate √((B−2)/(B−3)) a layer is `theory`."""
    import json

    result = cli("vanish", "--act", "identity", "--depth", "6", "--width", "32", "--batch", "10", "--norm", "batch",
                 "--loss", "mse", "--seed", "1", "-f", "json")
    assert result.exit_code == 0, result.output
    theory = json.loads(result.stdout)["theory"]
    factor = math.sqrt(8 / 7)
    assert theory["network"] == "batch norm" and theory["per_layer_factor"] == pytest.approx(factor, rel=1e-12)
    assert theory["predicted_ratio"] == pytest.approx(factor**5, rel=1e-12)
    # the plain identity stack at nn.Linear's default σ_w² = 1/3: χ1 = σ_w², far from batch norm's rate
    assert "chi1" not in theory and theory["plain_stack"]["chi1"] == pytest.approx(1 / 3, rel=1e-9)
