"""The vanish engines against torch autograd, against each other, and against mean-field theory."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import torch

from dlcli import activations, vanish, vanish_analysis
from dlcli.errors import InputError
from dlcli.vanish import VanishConfig, make_config

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


def assert_same_stats(a: list[vanish.LayerStats], b: list[vanish.LayerStats], rtol: float) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x.layer, x.width) == (y.layer, y.width)
        for name in STAT_FIELDS:
            assert getattr(x, name) == pytest.approx(getattr(y, name), rel=rtol, abs=1e-300), (x.layer, name)


@pytest.fixture(params=[True, False], ids=["host-stats", "device-stats"])
def on_host(request) -> bool:
    """The torch engine's two ways of taking statistics: numpy per layer (CPU), tensors on the device (GPU)."""
    return request.param


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
    from dlcli.vanish_torch import run_torch

    torch_stats = run_torch(dataclasses.replace(config, engine="torch"), on_host=on_host)
    assert_same_stats(numpy_stats, torch_stats, rtol=1e-12)


@pytest.mark.parametrize("name", activations.names(elementwise_only=True))
def test_every_activation_gives_the_same_statistics_in_both_engines(name, on_host) -> None:
    # φ' comes three ways in the torch engine (the op's backward node, autograd from a to z, the registry's φ'):
    # each must agree with the numpy engine, which uses only the registry.
    config = make_config(name, depth=4, width=16, batch=8, seed=3)
    from dlcli.vanish_torch import run_torch

    torch_stats = run_torch(dataclasses.replace(config, engine="torch"), on_host=on_host)
    # torch's float64 hardsigmoid backward multiplies by float32(1/6): a part in 1e7 off, in torch itself
    assert_same_stats(vanish.run_numpy(config), torch_stats, rtol=1e-6 if name == "hardsigmoid" else 1e-12)


def test_statistics_without_a_per_layer_phi_prime(monkeypatch, on_host) -> None:
    # Host: the registry's φ' (as for an activation whose a has no autograd graph back to z);
    # device: forward-mode AD on stacks of z (also what `--slope-on-stacks` measures in the GPU benchmark).
    from dlcli import vanish_torch

    monkeypatch.setattr(vanish_torch._Activate, "slope", lambda self, z, a: None)
    config = make_config("relu", depth=5, width=24, batch=8, seed=4, init="kaiming")
    stats = vanish_torch.run_torch(dataclasses.replace(config, engine="torch"), on_host=on_host)
    assert_same_stats(vanish.run_numpy(config), stats, rtol=1e-12)


@pytest.mark.parametrize("stack_bytes", [0, 3 * 16 * 24 * 8])  # each layer alone (views); stacks of 3 and 2
@pytest.mark.parametrize("slope", ["per layer", "on stacks of z"])
def test_device_statistics_on_stacks_of_any_size(monkeypatch, stack_bytes, slope) -> None:
    from dlcli import vanish_stats_device, vanish_torch
    from dlcli.vanish_torch import run_torch

    monkeypatch.setitem(vanish_stats_device.STACK_BYTES, "cpu", stack_bytes)
    if slope != "per layer":
        monkeypatch.setattr(vanish_torch._Activate, "slope", lambda self, z, a: None)
    config = make_config("relu", depth=5, width=24, batch=16, seed=4)
    stats = run_torch(dataclasses.replace(config, engine="torch"), on_host=False)
    assert_same_stats(vanish.run_numpy(config), stats, rtol=1e-12)


def test_float32_engines_agree_to_float32_rounding(on_host) -> None:
    from dlcli.vanish_torch import run_torch

    config = make_config("tanh", depth=6, width=64, batch=16, seed=5, dtype="float32", init="xavier")
    torch_stats = run_torch(dataclasses.replace(config, engine="torch"), on_host=on_host)
    assert_same_stats(vanish.run_numpy(config), torch_stats, rtol=1e-4)


def test_bfloat16_follows_float64_loosely(on_host) -> None:
    from dlcli.vanish_torch import run_torch

    config = make_config("tanh", depth=4, width=64, batch=16, seed=5, engine="torch", init="xavier")
    exact = run_torch(config, on_host=on_host)
    rough = run_torch(dataclasses.replace(config, dtype="bfloat16"), on_host=on_host)
    for x, y in zip(exact, rough, strict=True):  # bf16 keeps 8 significant bits: ~0.4% per rounding
        assert y.grad_rms == pytest.approx(x.grad_rms, rel=0.1)
        assert y.weight_grad_norm == pytest.approx(x.weight_grad_norm, rel=0.1)


