"""The literature's activations against the papers' formulas written here in torch (autograd for f') and mpmath at
50 digits in the tails, where a naive transcription would lose accuracy."""

from __future__ import annotations

import math
import re

import mpmath
import numpy as np
import pytest
import torch

from dlcli import activations
from dlcli.activations import literature

S, B = 0.8944271909999159, -0.4472135954999579
# the papers' formulas as written, in torch (test-local, independent of the registry's torch_ref)
PAPER = {
    "swish_beta": lambda x: x * torch.sigmoid(x),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "dsilu": lambda x: torch.sigmoid(x) * (1 + x * (1 - torch.sigmoid(x))),
    "elish": lambda x: torch.where(x >= 0, x * torch.sigmoid(x), (torch.exp(x) - 1) * torch.sigmoid(x)),
    "lisht": lambda x: x * torch.tanh(x),
    "tanhexp": lambda x: x * torch.tanh(torch.exp(x)),
    "smish": lambda x: x * torch.tanh(torch.log(1 + torch.sigmoid(x))),
    "serf": lambda x: x * torch.erf(torch.log(1 + torch.exp(x))),
    "relu_squared": lambda x: torch.relu(x) ** 2,
    "star_relu": lambda x: S * torch.relu(x) ** 2 + B,
    "squareplus": lambda x: (x + torch.sqrt(x * x + 4)) / 2,
    "isru": lambda x: x / torch.sqrt(1 + x * x),
    "isrlu": lambda x: torch.where(x >= 0, x, x / torch.sqrt(1 + x * x)),
    "pelu": lambda x: torch.where(x >= 0, x, torch.exp(x) - 1),
    "shifted_softplus": lambda x: torch.log(1 + torch.exp(x)) - math.log(2),
    "erf": torch.erf,
    "arctan": torch.atan,
    "sqnl": lambda x: torch.where(x > 2, torch.ones_like(x), torch.where(
        x >= 0, x - x * x / 4, torch.where(x >= -2, x + x * x / 4, -torch.ones_like(x)))),
    "bent_identity": lambda x: (torch.sqrt(x * x + 1) - 1) / 2 + x,
    "gaussian": lambda x: torch.exp(-x * x),
    "sine": torch.sin,
    "snake": lambda x: x + torch.sin(x) ** 2,
}
GRID = np.unique(np.concatenate([np.linspace(-30, 30, 6001), [0.0, 1e-8, -1e-8, 2.0, -2.0]]))


def test_the_registry_has_at_least_fifty_and_every_new_one_a_reference_here():
    assert len(activations.names()) >= 50
    assert set(literature.NAMES) == set(PAPER)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_values_and_derivatives_equal_autograd_of_the_papers_formula(name):
    act = activations.get(name)
    x = torch.tensor(GRID, dtype=torch.float64, requires_grad=True)
    y = PAPER[name](x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    # the naive formulas cancel in places (squareplus for x ≪ 0, 1 − σ for x ≫ 0): 1e-12 absolute covers it
    np.testing.assert_allclose(act(GRID), y.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(act.derivative(GRID), dy.numpy(), rtol=1e-11, atol=1e-12)


def mp_sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


MP = {
    "squareplus": lambda x: (x + mpmath.sqrt(x * x + 4)) / 2,
    "isru": lambda x: x / mpmath.sqrt(1 + x * x),
    "bent_identity": lambda x: (mpmath.sqrt(x * x + 1) - 1) / 2 + x,
    "serf": lambda x: x * mpmath.erf(mpmath.log(1 + mpmath.exp(x))),
    "smish": lambda x: x * mpmath.tanh(mpmath.log(1 + mp_sigmoid(x))),
    "tanhexp": lambda x: x * mpmath.tanh(mpmath.exp(x)),
    "dsilu": lambda x: mp_sigmoid(x) * (1 + x * (1 - mp_sigmoid(x))),
    "shifted_softplus": lambda x: mpmath.log(1 + mpmath.exp(x)) - mpmath.log(2),
    "elish": lambda x: x * mp_sigmoid(x) if x >= 0 else (mpmath.exp(x) - 1) * mp_sigmoid(x),
    "arctan": mpmath.atan,
    "gaussian": lambda x: mpmath.exp(-x * x),
}


@pytest.mark.parametrize("name", sorted(MP))
def test_tails_against_mpmath(name):
    mpmath.mp.dps = 50
    act = activations.get(name)
    for x in (-1e4, -300.0, -40.0, -5.0, -1e-6, 1e-6, 3.0, 40.0, 1e4):
        mx = mpmath.mpf(x)
        value, slope = MP[name](mx), mpmath.diff(MP[name], mx)
        if abs(value) > 1e-300:
            assert float(act(x)) == pytest.approx(float(value), rel=1e-13), (name, x)
        if abs(slope) > 1e-300:
            assert float(act.derivative(x)) == pytest.approx(float(slope), rel=1e-12), (name, x)


@pytest.mark.parametrize("name", literature.NAMES)
def test_nan_in_gives_nan_out_and_show_cites_a_paper(name):
    act = activations.get(name)
    assert np.isnan(act(np.array([np.nan]))).all() and np.isnan(act.derivative(np.array([np.nan]))).all()
    assert re.search(r"(19|20)\d\d", act.notes), act.notes  # a year: the citation


def test_parameters_change_the_function_as_the_papers_say():
    x = np.linspace(-4, 4, 81)
    np.testing.assert_allclose(activations.get("swish_beta")(x, beta=1.702), activations.get("quick_gelu")(x))
    np.testing.assert_allclose(activations.get("sine")(x, w0=30.0), np.sin(30 * x))
    assert float(activations.get("squareplus")(0.0, b=9.0)) == 1.5  # √b/2
    assert float(activations.get("isru")(1e300, alpha=4.0)) == 0.5  # saturates at 1/√α
    assert float(activations.get("pelu")(-1e3, a=2.0, b=3.0)) == -2.0
    assert float(activations.get("star_relu")(0.0)) == B
