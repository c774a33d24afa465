"""Proof of every analytic derivative: compare with torch autograd (and central finite differences).

Where dlcli and torch disagree, mpmath at 80 digits settles who is right (the activation's `mpmath_ref`);
a point where dlcli matches mpmath and torch does not counts for dlcli, and the result says so.
torch and mpmath are imported here, inside `check`, and nowhere on the start-up path of the CLI.
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
REL_FLOOR = 1e-8  # references at least this large are also held to the relative tolerance alone
MP_DPS = 80
SETTLE_RTOL = 1e-12  # dlcli against mpmath, where torch disagrees
# Points where the two differ by more than this (~45 ulps) go to mpmath, so the errors reported are dlcli's
# own, not torch's: what is left is rounding, below 1e-13, on any machine.
SETTLE_ABOVE = 1e-14
TINY = 2.2250738585072014e-308  # float64's smallest normal number: below it mpmath's value cannot be represented
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
    torch_off: int = 0  # points where torch's reference is off and mpmath agrees with dlcli
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


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
    # At a kink dlcli follows torch's convention (relu'(0) = 0), which is checked; a transcription has none
    undefined = np.isin(x, act.undefined_grad_at(params)) & (not act.torch_native)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = act.torch_ref(torch, xt, params)
    (gt,) = torch.autograd.grad(yt.sum(), xt)
    ref_value, ref_grad = yt.detach().numpy().copy(), gt.numpy().copy()
    value, grad = act.fn(x, **params), act.grad(x, **params)
    ok = np.isfinite(ref_value) & np.isfinite(ref_grad) & ~undefined  # torch itself overflows at some extremes
    rtol = act.reference_rtol
    disagree = _disagree(value, ref_value) | _disagree(grad, ref_grad)
    torch_off, note = 0, ""
    settled = act.mpmath_ref is not None and bool(np.any(disagree & ok))
    if settled:
        torch_off, note = _settle(act, params, x, value, grad, ref_value, ref_grad, disagree & ok)
    value_err = np.abs(value[ok] - ref_value[ok])
    grad_err = np.abs(grad[ok] - ref_grad[ok])
    passed = bool(
        np.all(value_err <= rtol * np.abs(ref_value[ok]) + ATOL)
        and np.all(grad_err <= rtol * np.abs(ref_grad[ok]) + ATOL)
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
    if act.mpmath_ref is not None:  # the procedure, not its outcome, which rounding could tip either way
        reference += " + mpmath"
    return CheckResult(
        act.name, params, reference, int(ok.sum()),
        _rel(value_err, ref_value[ok]), float(grad_err.max(initial=0.0)),
        _rel(grad_err, ref_grad[ok]), fd_err, passed, torch_off, note,
    )


def _disagree(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Points where dlcli and torch differ by more than SETTLE_ABOVE relative (and ATOL, below REL_FLOOR)."""
    with np.errstate(invalid="ignore"):
        err, size = np.abs(ours - ref), np.abs(ref)
        return (err > SETTLE_ABOVE * size) & ((err > SETTLE_ABOVE * size + ATOL) | (size >= REL_FLOOR))


def _settle(act: Activation, params: Params, x: np.ndarray, value: np.ndarray, grad: np.ndarray,
            ref_value: np.ndarray, ref_grad: np.ndarray, points: np.ndarray) -> tuple[int, str]:
    """At `points` mpmath replaces torch's reference (in place), so that only a real error of dlcli's remains.
    Returns how many points dlcli matches mpmath where torch does not, and a note on the worst."""
    import mpmath

    mp_ref = act.mpmath_ref
    assert mp_ref is not None

    def f(t):
        return mp_ref(mpmath, t, params)

    off, worst, where = 0, 0.0, ""
    for i in np.flatnonzero(points):
        # h = |x|·2⁻⁶⁰ crosses a kink only at the kink itself; the extra digits keep x ± h apart in terms of
        # size 1 (x/6 + 1/2 at x = 1e-300)
        digits = MP_DPS + (max(0, int(-math.log10(abs(float(x[i]))))) if x[i] != 0 else 0)
        with mpmath.workdps(digits):
            xi = mpmath.mpf(float(x[i]))
            h = (abs(xi) if xi != 0 else mpmath.mpf(1)) * mpmath.mpf(2) ** -60
            mp_value, mp_grad = float(f(xi)), float((f(xi + h) - f(xi - h)) / (2 * h))
        if _close(value[i], mp_value) and _close(grad[i], mp_grad) and not (
                _close(ref_value[i], mp_value) and _close(ref_grad[i], mp_grad)):
            off += 1
            miss_v, miss_g = _miss(ref_value[i], mp_value), _miss(ref_grad[i], mp_grad)
            if max(miss_v, miss_g) > worst:
                what, theirs, true = ("f'", ref_grad[i], mp_grad) if miss_g >= miss_v else ("f", ref_value[i], mp_value)
                worst, where = max(miss_v, miss_g), (f"worst at x = {float(x[i])!r}: torch {what} = "
                                                     f"{float(theirs)!r}, dlcli and mpmath {float(true)!r}")
        ref_value[i], ref_grad[i] = mp_value, mp_grad  # mpmath is the better reference here, either way
    if not off:
        return 0, ""
    return off, (f"torch's reference is off here at {off} of {x.size} points, where dlcli agrees with mpmath "
                 f"({MP_DPS} digits); {where}")


