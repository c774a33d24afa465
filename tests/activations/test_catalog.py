"""Every activation's values and analytic derivatives against independent references.

References: torch's own functions in float64 and autograd (named here, not taken from the registry),
mpmath at 50 digits for the smooth ones, and central finite differences for those torch lacks.
"""

from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcli import activations
from dlcli.activations import literature

mpmath.mp.dps = 50

# torch's own function for each registered activation (test-local, independent of the registry's torch_ref)
TORCH = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "elu": F.elu,
    "softplus": lambda x: F.softplus(x, threshold=700.0),  # torch's default threshold=20 switches to f(x) = x
    "identity": lambda x: x * 1.0,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "mish": F.mish,
    "selu": F.selu,
    "celu": F.celu,
    "softsign": F.softsign,
    "hardtanh": F.hardtanh,
    "relu6": F.relu6,
    "hardsigmoid": F.hardsigmoid,
    "hardswish": F.hardswish,
    "logsigmoid": F.logsigmoid,
    "tanhshrink": F.tanhshrink,
    "softshrink": F.softshrink,
    "hardshrink": F.hardshrink,
    "prelu": lambda x: F.prelu(x, torch.tensor([0.25], dtype=x.dtype)),
    "rrelu": lambda x: F.rrelu(x, training=False),
    "threshold": lambda x: F.threshold(x, 0.0, 0.0),
}
NOT_IN_TORCH = {"step", "eru", "oru"}
VECTOR = {"softmax", "log_softmax", "softmin"}

GRID = np.unique(np.concatenate([
    np.linspace(-50, 50, 10_001),
    [0.0, 1e-300, -1e-300, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0, 1e-8, -1e-8, 20.0, -20.0],
    [1e4, -1e4, 700.0, -700.0],
]))
ATOL = 1e-14  # torch's own formulas cancel below this (1 - tanh², 1 + erf(x/√2) for x << 0); see mpmath tests


def test_every_registered_activation_has_a_reference():
    # the literature's names are tested against their own references in test_literature.py
    assert set(activations.names()) == set(TORCH) | NOT_IN_TORCH | VECTOR | set(literature.NAMES)


