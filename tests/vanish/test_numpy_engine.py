"""The numpy engine against torch autograd: gradients, underflow, float32, progress."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from engines_reference import assert_same_stats, reference_torch_grads

from dlcli import vanish
from dlcli.vanish.config import make_config


@pytest.mark.parametrize(("name", "params", "loss", "init"), [
    ("sigmoid", {}, "projection", "default"),
    ("tanh", {}, "mse", "xavier"),
    ("relu", {}, "projection", "kaiming"),
    ("elu", {"alpha": 0.5}, "mse", "orthogonal"),
    ("softplus", {"beta": 2.0}, "projection", "normal"),
])
def test_numpy_gradients_equal_torch_autograd(name, params, loss, init) -> None:
    config = make_config(name, depth=6, width=24, batch=5, params=params, loss=loss, init=init, seed=7)
    ref_dz, ref_dw = reference_torch_grads(config)
    net = vanish.build_numpy(config)
    for layer, _dphi, _a, delta, dw in vanish.forward_backward(config, net):
        # Different BLAS summation orders: float64 rounding (~1e-16) grown over a few layers.
        np.testing.assert_allclose(delta, ref_dz[layer - 1], rtol=1e-11, atol=1e-300)
        np.testing.assert_allclose(dw, ref_dw[layer - 1], rtol=1e-11, atol=1e-300)


def test_deep_float64_gradients_below_1e_154_do_not_underflow_to_zero(on_host) -> None:
    # sigmoid with σ_w = 0.05 loses ×0.0125 per layer: layer 1 of 90 sees ~1e-170, whose square underflows.
    config = make_config("sigmoid", depth=90, width=32, batch=4, seed=1, init="normal", gain=0.05)
    stats = vanish.run_numpy(config)
    assert 0 < stats[0].grad_rms < 1e-150
    assert 0 < stats[0].weight_grad_norm < 1e-150
    from dlcli.vanish.torch_engine import run_torch

    assert_same_stats(stats, run_torch(dataclasses.replace(config, engine="torch"), on_host=on_host), rtol=1e-11)


def test_float32_statistics_are_taken_in_float64() -> None:
    # In float32 a depth-50 sigmoid stack's gradient entries are ~1e-40: squared in float32 they would be 0.
    deep = make_config("sigmoid", depth=50, width=64, batch=8, seed=2)
    exact = vanish.run_numpy(deep)
    single = vanish.run_numpy(dataclasses.replace(deep, dtype="float32"))
    assert single[0].grad_rms > 0
    assert single[0].grad_rms == pytest.approx(exact[0].grad_rms, rel=0.05)  # float32 subnormals lose digits


def test_progress_reports_every_layer() -> None:
    seen: list[tuple[str, int, int]] = []
    vanish.run_numpy(make_config("tanh", depth=4, width=8, batch=2, seed=0), lambda *a: seen.append(a))
    assert [s for s in seen if s[0] == "forward"] == [("forward", i, 4) for i in range(1, 5)]
    assert [s for s in seen if s[0] == "backward"] == [("backward", i, 4) for i in range(1, 5)]
