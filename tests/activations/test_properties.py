"""Declared and computed properties of the activations, checked against the functions and against torch."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dlcli import activations
from dlcli.activations import literature
from dlcli.activations.base import InputError

ELEMENTWISE = activations.names(elementwise_only=True)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_max_abs_grad_and_grad_at_zero_match_torch_autograd(name):
    act = activations.get(name)
    params = act.resolve()
    x = torch.linspace(-20, 20, 400_001, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(act.torch_ref(torch, x, params).sum(), x)
    if name == "step":
        g = torch.zeros_like(g)  # torch has no derivative for the step; it is 0 where it exists
    props = activations.properties(act)
    if name in literature.SUPERLINEAR:  # f' is unbounded: the search on [-20, 20] ends at its edge
        assert props.max_abs_grad >= g.abs().max().item()
    else:
        sampled = g.abs().max().item()
        # never exceeded (torch's float64 hardsigmoid backward uses float32 1/6, 3e-8 above the true slope)
        assert sampled <= props.max_abs_grad * (1 + (1e-7 if name == "hardsigmoid" else 1e-12))
        if props.max_abs_grad_attained:
            assert props.max_abs_grad == pytest.approx(sampled, rel=1e-6, abs=1e-12)
        else:  # a supremum approached towards `where` (±inf or a jump of f'), never reached on the grid
            inner = g.abs()[x.detach().abs() <= 10]  # tanh²(20) already rounds to 1 in float64
            assert inner.max().item() < props.max_abs_grad
            w = props.argmax_abs_grad
            near = [math.copysign(40.0, w)] if math.isinf(w) else [w - 1e-9, w - 1e-12, w + 1e-9, w + 1e-12]
            xn = torch.tensor(near, dtype=torch.float64, requires_grad=True)
            (gn,) = torch.autograd.grad(act.torch_ref(torch, xn, params).sum(), xn)
            assert gn.abs().max().item() == pytest.approx(props.max_abs_grad, rel=1e-8)
    zero = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    (g0,) = torch.autograd.grad(act.torch_ref(torch, zero, params).sum(), zero)
    expected = 0.0 if name == "step" else g0.item()
    assert props.grad_at_zero == pytest.approx(expected, rel=1e-7)


def test_suprema_are_exact_and_say_whether_they_are_attained():
    """Closed forms, not sampling artefacts (hardswish once showed 1.4999999999999996)."""
    hardswish = activations.properties(activations.get("hardswish"))
    # f' = x/3 + 1/2 on (−3, 3), 1 beyond: the supremum is the limit at 3⁻, which mpmath confirms
    assert float(mpmath.limit(lambda x: mpmath.diff(lambda t: t * (t + 3) / 6, x), 3)) == 1.5
    assert hardswish.max_abs_grad == 1.5 and not hardswish.max_abs_grad_attained
    for name in ("softplus", "logsigmoid", "tanhshrink"):  # f' → 1 at infinity: σ(x), σ(−x), tanh²(x)
        props = activations.properties(activations.get(name))
        assert props.max_abs_grad == 1.0 and not props.max_abs_grad_attained, name
    mp_sigmoid_inf = mpmath.limit(lambda x: 1 / (1 + mpmath.exp(-x)), mpmath.inf)
    assert float(mp_sigmoid_inf) == 1.0
    for name, value in (("sigmoid", 0.25), ("tanh", 1.0), ("hardsigmoid", 1 / 6), ("relu6", 1.0), ("eru", 2.0)):
        props = activations.properties(activations.get(name))
        assert props.max_abs_grad == value and props.max_abs_grad_attained, name
    gelu_peak = mpmath.ncdf(mpmath.sqrt(2)) + mpmath.sqrt(2) * mpmath.npdf(mpmath.sqrt(2))
    assert activations.properties(activations.get("gelu")).max_abs_grad == pytest.approx(float(gelu_peak), rel=1e-15)
    assert activations.properties(activations.get("elu"), {"alpha": 2.0}).max_abs_grad == 2.0
    # log_softmax's Jacobian entries δ_ij − s_j approach 1 as s_j → 0 and never reach it; softmax's peak at s = ½
    z = np.array([0.0, -30.0])
    assert abs(activations.get("log_softmax").derivative(z)).max() < 1.0
    assert not activations.properties(activations.get("log_softmax")).max_abs_grad_attained
    assert activations.get("softmax").derivative(np.zeros(2))[0, 0] == 0.25
    assert activations.properties(activations.get("softmax")).max_abs_grad_attained
    assert activations.properties(activations.get("prelu"), {"a": -3.0}).max_abs_grad == 3.0


def one_sided_slopes(f, p: float, h: float = 1e-6) -> tuple[float, float, float]:
    """(left slope, right slope, jump of f) at p, from f alone."""
    fp, fl, fr = (float(f(v)) for v in (p, p - h, p + h))
    return (fp - fl) / h, (fr - fp) / h, abs(fr - fl)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_grad_undefined_at_lists_exactly_the_kinks_smoothness_names(name):
    act = activations.get(name)
    params = act.resolve()
    undefined = act.undefined_grad_at(params)
    words, _, unless = act.kinks.partition(" unless ")
    names_a_kink = any(w in words for w in ("kink", "jump at", "jumps at")) and not words.startswith("f''")
    if unless == "α = 1" and params.get("alpha") == 1:  # elu at its default α = 1 is smooth at 0
        names_a_kink = False
    assert bool(undefined) == names_a_kink, (act.kinks, undefined)
    for p in undefined:  # f is not differentiable there: the one-sided slopes differ, or f jumps
        left, right, jump = one_sided_slopes(act, p)
        assert abs(left - right) > 1e-3 or jump > 1e-3, (name, p)
    for p in {0.0, 3.0, -3.0, 6.0, 0.5, -0.5, 1.0, -1.0} - set(undefined):  # and nowhere else among the usual
        left, right, jump = one_sided_slopes(act, p)
        assert abs(left - right) < 1e-4 and jump < 1e-4, (name, p)


def test_max_abs_grad_closed_forms():
    """Published/closed-form maxima: σ' ≤ 1/4; GELU' peaks at x = √2; SiLU' where 2 + x − (x − 2)e^{−x}... = 0."""
    assert activations.properties(activations.get("sigmoid")).max_abs_grad == pytest.approx(0.25, rel=1e-12)
    gelu_peak = mpmath.ncdf(mpmath.sqrt(2)) + mpmath.sqrt(2) * mpmath.npdf(mpmath.sqrt(2))
    assert activations.properties(activations.get("gelu")).max_abs_grad == pytest.approx(float(gelu_peak), rel=1e-10)

    def silu_grad(x):
        s = 1 / (1 + mpmath.exp(-x))
        return s * (1 + x * (1 - s))

    x_star = mpmath.findroot(lambda x: mpmath.diff(silu_grad, x), 2.4)
    assert activations.properties(activations.get("silu")).max_abs_grad == pytest.approx(float(silu_grad(x_star)),
                                                                                      rel=1e-10)
    assert activations.properties(activations.get("selu")).max_abs_grad == pytest.approx(1.0507009873554805 *
                                                                                      1.6732632423543772)


