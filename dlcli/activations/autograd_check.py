"""Proof of every analytic derivative: compare with torch autograd (and central finite differences).

torch is imported here, inside `check`, and nowhere on the start-up path of the CLI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dlcli.activations import Activation
from dlcli.activations.base import Params

# Below this absolute difference the two sides agree to float64 rounding of terms of size ~1: torch's own
# formulas cancel there (1 − tanh², 1 + erf(x/√2) for x ≪ 0) while ours are rewritten not to.
ATOL = 1e-14
FD_RTOL = 1e-5
FD_ATOL = 1e-7
EXTREMES = (-1e300, -1e4, -1000.0, -1e-300, 0.0, 1e-300, 1000.0, 1e4, 1e300)


@dataclass(frozen=True)
class CheckResult:
    name: str
    params: Params
    reference: str
    points: int
    value_rel_err: float
    grad_abs_err: float
    grad_rel_err: float
    fd_rel_err: float | None
    passed: bool


def check_points(act: Activation, params: Params) -> np.ndarray:
    """A dense grid over [-50, 50], the kinks and conventions points, and extremes of the float64 line."""
    special = [0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0, 1e-8, -1e-8]
    special += [v for v in params.values() if math.isfinite(v)]
    special += [-v for v in params.values() if math.isfinite(v)]
    return np.unique(np.concatenate([np.linspace(-50.0, 50.0, 20_001), special, EXTREMES]))


def _rel(err: np.ndarray, ref: np.ndarray) -> float:
    mask = np.abs(ref) >= 1e-8
    return float(np.max(err[mask] / np.abs(ref[mask]))) if mask.any() else 0.0


def check(act: Activation, params: Params | None = None) -> CheckResult:
    """Compare values and derivatives with torch on check_points (vectors for softmax-like activations)."""
    import torch

    params = act.resolve(params)
    if act.vector:
        return _check_vector(act, params, torch)
    x = check_points(act, params)
    undefined = np.isin(x, act.undefined_grad_at(params))
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = act.torch_ref(torch, xt, params)
    (gt,) = torch.autograd.grad(yt.sum(), xt)
    ref_value, ref_grad = yt.detach().numpy(), gt.numpy()
    value, grad = act.fn(x, **params), act.grad(x, **params)
    ok = np.isfinite(ref_value) & np.isfinite(ref_grad) & ~undefined  # torch itself overflows at some extremes
    value_err = np.abs(value[ok] - ref_value[ok])
    grad_err = np.abs(grad[ok] - ref_grad[ok])
    passed = bool(
        np.all(value_err <= act.reference_rtol * np.abs(ref_value[ok]) + ATOL)
        and np.all(grad_err <= act.reference_rtol * np.abs(ref_grad[ok]) + ATOL)
        # ours may be ±inf or NaN only where torch's value is too (x² at 1e300 overflows; log x is NaN for x < 0)
        and np.all(np.isfinite(value) | ~np.isfinite(ref_value))
        and np.all(np.isfinite(grad) | ~np.isfinite(ref_value) | ~np.isfinite(ref_grad))
    )
    fd_err = None
    reference = "torch autograd" if act.torch_native else "autograd of the formula in torch"
    if not act.torch_native:
        fd_err = finite_difference_error(act, params)
        passed = passed and fd_err <= FD_RTOL
        reference += " + finite differences"
    return CheckResult(
        act.name, params, reference, int(ok.sum()),
        _rel(value_err, ref_value[ok]), float(grad_err.max(initial=0.0)),
        _rel(grad_err, ref_grad[ok]), fd_err, passed,
    )


def finite_difference_error(act: Activation, params: Params) -> float:
    """Worst |analytic − central difference| / max(1, |f'|) on [-20, 20], away from points f' is undefined."""
    x = np.linspace(-20.0, 20.0, 4_001) + 1e-3 / 3  # off the grid of kinks at round numbers
    for bad in act.undefined_grad_at(params):
        x = x[np.abs(x - bad) > 1e-3]
    h = 1e-6 * np.maximum(1.0, np.abs(x))
    numeric = (act.fn(x + h, **params) - act.fn(x - h, **params)) / (2 * h)
    analytic = act.grad(x, **params)
    err = np.abs(analytic - numeric) / np.maximum(1.0, np.abs(analytic))
    return float(np.max(err[np.isfinite(err)], initial=0.0))  # a formula may be undefined (NaN) on part of the line


def _check_vector(act: Activation, params: Params, torch) -> CheckResult:
    rng = np.random.default_rng(0)
    vectors = [rng.normal(0, s, n) for s in (0.1, 1.0, 10.0, 100.0) for n in (1, 2, 5, 17)]
    vectors += [np.array([1000.0, -1000.0, 0.0]), np.array([1e300, 1e300]), np.array([-1e4, 3.0, 3.0])]
    worst_v = worst_g = worst_rel = 0.0
    passed = True
    for v in vectors:
        t = torch.tensor(v, dtype=torch.float64)
        ref_value = act.torch_ref(torch, t, params).numpy()
        ref_jac = torch.autograd.functional.jacobian(lambda z: act.torch_ref(torch, z, params), t).numpy()
        value, jac = act.fn(v, **params), act.grad(v, **params)
        ok_v, ok_j = np.isfinite(ref_value), np.isfinite(ref_jac)
        verr, gerr = np.abs(value - ref_value)[ok_v], np.abs(jac - ref_jac)[ok_j]
        worst_v = max(worst_v, _rel(verr, ref_value[ok_v]))
        worst_g = max(worst_g, float(gerr.max(initial=0)))
        worst_rel = max(worst_rel, _rel(np.abs(jac - ref_jac)[ok_j], ref_jac[ok_j]))
        passed = passed and bool(
            np.all(verr <= act.reference_rtol * np.abs(ref_value[ok_v]) + ATOL)
            and np.all(gerr <= act.reference_rtol * np.abs(ref_jac[ok_j]) + ATOL)
        )
    return CheckResult(act.name, params, "torch autograd (Jacobian)", len(vectors), worst_v, worst_g, worst_rel,
                       None, passed)
