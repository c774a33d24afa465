"""Activations written as formulas: values and symbolic derivatives against torch autograd written here, mpmath,
and the registry's own functions they spell; parameters, rewrites, NaN, hostile input, theory and vanish."""

from __future__ import annotations

import math
import re
import warnings

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcli import activations
from dlcli.activations import formula
from dlcli.errors import InputError
from dlcli.expr import evaluate, tree

GRID = np.concatenate([np.linspace(-30, 30, 6001), [0.0, 1e-8, -1e-8, 0.5, -0.5]])

# each formula beside the same function written directly in torch (test-local, independent of our torch evaluator)
TORCH = {
    "x*sigmoid(x)": lambda x: x * torch.sigmoid(x),
    "x*sigmoid(1.702*x)": lambda x: x * torch.sigmoid(1.702 * x),
    "x*tanh(softplus(x))": lambda x: x * torch.tanh(F.softplus(x)),
    "where(x > 0, x, 0.1*x)": lambda x: torch.where(x > 0, x, 0.1 * x),
    "x*erf(x/sqrt(2))/2 + x/2": lambda x: x * torch.erf(x / math.sqrt(2)) / 2 + x / 2,
    "exp(-x**2)": lambda x: torch.exp(-x**2),
    "sin(x) + cos(2*x)/3": lambda x: torch.sin(x) + torch.cos(2 * x) / 3,
    "x/(1 + abs(x))": lambda x: x / (1 + torch.abs(x)),
    "min(max(x, -1), 1)*pi - e": lambda x: torch.minimum(torch.maximum(x, torch.tensor(-1.0)), torch.tensor(1.0))
    * math.pi - math.e,
    "2**x - x**3/6": lambda x: 2**x - x**3 / 6,
    "sqrt(x**2 + 1) - 1": lambda x: torch.sqrt(x**2 + 1) - 1,
    "x*(x >= 0) + leaky_relu(x, alpha=0.2)": lambda x: x * (x >= 0) + F.leaky_relu(x, 0.2),
}