def test_deep_float64_gradients_below_1e_154_do_not_underflow_to_zero(on_host) -> None:
    # sigmoid with σ_w = 0.05 loses ×0.0125 per layer: layer 1 of 90 sees ~1e-170, whose square underflows.
    config = make_config("sigmoid", depth=90, width=32, batch=4, seed=1, init="normal", gain=0.05)
    stats = vanish.run_numpy(config)
    assert 0 < stats[0].grad_rms < 1e-150
    assert 0 < stats[0].weight_grad_norm < 1e-150
    from dlcli.vanish_torch import run_torch

    assert_same_stats(stats, run_torch(dataclasses.replace(config, engine="torch"), on_host=on_host), rtol=1e-11)


def test_float32_statistics_are_taken_in_float64() -> None:
    # In float32 a depth-50 sigmoid stack's gradient entries are ~1e-40: squared in float32 they would be 0.
    deep = make_config("sigmoid", depth=50, width=64, batch=8, seed=2)
    exact = vanish.run_numpy(deep)
    single = vanish.run_numpy(dataclasses.replace(deep, dtype="float32"))
    assert single[0].grad_rms > 0
    assert single[0].grad_rms == pytest.approx(exact[0].grad_rms, rel=0.05)  # float32 subnormals lose digits


def test_torch_float32_gradient_norms_of_a_deep_sigmoid_stack_do_not_underflow(on_host) -> None:
    # ‖∂W‖ and ‖δ‖ of layer 1 are ~1e-41: the torch engine scales ∂W before its float32 norm.
    from dlcli.vanish_torch import run_torch

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
    from dlcli.vanish_torch import run_torch

    deep = make_config("sigmoid", depth=80, width=32, batch=4, seed=2, dtype="float32")
    ref_dz, ref_dw = reference_torch_grads(deep)  # autograd in float32
    stats = run_torch(dataclasses.replace(deep, engine="torch"), on_host=on_host)
    assert not ref_dz[0].any() and not ref_dw[0].any() and ref_dw[-1].any()
    for layer, dz, dw in zip(stats, ref_dz, ref_dw, strict=True):
        assert layer.weight_grad_norm == pytest.approx(np.linalg.norm(dw.astype(np.float64)), rel=1e-5, abs=0)
        assert layer.grad_rms == pytest.approx(np.sqrt(np.mean(dz.astype(np.float64) ** 2)), rel=1e-5, abs=0)


def test_torch_bfloat16_activation_mean_is_that_of_the_bfloat16_activations(on_host) -> None:
    # Centring bf16 activations in bf16 rounds every difference: the mean must come out of the exact values.
    from dlcli.vanish_torch import build_model, run_torch

    config = make_config("tanh", depth=18, width=32, batch=8, seed=1, dtype="bfloat16", engine="torch")
    model = build_model(config, torch)
    a = torch.tensor(vanish.inputs(config), dtype=torch.bfloat16)
    with torch.no_grad():
        a = model(a).to(torch.float64)
    last = run_torch(config, on_host=on_host)[-1]
    assert last.act_mean == pytest.approx(a.mean().item(), rel=1e-6)
    assert last.act_std == pytest.approx(a.std(correction=0).item(), rel=1e-6)


# --- initialisations against torch's own -----------------------------------------------------------

def test_default_init_has_nn_linear_distribution() -> None:
    fan_in, fan_out = 400, 300
    config = make_config("relu", layers=[fan_in, fan_out], seed=11)
    w, b = vanish.layer_weights(config, 1)
    lin = torch.nn.Linear(fan_in, fan_out, dtype=torch.float64)
    tw, tb = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(w).max() <= bound and np.abs(tw).max() <= bound
    assert np.abs(b).max() <= bound and np.abs(tb).max() <= bound
    # Both uniform on ±bound: std bound/√3; sample std over 120k entries is good to ~0.2%.
    assert w.std() == pytest.approx(tw.std(), rel=0.01)
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)


@pytest.mark.parametrize(("init", "torch_init"), [
    ("kaiming", lambda t: torch.nn.init.kaiming_normal_(t, nonlinearity="relu")),
    ("xavier", lambda t: torch.nn.init.xavier_uniform_(t)),
    ("lecun", lambda t: torch.nn.init.normal_(t, std=1 / math.sqrt(t.shape[1]))),
])
def test_named_inits_match_torch_init_functions(init, torch_init) -> None:
    config = make_config("relu", layers=[500, 200], seed=4, init=init)
    w, b = vanish.layer_weights(config, 1)
    reference = torch_init(torch.empty(200, 500, dtype=torch.float64)).numpy()
    assert w.std() == pytest.approx(reference.std(), rel=0.015)
    assert not b.any()


