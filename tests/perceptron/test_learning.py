"""The perceptron rule, both exact separability routes and the census, against theory and OEIS A000609."""

import math
import re
from fractions import Fraction

import numpy as np
import pytest

from dlcli.errors import InputError
from dlcli.perceptron.boolean import input_rows, parse_spec
from dlcli.perceptron.census import census, muroga_bound, positive_threshold_functions
from dlcli.perceptron.learning import cycling_verdict, decide, parse_rate, threshold_text, train

A000609 = {1: 4, 2: 14, 3: 104, 4: 1882, 5: 94572, 6: 15028134}  # OEIS: threshold functions, ≤ n variables
A000617 = {1: 3, 2: 6, 3: 20, 4: 150, 5: 3287, 6: 244158}  # OEIS: threshold functions with weights ≥ 0


def all_functions(n):
    return [parse_spec(format(i, f"0{2**n}b")) for i in range(2 ** 2**n)]


def reproduces(table, weights, bias):
    """Independent re-check with numpy floats: step(w·x + b), step(0) = 1."""
    rows = input_rows(len(table).bit_length() - 1)
    outputs = (rows @ np.array([float(w) for w in weights]) + float(bias)) >= 0
    return "".join("1" if o else "0" for o in outputs) == table


def hull_meets(table, hull):
    """Independent check that Σλ·ones = Σμ·zeros with λ, μ convex coefficients from the right sides."""
    rows = input_rows(len(table).bit_length() - 1)
    ones = {"".join(map(str, r)) for r, t in zip(rows, table, strict=True) if t == "1"}
    sides = []
    for terms, want_one in ((hull.ones, True), (hull.zeros, False)):
        assert all(c > 0 for _, c in terms) and sum(c for _, c in terms) == 1
        assert all((row in ones) == want_one for row, _ in terms)
        sides.append([sum(c * int(row[i]) for row, c in terms) for i in range(len(terms[0][0]))])
    return sides[0] == sides[1] == list(hull.point)


def test_and_first_two_epochs_by_hand():
    # Start w=(0,0), b=0. Epoch 1: 00 fires wrongly (step(0)=1) -> b=-1; 11 silent -> w=(1,1), b=0.
    # Epoch 2: 00 fires -> b=-1; 01 fires (z=0) -> w=(1,0), b=-2; 11 silent (z=-1) -> w=(2,1), b=-1.
    result = train(parse_spec("and"))
    first, second = result.history[:2]
    assert (first.mistakes, first.weights, first.bias) == (2, (1, 1), 0)
    assert (second.mistakes, second.weights, second.bias) == (3, (2, 1), -1)
    assert result.converged and result.cycle is None and result.history[-1].mistakes == 0
    assert result.predictions == "0001" and result.accuracy == 1.0
    assert reproduces("0001", result.weights, result.bias)


@pytest.mark.parametrize("spec", ["and", "or", "nand", "nor", "not", "implies", "true", "false"])
def test_separable_functions_converge_with_rechecked_weights(spec):
    fn = parse_spec(spec)
    result = train(fn)
    assert result.converged and result.verdict.separable
    assert reproduces(fn.table, result.weights, result.bias)
    assert reproduces(fn.table, result.verdict.weights, result.verdict.bias)


@pytest.mark.parametrize("spec", ["xor", "xnor"])
def test_xor_and_xnor_cycle_and_get_the_half_half_certificate(spec):
    result = train(parse_spec(spec))
    assert not result.converged and result.cycle is not None and not result.verdict.separable
    hull = result.verdict.hull
    assert hull_meets(result.function.table, hull)
    assert hull.point == (Fraction(1, 2), Fraction(1, 2))  # the only common point of the two diagonals
    assert sorted(c for _, c in hull.ones + hull.zeros) == [Fraction(1, 2)] * 4
    assert "1/2·(0,1) + 1/2·(1,0)" in hull.text() or "1/2·(0,0) + 1/2·(1,1)" in hull.text()


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_two_exact_routes_agree_on_every_function(n):
    """LP verdict vs perceptron cycling on all 2^(2^n) functions; their count is OEIS A000609."""
    separable = 0
    for fn in all_functions(n):
        verdict = decide(fn)
        assert cycling_verdict(fn) is verdict.separable, fn.table
        if verdict.separable:
            separable += 1
            assert reproduces(fn.table, verdict.weights, verdict.bias)
        else:
            assert hull_meets(fn.table, verdict.hull)
    assert separable == A000609[n]