@pytest.mark.parametrize("name", [n for n in ELEMENTWISE if activations.get(n).monotonic])
@settings(max_examples=60, deadline=None)
@given(xs=arrays(np.float64, 20, elements=finite))
def test_declared_monotonic_functions_never_decrease(name, xs):
    act = activations.get(name)
    xs = np.sort(xs)
    assert np.all(np.diff(act(xs)) >= 0)
    assert np.all(act.derivative(xs) >= 0)


@pytest.mark.parametrize("name", [n for n in ELEMENTWISE if not activations.get(n).monotonic])
def test_declared_non_monotonic_functions_do_decrease_somewhere(name):
    act = activations.get(name)
    xs = np.linspace(-10, 10, 20_001)
    assert np.any(np.diff(act(xs)) < 0)


@pytest.mark.parametrize(("name", "params"), [("prelu", {"a": -0.5}), ("threshold", {"threshold": 1, "value": 2})])
def test_monotonic_only_at_default_parameters(name, params):
    xs = np.linspace(-10, 10, 20_001)
    assert np.any(np.diff(activations.get(name)(xs, **params)) < 0)


@pytest.mark.parametrize("name", ELEMENTWISE)
@settings(max_examples=40, deadline=None)
@given(xs=arrays(np.float64, 20, elements=st.floats(min_value=-1e300, max_value=1e300, allow_nan=False)))
def test_values_stay_in_the_declared_range(name, xs):
    act = activations.get(name)
    lo, hi = act.bounds(act.resolve())
    values = act(xs)
    assert np.all(values >= lo - 1e-12) and np.all(values <= hi + 1e-12)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_zero_centred_means_odd(name):
    act = activations.get(name)
    xs = np.linspace(0, 10, 2001)
    assert act.zero_centred == bool(np.allclose(act(-xs), -act(xs), rtol=1e-14, atol=0))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_saturation_sides_match_the_derivative_far_out(name):
    act = activations.get(name)
    left, right = (abs(float(act.derivative(v))) < 1e-6 for v in (-1e3, 1e3))
    expected = {"no": (False, False), "left": (True, False), "right": (False, True), "both": (True, True)}
    assert (left, right) == expected[act.saturates]


# --- softmax family ------------------------------------------------------------------------------

vectors = arrays(np.float64, st.integers(1, 12), elements=st.floats(-500, 500, allow_nan=False))


@settings(max_examples=100, deadline=None)
@given(z=vectors, shift=st.floats(-1e3, 1e3))
def test_softmax_sums_to_one_and_ignores_shifts(z, shift):
    softmax = activations.get("softmax")
    s = softmax(z)
    assert math.isclose(s.sum(), 1.0, rel_tol=1e-12)
    assert np.all(s >= 0)
    np.testing.assert_allclose(softmax(z + shift), s, rtol=1e-9, atol=1e-300)


@settings(max_examples=50, deadline=None)
@given(z=vectors)
def test_softmax_jacobian_matches_torch_and_rows_sum_to_zero(z):
    for name in ("softmax", "log_softmax", "softmin"):
        act = activations.get(name)
        t = torch.tensor(z, dtype=torch.float64)
        ref = torch.autograd.functional.jacobian(lambda v, a=act: a.torch_ref(torch, v, {}), t).numpy()
        np.testing.assert_allclose(act.derivative(z), ref, rtol=1e-10, atol=1e-14)
        # log_softmax of the largest entry is −log(1 + tiny): both sides round the sum first, hence the atol
        np.testing.assert_allclose(act(z), act.torch_ref(torch, t, {}).numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(activations.get("softmax").derivative(z).sum(axis=1), 0.0, atol=1e-15)


def test_parameter_validation_and_unknown_names():
    with pytest.raises(InputError, match="out of range"):
        activations.get("elu").resolve({"alpha": "-1"})
    with pytest.raises(InputError, match="did you mean 'alpha'"):
        activations.get("elu").resolve({"alpa": "1"})
    with pytest.raises(InputError, match="takes no parameters"):
        activations.get("relu").resolve({"alpha": "1"})
    with pytest.raises(InputError, match="did you mean 'sigmoid'"):
        activations.get("sigmod")