@pytest.mark.parametrize("shape", [[64, 64], [64, 32], [32, 64]])
def test_orthogonal_init_is_orthogonal_times_gain(shape) -> None:
    config = make_config("tanh", layers=shape, seed=2, init="orthogonal", gain=1.5)
    w, _ = vanish.layer_weights(config, 1)
    small = min(w.shape)
    gram = w @ w.T if w.shape[0] == small else w.T @ w
    np.testing.assert_allclose(gram, 1.5**2 * np.eye(small), atol=1e-12)


def test_normal_init_is_the_mean_field_parametrisation() -> None:
    config = make_config("tanh", layers=[1000, 1000], seed=2, init="normal", gain=2.0, bias_std=0.5)
    w, b = vanish.layer_weights(config, 1)
    assert w.std() * math.sqrt(1000) == pytest.approx(2.0, rel=0.01)   # 1e6 samples: ±0.07%
    assert b.std() == pytest.approx(0.5, rel=0.15)                      # 1000 samples: ±2.2%


# --- theory against measurement -------------------------------------------------------------------
# Per layer, grad_rms_l / grad_rms_{l+1} is √(‖Wᵀδ‖²/‖δ‖²)·(φ' factor). For fixed δ, ‖Wᵀδ‖² over N units is
# a χ²_N/N variable (relative spread √(2/N)); with the projection loss every example's δ points the same
# way, so the batch does not average this out. The log of the factor therefore scatters by ½√(2/N) =
# 1/√(2N) per layer, independently across layers (fresh W each): measured over 8 seeds, 0.026–0.032 at
# N = 512 against 1/√1024 = 0.031. We allow 5 of those per layer, and 5/√(2N(L−1)) for the mean.

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
    result = vanish_analysis.run(make_config("step", depth=3, width=16, batch=4, seed=0))
    assert all(s.dead_frac == 1.0 and s.grad_rms == 0.0 for s in result.layers)
    assert math.isnan(result.gradient_ratio) and result.verdict == "vanishing"


# --- configuration, memory, progress --------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"depth": 0}, {"width": 0}, {"layers": [5]}, {"layers": [5, 0, 3]}, {"layers": [3, 3], "depth": 2},
    {"init": "he"}, {"batch": 0}, {"gain": -1.0}, {"bias_std": -0.1}, {"dtype": "float16"},
    {"engine": "numpy", "dtype": "bfloat16"}, {"engine": "numpy", "device": "cuda"}, {"loss": "hinge"},
])
def test_bad_configurations_are_input_errors(kwargs) -> None:
    with pytest.raises(InputError):
        make_config("tanh", **kwargs)


def test_same_seed_same_weights_whatever_the_batch_and_depth() -> None:
    a = make_config("tanh", depth=3, width=8, batch=4, seed=9)
    b = make_config("tanh", depth=5, width=8, batch=32, seed=9)
    for layer in (1, 2, 3):
        np.testing.assert_array_equal(vanish.layer_weights(a, layer)[0], vanish.layer_weights(b, layer)[0])


def test_memory_estimate_covers_the_measured_peak() -> None:
    config = make_config("tanh", depth=10, width=200, batch=100, seed=1)
    vanish.run_numpy(make_config("tanh", depth=2, width=8, batch=2, seed=1))  # imports done once, not counted
    tracemalloc.start()
    vanish.run_numpy(config)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    estimate = vanish_analysis.estimate_bytes(config)
    assert peak <= estimate <= 2.5 * peak


