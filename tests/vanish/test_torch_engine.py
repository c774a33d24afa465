"""The torch engine (host and device statistics) against the numpy engine, in every dtype."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from engines_reference import assert_same_stats, reference_torch_grads

from dlcli import activations, vanish
from dlcli.vanish.config import make_config


@pytest.mark.parametrize("kwargs", [
    {"activation": "sigmoid", "depth": 12, "width": 48},
    {"activation": "relu", "layers": [30, 40, 20, 10], "init": "kaiming", "loss": "mse"},
    {"activation": "tanh", "depth": 8, "width": 32, "init": "orthogonal", "gain": 1.3, "bias_std": 0.2},
    {"activation": "hardtanh", "depth": 5, "width": 32, "init": "normal", "gain": 3.0},
    {"activation": "softsign", "depth": 6, "width": 24},  # several torch ops: φ' by autograd from a to z
    {"activation": "step", "depth": 3, "width": 8},  # φ' = 0 everywhere: nothing saturated, every unit dead
])
def test_numpy_and_torch_engines_agree_to_float64_rounding(kwargs, on_host) -> None:
    config = make_config(batch=16, seed=3, **kwargs)
    numpy_stats = vanish.run_numpy(config)
    from dlcli.vanish.torch_engine import run_torch

    torch_stats = run_torch(dataclasses.replace(config, engine="torch"), on_host=on_host)
    assert_same_stats(numpy_stats, torch_stats, rtol=1e-12)


@pytest.mark.parametrize("name", activations.names(elementwise_only=True))
def test_every_activation_gives_the_same_statistics_in_both_engines(name, on_host) -> None:
    # φ' comes three ways in the torch engine (the op's backward node, autograd from a to z, the registry's φ'):
    # each must agree with the numpy engine, which uses only the registry.
    config = make_config(name, depth=4, width=16, batch=8, seed=3)
    from dlcli.vanish.torch_engine import run_torch

    torch_stats = run_torch(dataclasses.replace(config, engine="torch"), on_host=on_host)
    # torch's float64 hardsigmoid backward multiplies by float32(1/6): a part in 1e7 off, in torch itself
    assert_same_stats(vanish.run_numpy(config), torch_stats, rtol=1e-6 if name == "hardsigmoid" else 1e-12)


def test_statistics_without_a_per_layer_phi_prime(monkeypatch, on_host) -> None:
    # Host: the registry's φ' (as for an activation whose a has no autograd graph back to z);
    # device: forward-mode AD on stacks of z (also what `--slope-on-stacks` measures in the GPU benchmark).
    from dlcli.vanish import torch_engine as vanish_torch

    monkeypatch.setattr(vanish_torch._AutogradSlope, "slope", lambda self, z, a: None)
    config = make_config("relu", depth=5, width=24, batch=8, seed=4, init="kaiming")
    stats = vanish_torch.run_torch(dataclasses.replace(config, engine="torch"), on_host=on_host)
    assert_same_stats(vanish.run_numpy(config), stats, rtol=1e-12)


@pytest.mark.parametrize("stack_bytes", [0, 3 * 16 * 24 * 8])  # each layer alone (views); stacks of 3 and 2
@pytest.mark.parametrize("slope", ["per layer", "on stacks of z"])
def test_device_statistics_on_stacks_of_any_size(monkeypatch, stack_bytes, slope) -> None:
    from dlcli.vanish import device_stats as vanish_stats_device
    from dlcli.vanish import torch_engine as vanish_torch
    from dlcli.vanish.torch_engine import run_torch

    monkeypatch.setitem(vanish_stats_device.STACK_BYTES, "cpu", stack_bytes)
    if slope != "per layer":
        monkeypatch.setattr(vanish_torch._AutogradSlope, "slope", lambda self, z, a: None)
    config = make_config("relu", depth=5, width=24, batch=16, seed=4)
    stats = run_torch(dataclasses.replace(config, engine="torch"), on_host=False)
    assert_same_stats(vanish.run_numpy(config), stats, rtol=1e-12)


def test_float32_engines_agree_to_float32_rounding(on_host) -> None:
    from dlcli.vanish.torch_engine import run_torch

    config = make_config("tanh", depth=6, width=64, batch=16, seed=5, dtype="float32", init="xavier")
    torch_stats = run_torch(dataclasses.replace(config, engine="torch"), on_host=on_host)
    assert_same_stats(vanish.run_numpy(config), torch_stats, rtol=1e-4)


def test_bfloat16_follows_float64_loosely(on_host) -> None:
    from dlcli.vanish.torch_engine import run_torch

    config = make_config("tanh", depth=4, width=64, batch=16, seed=5, engine="torch", init="xavier")
    exact = run_torch(config, on_host=on_host)
    rough = run_torch(dataclasses.replace(config, dtype="bfloat16"), on_host=on_host)
    for x, y in zip(exact, rough, strict=True):  # bf16 keeps 8 significant bits: ~0.4% per rounding
        assert y.grad_rms == pytest.approx(x.grad_rms, rel=0.1)
        assert y.weight_grad_norm == pytest.approx(x.weight_grad_norm, rel=0.1)


def test_torch_float32_gradient_norms_of_a_deep_sigmoid_stack_do_not_underflow(on_host) -> None:
    # ‖∂W‖ and ‖δ‖ of layer 1 are ~1e-41: the torch engine scales ∂W before its float32 norm.
    from dlcli.vanish.torch_engine import run_torch

    deep = make_config("sigmoid", depth=50, width=64, batch=8, seed=2, dtype="float32")
    ref_dz, ref_dw = reference_torch_grads(dataclasses.replace(deep, dtype="float64"))
    stats = run_torch(dataclasses.replace(deep, engine="torch"), on_host=on_host)
    numpy_single = vanish.run_numpy(deep)
    assert 0 < stats[0].weight_grad_norm < 1e-35
    assert stats[0].weight_grad_norm == pytest.approx(np.linalg.norm(ref_dw[0]), rel=0.05)
    assert stats[0].grad_rms == pytest.approx(np.sqrt(np.mean(ref_dz[0] ** 2)), rel=0.05)
    assert_same_stats(numpy_single[25:], stats[25:], rtol=1e-4)


def test_torch_float32_gradients_that_underflow_to_zero_have_norm_zero(on_host) -> None:
    # Deep enough, float32 backprop itself flushes δ_l, and so ∂W_l = δ_lᵀa_{l-1}, to exactly 0.
    from dlcli.vanish.torch_engine import run_torch

    deep = make_config("sigmoid", depth=80, width=32, batch=4, seed=2, dtype="float32")
    ref_dz, ref_dw = reference_torch_grads(deep)  # autograd in float32
    stats = run_torch(dataclasses.replace(deep, engine="torch"), on_host=on_host)
    assert not ref_dz[0].any() and not ref_dw[0].any() and ref_dw[-1].any()
    for layer, dz, dw in zip(stats, ref_dz, ref_dw, strict=True):
        assert layer.weight_grad_norm == pytest.approx(np.linalg.norm(dw.astype(np.float64)), rel=1e-5, abs=0)
        assert layer.grad_rms == pytest.approx(np.sqrt(np.mean(dz.astype(np.float64) ** 2)), rel=1e-5, abs=0)


def test_torch_bfloat16_activation_mean_is_that_of_the_bfloat16_activations(on_host) -> None:
    # Centring bf16 activations in bf16 rounds every difference: the mean must come out of the exact values.
    from dlcli.vanish.torch_engine import build_model, run_torch

    config = make_config("tanh", depth=18, width=32, batch=8, seed=1, dtype="bfloat16", engine="torch")
    model = build_model(config, torch)
    a = torch.tensor(vanish.inputs(config), dtype=torch.bfloat16)
    with torch.no_grad():
        a = model(a).to(torch.float64)
    last = run_torch(config, on_host=on_host)[-1]
    assert last.act_mean == pytest.approx(a.mean().item(), rel=1e-6)
    assert last.act_std == pytest.approx(a.std(correction=0).item(), rel=1e-6)