def _close(ours: float, true: float) -> bool:
    return bool(abs(ours - true) <= SETTLE_RTOL * abs(true) + TINY)


def _miss(theirs: float, true: float) -> float:
    return abs(theirs - true) / max(abs(true), TINY)


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
    off = 0
    for v in vectors:
        t = torch.tensor(v, dtype=torch.float64)
        ref_value = act.torch_ref(torch, t, params).numpy().copy()
        ref_jac = torch.autograd.functional.jacobian(lambda z: act.torch_ref(torch, z, params), t).numpy().copy()
        value, jac = act.fn(v, **params), act.grad(v, **params)
        if act.mpmath_ref is not None and (_disagree(value, ref_value).any() or _disagree(jac, ref_jac).any()):
            mp_value, mp_jac = _mp_vector(act, params, v)
            ours_ok = _all_close(value, mp_value) & _all_close(jac, mp_jac).all(axis=0)
            torch_ok = _all_close(ref_value, mp_value) & _all_close(ref_jac, mp_jac).all(axis=0)
            off += int(np.sum(ours_ok & ~torch_ok))
            ref_value, ref_jac = mp_value, mp_jac  # mpmath is the better reference here, either way
        ok_v, ok_j = np.isfinite(ref_value), np.isfinite(ref_jac)
        verr, gerr = np.abs(value - ref_value)[ok_v], np.abs(jac - ref_jac)[ok_j]
        worst_v = max(worst_v, _rel(verr, ref_value[ok_v]))
        worst_g = max(worst_g, float(gerr.max(initial=0)))
        worst_rel = max(worst_rel, _rel(np.abs(jac - ref_jac)[ok_j], ref_jac[ok_j]))
        passed = passed and bool(
            np.all(verr <= act.reference_rtol * np.abs(ref_value[ok_v]) + ATOL)
            and np.all(gerr <= act.reference_rtol * np.abs(ref_jac[ok_j]) + ATOL)
        )
    note = (f"torch's reference is off here in {off} input coordinates, where dlcli agrees with mpmath "
            f"({MP_DPS} digits)") if off else ""
    reference = "torch autograd (Jacobian)" + (" + mpmath" if act.mpmath_ref else "")
    return CheckResult(act.name, params, reference, len(vectors), worst_v, worst_g, worst_rel, None, passed, off,
                       note)


def _mp_vector(act: Activation, params: Params, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mpmath's f(v) and Jacobian (column j by a central difference in v_j), as float64."""
    import mpmath

    mp_ref = act.mpmath_ref
    assert mp_ref is not None
    with mpmath.workdps(MP_DPS):
        z = [mpmath.mpf(float(c)) for c in v]
        value = np.array([float(y) for y in mp_ref(mpmath, z, params)])
        jac = np.empty((v.size, v.size))
        for j in range(v.size):
            h = (abs(z[j]) if z[j] != 0 else mpmath.mpf(1)) * mpmath.mpf(2) ** -60
            up, down = list(z), list(z)
            up[j] += h
            down[j] -= h
            jac[:, j] = [float((a - b) / (2 * h)) for a, b in zip(mp_ref(mpmath, up, params),
                                                                  mp_ref(mpmath, down, params), strict=True)]
    return value, jac


def _all_close(ours: np.ndarray, true: np.ndarray) -> np.ndarray:
    return np.abs(ours - true) <= SETTLE_RTOL * np.abs(true) + TINY
