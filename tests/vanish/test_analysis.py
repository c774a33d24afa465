"""Measured per-layer factors against mean-field theory; verdicts and their words."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlcli import vanish
from dlcli.vanish import analysis as vanish_analysis
from dlcli.vanish.config import VanishConfig, make_config

WIDTH, DEPTH, BATCH = 512, 20, 8


PER_LAYER_TOL = 5 / math.sqrt(2 * WIDTH)


MEAN_TOL = 5 / math.sqrt(2 * WIDTH * (DEPTH - 1))


def measured_log_factors(config: VanishConfig) -> tuple[np.ndarray, vanish_analysis.VanishResult]:
    result = vanish_analysis.run(config)
    rms = np.array([s.grad_rms for s in result.layers])
    return np.log(rms[:-1] / rms[1:]), result


@pytest.mark.parametrize(("name", "init", "gain"), [
    ("tanh", "normal", 1.0),      # σ_w² = 1, σ_b² = 0
    ("relu", "normal", math.sqrt(2.0)),  # σ_w² = 2, σ_b² = 0
    ("sigmoid", "default", None),  # nn.Linear's init: σ_w² = 1/3, σ_b² = 1/(3N)
])
def test_measured_layer_factors_follow_mean_field_theory(name, init, gain) -> None:
    config = make_config(name, depth=DEPTH, width=WIDTH, batch=BATCH, init=init, gain=gain, seed=12)
    logs, result = measured_log_factors(config)
    predicted = np.array(result.theory.predicted_grad_rms)
    expected = np.log(predicted[:-1] / predicted[1:])   # layer by layer, from the input's variance
    assert np.all(np.abs(logs - expected) < PER_LAYER_TOL)
    assert abs(np.mean(logs - expected)) < MEAN_TOL


def test_relu_at_sigma_w2_two_keeps_gradients_at_sqrt_chi1_one() -> None:
    config = make_config("relu", depth=DEPTH, width=WIDTH, batch=BATCH, init="kaiming", seed=21)
    logs, result = measured_log_factors(config)
    assert result.theory.per_layer_factor == pytest.approx(1.0, abs=1e-6)  # χ1 = σ_w²/2 exactly
    assert np.all(np.abs(logs) < PER_LAYER_TOL)
    assert abs(logs.mean()) < MEAN_TOL


def test_sigmoid_per_layer_factor_is_sqrt_chi1_once_at_the_fixed_point() -> None:
    config = make_config("sigmoid", depth=DEPTH, width=WIDTH, batch=BATCH, seed=5)
    logs, result = measured_log_factors(config)
    q = np.array(result.theory.layer_q)
    settled = np.abs(q[:-1] / result.theory.q_star - 1) < 1e-3   # layers whose variance has reached q*
    assert settled.sum() >= 10
    target = math.log(result.theory.per_layer_factor)
    assert np.all(np.abs(logs[settled] - target) < PER_LAYER_TOL)
    assert abs(np.mean(logs[settled]) - target) < 5 / math.sqrt(2 * WIDTH * settled.sum())


def test_tanh_at_unit_gain_is_critical_at_its_fixed_point() -> None:
    config = make_config("tanh", depth=5, width=64, init="normal", gain=1.0, seed=1)
    theory = vanish_analysis.run(config).theory
    assert theory.q_star == pytest.approx(0.0, abs=1e-6)
    assert theory.chi1 == pytest.approx(1.0, abs=1e-5)


def test_default_sigmoid_stack_of_depth_20_vanishes() -> None:
    result = vanish_analysis.run(make_config("sigmoid", depth=20, width=256, batch=16, seed=0))
    assert result.verdict == "vanishing"
    assert result.gradient_ratio < vanish_analysis.VANISHING_BELOW
    assert result.theory.predicted_ratio < 1e-12
    assert result.theory.naive_bound == pytest.approx(0.25**19)


def test_verdicts_follow_thresholds() -> None:
    assert vanish_analysis.verdict(1e-3) == "vanishing"
    assert vanish_analysis.verdict(0.5) == "healthy"
    assert vanish_analysis.verdict(1e3) == "exploding"
    assert vanish_analysis.verdict(math.nan) == "vanishing"


def test_step_activation_has_no_gradient_anywhere() -> None:
    result = vanish_analysis.run(make_config("step", depth=3, width=16, batch=8, seed=0))
    assert all(s.dead_frac == 1.0 and s.grad_rms == 0.0 for s in result.layers)
    assert math.isnan(result.gradient_ratio) and result.verdict == "vanishing"


def test_a_level_weight_gradient_over_an_exploding_grad_rms_is_not_called_healthy_in_words() -> None:
    # ReLU with σ_w = 3: each layer down multiplies grad_rms by √χ1 = √(9/2) (theory: 2.12^29 ≈ 3e9 over 30
    # layers) while the activations grow as much going up, so ‖∂W_l‖ = ‖δ_lᵀa_(l−1)‖ stays level: the
    # contract's verdict (on ‖∂W‖) is healthy, but the words must not say the gradients keep their size.
    config = make_config("relu", depth=30, width=256, batch=64, seed=1, init="normal", gain=3.0)
    result = vanish_analysis.analyse(config, vanish.run_numpy(config))
    assert result.verdict == "healthy" and result.grad_rms_ratio > 1e8
    words = " ".join(result.explanation)
    assert "(exploding)" in words and "keep their size" not in words
    assert "--init normal --gain 1.414" in words  # σ_w² = 2: χ1 = 1 for relu