@pytest.mark.parametrize("text", sorted(TORCH))
def test_values_and_symbolic_derivatives_equal_torch_autograd(text):
    act = activations.get(text)
    x = torch.tensor(GRID, dtype=torch.float64, requires_grad=True)
    y = TORCH[text](x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    np.testing.assert_allclose(act(GRID), y.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(act.derivative(GRID), dy.numpy(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("text", sorted(TORCH))
def test_the_printed_derivative_is_a_formula_that_parses_back(text):
    act = activations.get(text)
    printed = act.derivative_formula.removeprefix("f'(x) = ")
    parsed = tree.parse(printed, formula.functions(entries={}), allow_derivatives=True)
    np.testing.assert_allclose(evaluate.values(parsed, GRID, {}), act.derivative(GRID), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("text", "name"), [("x*sigmoid(x)", "silu"), ("x*tanh(softplus(x))", "mish"),
                                            ("max(x, 0)", "relu"), ("log(1 + exp(x))", "softplus"),
                                            ("(exp(2*x) - 1)/(exp(2*x) + 1)", "tanh")])
def test_a_formula_and_the_registered_function_it_spells_agree(text, name):
    act, ref = activations.get(text), activations.get(name)
    x = GRID[np.abs(GRID) < 20]  # tanh spelled with exp overflows beyond ~350 (inf/inf); the rest hold everywhere
    x = x[x != 0] if name == "relu" else x  # max splits the tie at 0 (torch.maximum's convention); relu'(0) = 0
    np.testing.assert_allclose(act(x), ref(x), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(act.derivative(x), ref.derivative(x), rtol=1e-12, atol=1e-14)
    mine, theirs = activations.properties(act), activations.properties(ref)
    assert mine.max_abs_grad == pytest.approx(theirs.max_abs_grad, rel=1e-12)
    assert mine.grad_at_zero == pytest.approx(theirs.grad_at_zero, rel=1e-12, abs=1e-300) or name == "relu"


def test_the_naive_formula_is_rewritten_where_it_loses_accuracy():
    """log(1+exp(x)) for x ≪ 0 is 0 in float64 as written; the rewrite keeps e^x (mpmath at 50 digits)."""
    mpmath.mp.dps = 50
    act = activations.get("log(1 + exp(x))")
    for x in (-700.0, -50.0, -1.0, 0.0, 30.0, 800.0):
        ref = mpmath.log(1 + mpmath.exp(x))
        assert float(act(x)) == pytest.approx(float(ref), rel=1e-14), x
        assert float(act.derivative(x)) == pytest.approx(float(1 / (1 + mpmath.exp(-x))), rel=1e-14), x
    tanh2 = activations.get("1 - tanh(x)**2")
    assert float(tanh2(20.0)) == pytest.approx(float(1 / mpmath.cosh(20) ** 2), rel=1e-12)
    assert float(activations.get("exp(x) - 1")(1e-10)) == pytest.approx(float(mpmath.expm1(1e-10)), rel=1e-15)
    assert "Evaluated as softplus(x)" in act.notes


def test_nan_stays_nan_and_undefined_is_nan():
    for text in ("where(x > 0, x, 0)", "x*sigmoid(x)", "max(x, 0)", "2", "exp(-x**2)*0 + 1"):
        if text == "2":
            with pytest.raises(InputError, match="not a function of x"):
                activations.get(text)
            continue
        act = activations.get(text)
        assert np.isnan(act(np.array([np.nan]))).all() and np.isnan(act.derivative(np.array([np.nan]))).all()
    log = activations.get("log(x)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values, slopes = log(np.array([-1.0, 0.0, 2.0])), log.derivative(np.array([-1.0, 0.0, 2.0]))
    assert np.isnan(values[0]) and values[1] == -np.inf and values[2] == pytest.approx(math.log(2))
    assert np.isnan(slopes[0]) and slopes[2] == 0.5  # f' = 1/x is finite at -1, but f is undefined there


def test_infinities_take_the_limit_the_registry_takes():
    x = np.array([-np.inf, -1e300, 1e300, np.inf])
    np.testing.assert_array_equal(activations.get("x*sigmoid(x)")(x), activations.get("silu")(x))
    np.testing.assert_array_equal(activations.get("x*sigmoid(x)").derivative(x), activations.get("silu").derivative(x))


def test_parameters_set_with_p_and_an_unset_one_is_named():
    act = activations.get("x*sigmoid(b*x)")
    assert [p.name for p in act.params] == ["b"]
    assert float(act(1.0, b=1.702)) == pytest.approx(1 / (1 + math.exp(-1.702)))
    with pytest.raises(InputError, match="parameter b of x\\*sigmoid\\(b\\*x\\) is not set; give it with -p b="):
        act(1.0)
    with pytest.raises(InputError, match="unknown parameter .* 'c'"):
        act.resolve({"c": "1"})
    assert act.derivative_formula == "f'(x) = sigmoid(b*x) + b*x*sigmoid'(b*x)"


@pytest.mark.parametrize(("text", "message"), [
    ("__import__('os').system('true')", "strings are not part of the grammar"),
    ("x.__class__", "attribute access is not part of the grammar"),
    ("lambda: x", "in the formula"),
    ("x*sigmod(x)", "unknown function 'sigmod'; did you mean 'sigmoid'"),
    ("y + 1", "not a function of x .*did you mean 'x'"),
    ("exp*x", "exp is a function: write exp"),
    ("softmax(x)", "maps a whole vector"),
    ("sigmoid'(x)", "is a derivative"),
    ("where(x > 0, x)", "three arguments"),
    ("-(" * 150 + "x" + ")" * 150, "nests more than 100 levels"),
    ("exp(" * 150 + "x" + ")" * 150, "nests more than 100 levels"),
    ("x+" * 1500 + "x", "at most 2000 characters"),
    ("sigmod", "unknown activation 'sigmod'; did you mean 'sigmoid'"),
    ("soft-plus", "unknown activation 'soft-plus'; did you mean 'softplus'"),
])
def test_bad_and_hostile_formulas_are_one_clear_error(text, message):
    with pytest.raises(InputError, match=message):
        activations.get(text)


def test_words_with_a_lone_x_are_formulas():
    assert float(activations.get("x-1")(3.0)) == 2.0 and float(activations.get("x")(3.0)) == 3.0
    assert activations.get("leaky-relu") is activations.get("leaky_relu")


def test_top_level_comma_split_keeps_formulas_whole():
    assert formula.split_names("relu, max(x, 0),where(x > 0, x, 0.1*x) ,gelu") == [
        "relu", "max(x, 0)", "where(x > 0, x, 0.1*x)", "gelu"]
    assert formula.split_names("sigmoid") == ["sigmoid"]


def test_mean_field_theory_of_a_formula_equals_the_named_function():
    from dlcli.vanish import meanfield

    for text, name in (("x*tanh(softplus(x))", "mish"), ("(exp(2*x) - 1)/(exp(2*x) + 1)", "tanh")):
        a, b = (meanfield.tabulate(activations.get(n), {}) for n in (text, name))
        q_a, q_b = (meanfield.fixed_point(t, 2.0, 0.05, 1.0) for t in (a, b))
        assert q_a == pytest.approx(q_b, rel=1e-12)
        assert meanfield.chi_at_fixed_point(a, 2.0, q_a) == pytest.approx(meanfield.chi_at_fixed_point(b, 2.0, q_b),
                                                                          rel=1e-12)
        gain_a, gain_b = meanfield.critical_gain(a, 0.05), meanfield.critical_gain(b, 0.05)
        assert (gain_a is None and gain_b is None) or gain_a == pytest.approx(gain_b, rel=1e-10)


def test_vanish_gives_the_same_numbers_for_a_formula_and_the_name_it_spells():
    from dlcli.vanish.analysis import run
    from dlcli.vanish.config import make_config

    results = [run(make_config(act, depth=6, width=32, batch=16, seed=3)).as_dict()
               for act in ("x*tanh(softplus(x))", "mish")]
    rows = [[layer["grad_rms"] for layer in r["layers"]] for r in results]
    np.testing.assert_allclose(rows[0], rows[1], rtol=1e-12)
    assert results[0]["theory"]["chi1"] == pytest.approx(results[1]["theory"]["chi1"], rel=1e-12)


def test_check_proves_formulas_against_torch_and_finite_differences():
    from dlcli.activations.autograd_check import check

    for text in ("x*tanh(softplus(x))", "where(x > 0, x, 0.1*x)", "log(x)", "x**2"):
        result = check(activations.get(text))
        assert result.passed and result.fd_rel_err is not None and result.fd_rel_err < 1e-5, result
    wrong = activations.get("x*sigmoid(x)")._replace(grad=lambda x: activations.get("sigmoid")(x))
    assert not check(wrong).passed


# --- random formulas: the symbolic derivative against autograd of the same tree in torch -----------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

LEAVES = st.sampled_from(["x", "x", "2", "0.5", "pi", "b"])
UNARY_FNS = ["exp", "sin", "cos", "tanh", "sigmoid", "softplus", "erf", "abs", "gelu", "mish", "elu"]


def _extend(children):
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(UNARY_FNS), children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(children, st.sampled_from(["2", "3"])).map(lambda t: f"({t[0]})**{t[1]}"),
        st.tuples(children, children).map(lambda t: f"where({t[0]} > 0, {t[0]}, {t[1]})"),
        st.tuples(children, children).map(lambda t: f"max({t[0]}, {t[1]})"),
    )


FORMULAS = st.recursive(LEAVES, _extend, max_leaves=8).filter(lambda s: re.search(r"\bx\b", s) is not None)


@settings(max_examples=60, deadline=None)
@given(text=FORMULAS)
def test_random_formulas_differentiate_like_torch_autograd(text):
    act = activations.get(text)
    params = {"b": 0.7} if "b" in [p.name for p in act.params] else {}
    grid = np.linspace(-4, 4, 401) + 1e-3 / 3  # off the ties of max and where at round numbers
    x = torch.tensor(grid, dtype=torch.float64, requires_grad=True)
    y = act.torch_ref(torch, x, params)
    (dy,) = torch.autograd.grad(y.sum(), x)
    ref_value, ref_grad = y.detach().numpy(), dy.numpy()
    ok = np.isfinite(ref_value) & np.isfinite(ref_grad) & (np.abs(ref_value) < 1e100)
    np.testing.assert_allclose(act(grid, **params)[ok], ref_value[ok], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(act.derivative(grid, **params)[ok], ref_grad[ok], rtol=1e-8, atol=1e-10)