def test_larger_functions_follow_theory():
    # majority is a threshold function (all weights 1); parity of n ≥ 2 inputs is not.
    assert decide(parse_spec("majority", 7)).separable
    assert not decide(parse_spec("parity", 8)).separable
    result = train(parse_spec("majority", 5))
    assert result.converged and reproduces(result.function.table, result.weights, result.bias)


def test_learning_rate_only_scales_the_trajectory_from_zero():
    one, half = train(parse_spec("or")), train(parse_spec("or"), Fraction(1, 2))
    assert one.epochs == half.epochs
    assert [tuple(w / 2 for w in e.weights) for e in one.history] == [e.weights for e in half.history]


def test_decimal_learning_rates_are_exact():
    assert parse_rate("0.1") == Fraction(1, 10)
    result = train(parse_spec("xor"), parse_rate("0.1"))
    assert result.cycle is not None  # an exact repeat, impossible to see with rounding floats
    for bad in ("0", "-1", "abc"):
        with pytest.raises(InputError):
            parse_rate(bad)


def test_shuffle_and_random_init_are_seeded_and_still_converge():
    fn = parse_spec("majority", 3)
    a = train(fn, init="random", shuffle=True, seed=7)
    b = train(fn, init="random", shuffle=True, seed=7)
    assert a.history == b.history and a.converged and a.initial == b.initial
    assert any(v != 0 for v in a.initial[0])
    assert reproduces(fn.table, a.weights, a.bias)
    c = train(parse_spec("xor"), shuffle=True, seed=1, max_epochs=50)
    assert c.cycle is None and c.epochs == 50 and not c.verdict.separable  # no cycling proof when shuffled


def test_bad_training_options():
    with pytest.raises(InputError):
        train(parse_spec("and"), init="ones")
    with pytest.raises(InputError):
        train(parse_spec("and"), max_epochs=0)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_census_matches_oeis(n):
    result = census(n)
    assert (result.inputs, result.functions, result.separable) == (n, 2 ** 2**n, A000609[n])


@pytest.mark.parametrize("method,n", [("direct", 4), ("orbits", 4), ("orbits", 3), ("lp", 3), ("lp", 2)])
def test_every_census_method_matches_oeis(method, n):
    assert census(n, method).separable == A000609[n]


def test_census_list_realisations_reproduce_their_tables():
    listed = census(2, listing=True).realisations
    assert len(listed) == 14
    assert {r.table for r in listed} == {format(i, "04b") for i in range(16)} - {"0110", "1001"}
    listed4 = census(4, listing=True).realisations
    assert len({r.table for r in listed4}) == 1882
    assert all(reproduces(r.table, r.weights, r.bias) for r in listed4)
    assert max(max(abs(w) for w in r.weights) for r in listed4) <= muroga_bound(4)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_positive_threshold_functions_match_oeis(n):
    assert len(positive_threshold_functions(n)) == A000617[n]


def test_muroga_bound():
    for n in range(1, 9):
        assert muroga_bound(n) == math.floor((n + 1) ** ((n + 1) / 2) / 2**n)


def test_census_limits():
    for kwargs in ({"n": 7}, {"n": 0}, {"n": 5, "listing": True}, {"n": 4, "method": "lp"},
                   {"n": 3, "method": "magic"}):
        with pytest.raises(InputError):
            census(**kwargs)


def evaluate_inequality(text, row):
    """Read 'x1 + 2·x3 ≤ 1' independently: sum the signed terms, then compare."""
    left, relation, bound = re.fullmatch(r"(.+) (≥|≤) (-?\d+)", text).groups()
    total = 0
    for sign, size, var in re.findall(r"(-|\+)?\s*(?:(\d+)·)?x(\d+)", left):
        total += (-1 if sign == "-" else 1) * int(size or 1) * row[int(var) - 1]
    return total >= int(bound) if relation == "≥" else total <= int(bound)


def test_threshold_text_reproduces_every_three_input_threshold_function():
    for r in census(3, listing=True).realisations:
        text = threshold_text(r.weights, r.bias)
        assert "".join("1" if evaluate_inequality(text, row) else "0" for row in input_rows(3)) == r.table, text
    assert threshold_text((2, 2, 2, 2), -7) == "x1 + x2 + x3 + x4 ≥ 4"  # and: w·x ≥ 7 means all four on
    assert threshold_text((-2, -2), 3) == "x1 + x2 ≤ 1"  # nand