@pytest.mark.parametrize("name", sorted(TORCH))
def test_values_and_derivatives_equal_torch(name):
    act = activations.get(name)
    x = torch.tensor(GRID, dtype=torch.float64, requires_grad=True)
    y = TORCH[name](x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    rtol = TORCH_QUIRKS.get(name, act.reference_rtol)
    np.testing.assert_allclose(act(GRID), y.detach().numpy(), rtol=rtol, atol=ATOL)
    np.testing.assert_allclose(act.derivative(GRID), dy.numpy(), rtol=rtol, atol=ATOL)


# torch 2.x's float64 hardsigmoid backward uses the float32 constant 1/6 = 0.16666667163 (relative 3e-8 off);
# test_autograd_check.py shows mpmath siding with dlcli's exact 1/6.
TORCH_QUIRKS = {"hardsigmoid": 1e-7}


def test_hardsigmoid_slope_is_exactly_one_sixth():
    # torch's float64 backward returns float32(1/6); the true slope is 1/6 in float64
    assert activations.get("hardsigmoid").derivative(0.0) == 1 / 6


def central_difference(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("name", sorted(NOT_IN_TORCH))
def test_activations_torch_lacks_against_finite_differences(name):
    act = activations.get(name)
    x = np.linspace(-20, 20, 4001) + 1 / 3e3  # never exactly on the step's threshold 0
    h = 1e-6 * np.maximum(1, np.abs(x))
    np.testing.assert_allclose(act.derivative(x), central_difference(act, x, h), rtol=1e-6, atol=1e-8)


def direct_transcription(name, z, r=2.0):
    """The notes' and the paper's formulas written out in torch, for autograd."""
    if name == "eru":
        pos = (r * r * z.clamp(min=0) + 1) ** (1 / r) - 1 / r
        return torch.where(z >= 0, pos, torch.exp(r * z.clamp(max=0)) - 1 / r)
    if name == "oru":
        pos = (r * r * z.clamp(min=0) + 1) ** (1 / r) - 1
        neg = -((r * r * (-z).clamp(min=0) + 1) ** (1 / r) - 1)
        return torch.where(z >= 0, pos, neg)
    return (z >= 0).to(z.dtype) + 0 * z


@pytest.mark.parametrize("name", sorted(NOT_IN_TORCH))
def test_activations_torch_lacks_against_autograd_of_the_formula(name):
    act = activations.get(name)
    grid = GRID[np.abs(GRID) < 1e3]
    if name == "step":
        grid = grid[grid != 0]  # undefined there
    x = torch.tensor(grid, dtype=torch.float64, requires_grad=True)
    y = direct_transcription(name, x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    np.testing.assert_allclose(act(grid), y.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(act.derivative(grid), dy.numpy(), rtol=1e-12, atol=1e-12)


def test_step_is_one_at_threshold_and_derivative_undefined_there():
    step = activations.get("step")
    assert step(np.array([-1e-12, 0.0, 1e-12])).tolist() == [0.0, 1.0, 1.0]
    assert step(np.array([0.99, 1.0]), theta=1.0).tolist() == [0.0, 1.0]
    assert step.undefined_grad_at({"theta": 1.0}) == (1.0,)


def test_bru_with_r_1_is_elu_and_oru_with_r_1_is_identity():
    x = np.linspace(-5, 5, 101)
    np.testing.assert_allclose(activations.get("bru")(x, r=1.0), F.elu(torch.tensor(x)).numpy(), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(activations.get("oru")(x, r=1.0), x, rtol=1e-14, atol=1e-15)


# --- mpmath: 50-digit references for the smooth functions -----------------------------------------

def mp_sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


def mp_softplus(x):
    return mpmath.log(1 + mpmath.exp(x))


R = 2
MP = {
    "sigmoid": mp_sigmoid,
    "tanh": mpmath.tanh,
    "softplus": mp_softplus,
    "logsigmoid": lambda x: mpmath.log(mp_sigmoid(x)),
    "gelu": lambda x: x * mpmath.ncdf(x),
    "gelu_tanh": lambda x: x / 2 * (1 + mpmath.tanh(mpmath.sqrt(2 / mpmath.pi) * (x + mpmath.mpf("0.044715") * x**3))),
    "silu": lambda x: x * mp_sigmoid(x),
    "mish": lambda x: x * mpmath.tanh(mp_softplus(x)),
    "softsign": lambda x: x / (1 + abs(x)),
    "eru": lambda x: ((R * R * x + 1) ** (mpmath.mpf(1) / R) if x >= 0 else mpmath.exp(R * x)) - mpmath.mpf(1) / R,
    "oru": lambda x: mpmath.sign(x) * ((R * R * abs(x) + 1) ** (mpmath.mpf(1) / R) - 1),
    "tanhshrink": lambda x: x - mpmath.tanh(x),
}
MP_POINTS = [-40.0, -30.0, -10.0, -3.0, -1.0, -0.1, -1e-5, 1e-5, 0.1, 1.0, 3.0, 10.0, 30.0, 40.0]


@pytest.mark.parametrize("name", sorted(MP))
def test_values_and_derivatives_against_mpmath(name):
    act = activations.get(name)
    for x in MP_POINTS:
        mx = mpmath.mpf(x)
        ref_value = MP[name](mx)
        ref_grad = mpmath.diff(MP[name], mx)
        if ref_value == 0:
            continue
        assert float(act(x)) == pytest.approx(float(ref_value), rel=2e-13, abs=1e-300), (name, x)
        assert float(act.derivative(x)) == pytest.approx(float(ref_grad), rel=2e-13, abs=1e-300), (name, x)


# --- the whole float64 line ----------------------------------------------------------------------

EXTREMES = np.array([-np.inf, -1e300, -1e4, -1000.0, -1e-300, 0.0, 1e-300, 1000.0, 1e4, 1e300, np.inf])


@pytest.mark.parametrize("name", activations.names(elementwise_only=True))
def test_no_warning_and_no_nan_over_the_float64_line(name):
    act = activations.get(name)
    x = EXTREMES[1:-1] if name in literature.NO_LIMIT_AT_INFINITY else EXTREMES  # periodic: NaN at ±inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grad = act(x), act.derivative(x)
    assert not np.isnan(value).any() and not np.isnan(grad).any()
    if name not in literature.SUPERLINEAR:  # x² overflows to inf at 1e300, as it should
        assert np.isfinite(value[1:-1]).all() and np.isfinite(grad).all()


def test_famous_extremes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert activations.get("softplus")(1000.0) == 1000.0
        assert 0.0 <= activations.get("sigmoid")(-1000.0) < 1e-300
        assert activations.get("sigmoid")(-700.0) == pytest.approx(math.exp(-700), rel=1e-14)
        assert activations.get("tanh").derivative(20.0) == pytest.approx(4 * math.exp(-40), rel=1e-12)


def test_leaky_relu_alias_and_params():
    lrelu = activations.get("lrelu")
    assert lrelu is activations.get("leaky_relu")
    assert float(lrelu(-2.0)) == -0.02 and float(lrelu(-2.0, alpha=0.1)) == pytest.approx(-0.2)
    assert float(lrelu.derivative(0.0)) == 0.01  # torch's convention at the kink


# --- NaN in, NaN out -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", activations.names())
def test_nan_stays_nan_as_in_torch(name):
    """f(nan) is nan, as torch's f; f'(nan) is nan too (torch's autograd picks a branch there: relu' 1, lrelu' α)."""
    act = activations.get(name)
    if act.vector:
        z = np.array([1.0, np.nan, -2.0])
        assert np.isnan(act(z)).all() and np.isnan(act.derivative(z)).all()
        assert np.isnan(TORCH_VECTOR[name](torch.tensor(z)).numpy()).all()
        return
    x = np.array([-7.0, np.nan, 0.0, 0.5, np.nan, 7.0])
    value, grad = act(x), act.derivative(x)
    assert np.isnan(value).tolist() == np.isnan(x).tolist()
    assert np.isnan(grad).tolist() == np.isnan(x).tolist()
    finite = ~np.isnan(x)
    np.testing.assert_array_equal(value[finite], act(x[finite]))  # the other entries are untouched
    np.testing.assert_array_equal(grad[finite], act.derivative(x[finite]))
    assert np.isnan(float(act(np.nan))) and np.isnan(float(act.derivative(np.nan)))
    if name in TORCH:
        assert np.isnan(TORCH[name](torch.tensor(x)).numpy()).tolist() == np.isnan(x).tolist()


TORCH_VECTOR = {
    "softmax": lambda z: F.softmax(z, dim=-1),
    "log_softmax": lambda z: F.log_softmax(z, dim=-1),
    "softmin": lambda z: F.softmin(z, dim=-1),
}
