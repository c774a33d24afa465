"""`activations check` settles a disagreement with torch by mpmath, and never blames dlcli for torch's error."""

from __future__ import annotations

import subprocess
import sys

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT
from dlcli import activations
from dlcli.activations import autograd_check

mpmath.mp.dps = 50


def torch_grad(f, x: float) -> float:
    t = torch.tensor([x], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f(t).sum(), t)
    return g.item()


def test_celu_torch_is_off_and_dlcli_is_right():
    # celu'(x) = e^(x/α) for x < 0: at α = 0.3, x = −3 that is e^−10 (mpmath), which dlcli gives; torch does not
    exact = float(mpmath.exp(mpmath.mpf(-3) / mpmath.mpf(0.3)))
    celu = activations.get("celu")
    assert float(celu.derivative(-3.0, alpha=0.3)) == pytest.approx(exact, rel=1e-15)
    theirs = torch_grad(lambda t: F.celu(t, 0.3), -3.0)
    assert abs(theirs - exact) > 1e-9 * exact
    result = autograd_check.check(celu, {"alpha": 0.3})
    assert result.passed and result.torch_off > 0
    assert "torch's reference is off here" in result.note and result.reference.endswith("+ mpmath")
    assert result.grad_rel_err < 1e-13  # the error reported is dlcli's against mpmath, not torch's 7e-7


def test_hardsigmoid_float32_slope_is_torchs_not_dlclis():
    theirs = torch_grad(F.hardsigmoid, 0.0)
    assert theirs == float(np.float32(1 / 6)) and theirs != 1 / 6  # torch's float64 backward: float32 1/6
    assert float(mpmath.diff(lambda x: x / 6 + mpmath.mpf(1) / 2, 0)) == 1 / 6
    result = autograd_check.check(activations.get("hardsigmoid"))
    assert result.passed and result.torch_off > 0 and result.grad_abs_err == 0.0


def test_oru_torch_formula_cancels_and_dlcli_does_not():
    # x < 0: f = 1 − (1 − r²x)^(1/r), which torch computes by cancellation near 0; mpmath at 50 digits is exact
    x, r = -1e-5, 2
    exact = float(-((r * r * mpmath.mpf(-x) + 1) ** (mpmath.mpf(1) / r) - 1))
    oru = activations.get("oru")
    assert float(oru(x)) == pytest.approx(exact, rel=1e-15)
    theirs = oru.torch_ref(torch, torch.tensor([x], dtype=torch.float64), {"r": 2.0}).item()
    assert abs(theirs - exact) > 1e-12 * abs(exact)
    result = autograd_check.check(oru)
    assert result.passed and result.torch_off > 0 and result.value_rel_err < 1e-13


@pytest.mark.parametrize("wrong", [
    lambda x, alpha: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0) / alpha)) * (1 + 1e-9),   # off everywhere
    lambda x, alpha: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0) / alpha).astype(np.float32)),  # float32
])
def test_a_wrong_derivative_still_fails_where_torch_is_off_too(wrong):
    celu = activations.get("celu")._replace(grad=wrong)
    result = autograd_check.check(celu, {"alpha": 0.3})
    assert not result.passed


def test_check_without_mpmath_says_what_to_install(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "mpmath", None)  # import mpmath now raises ImportError
    result = cli("activations", "check", "celu", "-p", "alpha=0.3")
    assert result.exit_code == 2  # a missing optional dependency, as everywhere
    assert "needs mpmath" in result.output and "pip install -e '.[torch]'" in result.output


def test_the_cli_counts_torch_off_as_a_pass(cli):
    result = cli("activations", "check", "celu", "-p", "alpha=0.3", "-f", "table")
    assert result.exit_code == 0, result.output
    assert "torch's reference is off at some points for celu" in result.output


def test_mpmath_is_not_imported_at_start_up():
    code = ("import sys, dlcli.cli, dlcli.activations.autograd_check; "
            "from dlcli.cli import activations; assert 'mpmath' not in sys.modules, 'mpmath imported'")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def mp_softmax(z):
    e = [mpmath.exp(mpmath.mpf(float(v))) for v in z]
    return [y / mpmath.fsum(e) for y in e]


@pytest.mark.parametrize("z", [[20.0, 3.0, -1.0], [0.0, -16.5, -20.0, 1e-3], [1.0, 2.0, 3.0], [5.0]])
def test_softmax_family_jacobians_against_mpmath_where_torch_cancels(z):
    s = mp_softmax(z)
    n = len(z)
    exact = np.array([[float(s[i] * ((i == j) - s[j])) for j in range(n)] for i in range(n)])
    log_exact = np.array([[float((i == j) - s[j]) for j in range(n)] for i in range(n)])
    log_values = np.array([float(mpmath.log(v)) for v in s])
    x = np.array(z)
    np.testing.assert_allclose(activations.get("softmax").derivative(x), exact, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(activations.get("log_softmax").derivative(x), log_exact, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(activations.get("log_softmax")(x), log_values, rtol=1e-14, atol=1e-300)


def test_vector_check_settles_by_mpmath_too():
    for name in ("softmax", "log_softmax", "softmin"):
        result = autograd_check.check(activations.get(name))
        assert result.passed and result.grad_rel_err < 1e-13, name  # dlcli's own error, not torch's cancellation
