"""The shared weights against torch's init functions and the mean-field parametrisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlcli import vanish
from dlcli.vanish.config import make_config


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


def test_same_seed_same_weights_whatever_the_batch_and_depth() -> None:
    a = make_config("tanh", depth=3, width=8, batch=4, seed=9)
    b = make_config("tanh", depth=5, width=8, batch=32, seed=9)
    for layer in (1, 2, 3):
        np.testing.assert_array_equal(vanish.layer_weights(a, layer)[0], vanish.layer_weights(b, layer)[0])