TORCH_PEAK_SCRIPT = """
import sys
from dlcli.vanish import make_config
from dlcli.vanish_torch import estimate_device_bytes, run_torch

def status(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(field + ":"))

# one layer first: torch's and its BLAS's one-off buffers (~40 MB at this size) are not the run's data
run_torch(make_config("tanh", depth=1, width=1024, batch=256, seed=1, engine="torch", dtype=sys.argv[1]))
config = make_config("tanh", depth=12, width=1024, batch=256, seed=1, engine="torch", dtype=sys.argv[1])
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # the peak resident memory (VmHWM) starts again from now
except OSError:
    sys.exit(print("no clear_refs"))
before = status("VmRSS")
run_torch(config)
weights_in_float64 = 2 * 1024 * 1024 * 8  # generated, then copied in (run_torch counts it beside the estimate)
print(status("VmHWM") - before, estimate_device_bytes(config, on_host=True) + weights_in_float64)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_cpu_memory_estimate_covers_the_measured_peak(dtype) -> None:
    # The OS's high-water mark of resident memory in a fresh process: torch's allocations are not Python's.
    out = subprocess.run([sys.executable, "-c", TORCH_PEAK_SCRIPT, dtype], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    if out.stdout.startswith("no clear_refs"):
        pytest.skip("this kernel cannot reset the peak resident memory (/proc/self/clear_refs)")
    grown, estimate = map(int, out.stdout.split())
    assert grown <= estimate <= 1.5 * grown  # counting all of autograd's ∂W_l, as the GPU path must, gave 1.8×


def test_a_run_too_big_for_memory_is_refused_with_the_estimate() -> None:
    config = make_config("tanh", depth=10, width=200, batch=100, seed=1)
    with pytest.raises(InputError, match=r"needs about .* MiB .* free; shrink --width"):
        vanish_analysis.check_memory(config, have=1_000_000)


def test_progress_reports_every_layer() -> None:
    seen: list[tuple[str, int, int]] = []
    vanish.run_numpy(make_config("tanh", depth=4, width=8, batch=2, seed=0), lambda *a: seen.append(a))
    assert [s for s in seen if s[0] == "forward"] == [("forward", i, 4) for i in range(1, 5)]
    assert [s for s in seen if s[0] == "backward"] == [("backward", i, 4) for i in range(1, 5)]


def test_device_gradient_norms_survive_underflow_overflow_zeros_and_nan() -> None:
    # Fused float32 norms square entries: 1e-30 squares to 0 and 1e30 to inf; both are redone scaled.
    from dlcli.vanish_stats_device import gradient_norms

    rng = np.random.default_rng(0)
    values = [rng.standard_normal((8, 5)) * scale for scale in (1.0, 1e-30, 1e-41, 1e30, 0.0)]
    values.append(np.array([[1.0, np.nan]]))
    expected = [np.linalg.norm(v) for v in values[:-1]]
    for dtype, rtol in ((torch.float32, 1e-6), (torch.bfloat16, 0.01)):
        tensors = [torch.tensor(v, dtype=dtype) for v in values]
        exact = [np.linalg.norm(t.double().numpy()) for t in tensors[:-1]]  # of the rounded entries
        norms = gradient_norms(torch, tensors, exact=False)
        np.testing.assert_allclose(norms[:-1], exact, rtol=1e-6)
        np.testing.assert_allclose(norms[:2], expected[:2], rtol=rtol)  # 1e-41 is subnormal: digits lost
        assert math.isnan(norms[-1])
    f64 = [torch.tensor(v * 1e-160) for v in values[:-1]]
    np.testing.assert_allclose(gradient_norms(torch, f64, exact=True), [e * 1e-160 for e in expected], rtol=1e-12)


def test_host_norms_survive_underflow_overflow_zeros_and_nan() -> None:
    from dlcli.vanish_stats_host import gradient_norm

    rng = np.random.default_rng(1)
    for scale in (1.0, 1e-30, 1e-41, 1e25, 1e-160, 1e160, 0.0):
        w = rng.standard_normal((16, 9)) * scale
        for dtype in (torch.float64, torch.float32, torch.bfloat16):
            values = torch.tensor(w, dtype=dtype).double().numpy()  # the rounded entries, in float64
            if not np.isfinite(values).all():
                continue  # 1e160 is beyond float32
            exact = math.hypot(*values.ravel())  # hypot: no under- or overflow
            rel = 1e-14 if dtype == torch.float64 else 1e-5
            inverse = vanish.inverse_power_of_two(exact)  # a scale near 1/‖t‖, as the engine passes it
            transposed = torch.tensor(w.T, dtype=dtype).T  # ∂W's memory layout: not contiguous
            assert gradient_norm(torch, transposed, inverse) == pytest.approx(exact, rel=rel, abs=1e-300)
            assert gradient_norm(torch, torch.tensor(w, dtype=dtype)) == pytest.approx(exact, rel=rel, abs=1e-300)
    assert math.isnan(gradient_norm(torch, torch.tensor([1.0, math.nan])))
    for scale in (1e-200, 1e200):
        x = rng.standard_normal(50) * scale
        assert vanish.norm2(x) == pytest.approx(math.hypot(*x), rel=1e-14)  # hypot: no under- or overflow


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
