"""What `activations show` says about a formula: decided from its tree where it allows, against hand-derived math
and mpmath; 'not decided' where it cannot; a flat chain is no deep nesting."""

from __future__ import annotations

import math

import mpmath
import pytest

from dlcli.activations import formula, properties
from dlcli.errors import InputError


def shown(text: str):
    """The facts `activations show` reports (its JSON), from an Activation built with no user activations."""
    act = formula.with_facts(formula.from_formula(text, entries={}))
    return properties(act).as_dict()


# (formula, range, never decreasing?, smoothness, grad undefined at, sup |f'|, attained): each worked by hand
DECIDED = [
    ("exp(x)", "(0, ∞)", True, "smooth", [], math.inf, False),
    ("exp(0.072*x)", "(0, ∞)", True, "smooth", [], math.inf, False),
    ("x**3", "(−∞, ∞)", True, "smooth", [], math.inf, False),  # f' = 3x² is unbounded
    ("x**3 + sin(x)", "(−∞, ∞)", None, "smooth", [], math.inf, False),  # f' = 3x² + cos x ≥ 3x² − 1
    ("1/x", "(−∞, ∞)", False, "pole at 0", [0.0], math.inf, False),
    ("sqrt(x)", "[0, ∞)", True, "domain edge at 0", [0.0], math.inf, False),  # f' = 1/(2√x)
    ("sqrt(1 - x)", "[0, ∞)", False, "domain edge at 1", [1.0], math.inf, False),
    ("log(x)", "(−∞, ∞)", True, "domain edge at 0", [0.0], math.inf, False),
    ("tanh(x)", "(−1, 1)", True, "smooth", [], 1.0, True),  # sech²(0) = 1
    ("2*tanh(3*x)", "(−2, 2)", True, "smooth", [], 6.0, True),  # 2·3·sech²(0)
    ("relu(x)", "[0, ∞)", True, "kink at 0", [], 1.0, True),
    ("relu(x - 2)", "[0, ∞)", True, "kink at 2", [], 1.0, True),
    ("max(x, 0)", "[0, ∞)", True, "kink at 0", [], 1.0, True),  # its sup |f'| is searched (see notes)
    ("abs(x - 1)", "[0, ∞)", False, "kink at 1", [], 1.0, True),
    ("-exp(-x)", "(−∞, 0)", True, "smooth", [], math.inf, False),
    ("x - x", "[0, 0]", True, "smooth", [], 0.0, True),
]


@pytest.mark.parametrize(("text", "rng", "monotonic", "kinks", "undefined", "sup", "attained"), DECIDED,
                         ids=[d[0] for d in DECIDED])
def test_facts_the_tree_decides(text, rng, monotonic, kinks, undefined, sup, attained):
    facts = shown(text)
    assert facts["range"] == rng
    assert facts["monotonic"] is monotonic
    assert facts["smoothness"] == kinks
    assert facts["grad_undefined_at"] == undefined
    assert facts["max_abs_grad"] == sup and facts["max_abs_grad_attained"] is attained
    assert ("not decided" in facts["notes"]) is (text == "max(x, 0)")


def test_swish_is_not_monotonic_and_its_minimum_is_the_one_mpmath_finds():
    mpmath.mp.dps = 30
    sigmoid = lambda x: 1 / (1 + mpmath.exp(-x))  # noqa: E731
    x_min = mpmath.findroot(lambda x: sigmoid(x) + x * sigmoid(x) * (1 - sigmoid(x)), -1.3)
    low = float(x_min * sigmoid(x_min))  # −0.278464542761074
    facts = shown("x*sigmoid(x)")
    assert facts["monotonic"] is False
    assert facts["range"].startswith("≈[") and facts["range"].split(",")[1].strip().startswith("∞)")
    shown_low = float(facts["range"][2:].split(",")[0].replace("−", "-"))
    assert abs(shown_low - low) <= 5e-5  # four significant digits
    assert "not decided" in facts["range"]
    x_peak = mpmath.findroot(lambda x: mpmath.diff(lambda t: t * sigmoid(t), x, 2), 2.4)  # sup |f'| where f'' = 0
    assert facts["max_abs_grad"] == pytest.approx(float(mpmath.diff(lambda t: t * sigmoid(t), x_peak)), rel=1e-9)
    assert "searched" in facts["notes"]  # found on a grid, not decided


def test_a_supremum_the_tree_cannot_decide_is_searched_and_said_to_be():
    facts = shown("1/(1 + x**2)")
    assert facts["range"] == "(0, 1]"
    assert facts["max_abs_grad"] == pytest.approx(3 * math.sqrt(3) / 8, rel=1e-9)  # at x = ±1/√3
    assert "max |f'| is searched" in facts["notes"]


def test_a_flat_sum_of_101_terms_is_not_deep_nesting():
    act = formula.from_formula(" + ".join(["x"] * 101), entries={})
    assert float(act(1.0)) == 101.0
    long_chain = "x" + "*x/x" * 300  # 601 factors: one chain, however long
    assert float(formula.from_formula(long_chain, entries={})(1.5)) == pytest.approx(1.5)


@pytest.mark.parametrize("text", ["x+(" * 101 + "x" + ")" * 101, "exp(" * 101 + "x" + ")" * 101,
                                  "-(" * 101 + "x" + ")" * 101])
def test_a_truly_deep_formula_is_refused_in_one_line(text):
    with pytest.raises(InputError, match="nests more than 100 levels deep"):
        formula.from_formula(text, entries={})
