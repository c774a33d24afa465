"""Forward values and backprop gradients of the graph core, against torch autograd in float64."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dlcli import activations
from dlcli.activations.formula import functions
from dlcli.errors import InputError
from dlcli.expr.parser import ExprError
from dlcli.graph import computation
from dlcli.graph.computation import backprop, finite_difference_check

build = partial(computation.build, functions=functions(entries={}))  # every activation, as `dlcli graph` passes


@pytest.fixture(autouse=True)
def float64_default():
    """torch's default dtype float64 for this module's tests only (set at import, it leaked into every test)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def torch_gradients(function, values: dict[str, float]) -> tuple[float, dict[str, float]]:
    """Value and gradients of `function(**tensors)` by torch autograd in float64."""
    tensors = {name: torch.tensor(float(v), requires_grad=True) for name, v in values.items()}
    out = function(**tensors)
    out.backward()
    grads = {name: (t.grad.item() if t.grad is not None else 0.0) for name, t in tensors.items()}
    return out.item(), grads


def assert_matches_torch(expression: str, function, values: dict[str, float], rel: float = 1e-12):
    result = backprop(build(expression), values)
    value, grads = torch_gradients(function, values)
    assert result.value == pytest.approx(value, rel=rel, abs=1e-300)
    assert set(result.gradients) == set(values)
    for name in values:
        assert result.gradients[name] == pytest.approx(grads[name], rel=rel, abs=1e-14), name


# --- the notes' two worked examples -------------------------------------------------------------

def test_notes_circuit_add_then_multiply():
    result = backprop(build("(x+y)*z"), {"x": -2.0, "y": 5.0, "z": -4.0})
    assert result.value == -12.0
    assert result.gradients == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert_matches_torch("(x+y)*z", lambda x, y, z: (x + y) * z, {"x": -2.0, "y": 5.0, "z": -4.0})


def test_notes_sigmoid_neuron():
    values = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}
    result = backprop(build("1/(1+exp(-(w0*x0+w1*x1+w2)))"), values)
    assert round(result.value, 2) == 0.73
    assert [round(g, 2) for g in result.gradients.values()] == [-0.20, 0.39, -0.39, -0.59, 0.20]
    assert list(result.gradients) == ["w0", "x0", "w1", "x1", "w2"]
    assert_matches_torch("1/(1+exp(-(w0*x0+w1*x1+w2)))",
                         lambda w0, x0, w1, x1, w2: 1 / (1 + torch.exp(-(w0 * x0 + w1 * x1 + w2))), values)
    # the notes' intermediate steps: the 1/x gate gives -0.53, the exp gate -0.20
    by_op = {n.node.op: n for n in result.nodes}
    assert round(by_op["exp"].grad, 2) == -0.53  # exp feeds the 1/x gate through the +1 gate
    assert round(by_op["neg"].grad, 2) == -0.20
    # the sigmoid gate in one piece gives the same gradients
    assert_matches_torch("sigmoid(w0*x0+w1*x1+w2)",
                         lambda w0, x0, w1, x1, w2: torch.sigmoid(w0 * x0 + w1 * x1 + w2), values)


# --- gate roles and branches ---------------------------------------------------------------------

def test_gradients_add_at_branches():
    result = backprop(build("x*x"), {"x": 3.0})
    assert result.gradients == {"x": 6.0}
    x_node = result.nodes[0]
    assert [term for _, term in x_node.terms] == [3.0, 3.0]
    assert len(result.graph.nodes) == 2  # one x node with two out-edges into one mul


def test_repeated_subexpression_is_one_node():
    graph = build("(x+y)*(x+y) + sin(x+y)")
    assert [n.label for n in graph.nodes if n.op == "add"][0] == "(x+y)"
    assert sum(1 for n in graph.nodes if n.op == "add") == 2  # x+y once, plus the outer +
    shared = next(n for n in graph.nodes if n.op == "add")
    assert len(graph.consumers()[shared.index]) == 3
    assert_matches_torch("(x+y)*(x+y) + sin(x+y)",
                         lambda x, y: (x + y) * (x + y) + torch.sin(x + y), {"x": 0.3, "y": -1.1})


def test_gate_roles_on_the_classic_circuit():
    # 2*(x*y + max(z, w)): add distributes, mul switches, max routes
    values = {"x": 3.0, "y": -4.0, "z": 2.0, "w": -1.0}
    result = backprop(build("2*(x*y + max(z, w))"), values)
    roles = {n.node.op: n.role for n in result.nodes}
    assert roles["add"] == "distributes" and roles["mul"] == "switches" and roles["max"] == "routes"
    assert result.gradients == {"x": -8.0, "y": 6.0, "z": 2.0, "w": 0.0}
    assert_matches_torch("2*(x*y + max(z, w))", lambda x, y, z, w: 2 * (x * y + torch.maximum(z, w)), values)


def test_constants_carry_no_gradient():
    result = backprop(build("2*x + 3"), {"x": 1.0})
    constants = [n for n in result.nodes if n.node.op == "const"]
    assert constants and all(n.grad is None for n in constants)


# --- every expression against torch ----------------------------------------------------------------

CASES = [
    ("x - y / z", lambda x, y, z: x - y / z, {"x": 1.5, "y": -2.0, "z": 0.25}),
    ("x**y", lambda x, y: x**y, {"x": 1.7, "y": -0.6}),
    ("x**3 - x**2", lambda x: x**3 - x**2, {"x": -1.3}),
    ("x**0", lambda x: x**0, {"x": 0.0}),
    ("x**y", lambda x, y: x**y, {"x": 0.0, "y": 2.0}),
    ("x**y", lambda x, y: x**y, {"x": 0.0, "y": 0.0}),
    ("x**3", lambda x: x**3, {"x": -2.0}),
    ("log(x) * sqrt(y)", lambda x, y: torch.log(x) * torch.sqrt(y), {"x": 0.2, "y": 3.0}),
    ("sin(x)*cos(x) + exp(-x*x)", lambda x: torch.sin(x) * torch.cos(x) + torch.exp(-x * x), {"x": 0.7}),
    ("abs(x) + abs(y)", lambda x, y: torch.abs(x) + torch.abs(y), {"x": 0.0, "y": -2.0}),
    ("max(x, y)", lambda x, y: torch.maximum(x, y), {"x": 1.0, "y": 1.0}),  # tie: torch splits
    ("min(x, y) * 3", lambda x, y: torch.minimum(x, y) * 3, {"x": -1.0, "y": -1.0}),
    ("max(x, y, z)", lambda x, y, z: torch.amax(torch.stack([x, y, z])), {"x": 2.0, "y": 2.0, "z": 2.0}),
    ("max(x, y, z)", lambda x, y, z: torch.amax(torch.stack([x, y, z])), {"x": 2.0, "y": 5.0, "z": 2.0}),
    ("relu(x) + relu(y)", lambda x, y: torch.relu(x) + torch.relu(y), {"x": 0.0, "y": 2.0}),
    ("leaky_relu(x, alpha=0.1)", lambda x: torch.nn.functional.leaky_relu(x, 0.1), {"x": 0.0}),
    ("x - x", lambda x: x - x, {"x": 4.0}),
    ("x / x", lambda x: x / x, {"x": 4.0}),
    ("tanh(w*x + b)", lambda w, x, b: torch.tanh(w * x + b), {"w": 0.5, "x": -1.5, "b": 0.1}),
    ("exp(x)**2 / (1 + exp(x)**2)", lambda x: torch.exp(x) ** 2 / (1 + torch.exp(x) ** 2), {"x": -0.4}),
]


@pytest.mark.parametrize(("expression", "function", "values"), CASES, ids=[c[0] + str(c[2]) for c in CASES])
def test_expression_gradients_equal_torch(expression, function, values):
    assert_matches_torch(expression, function, values)


ELEMENTWISE = activations.names(elementwise_only=True)
# torch's float64 hardsigmoid backward multiplies by 1/6 rounded to float32 (relative error ~7e-8)
TORCH_FLOAT32_CONSTANTS = {"hardsigmoid": 1e-7}


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("x", [-2.7, -0.4, 0.9, 3.6])
def test_every_activation_through_the_graph_equals_torch(name, x):
    act = activations.get(name)
    params = act.resolve({})
    assert_matches_torch(f"2*{name}(x*y) + y", lambda x, y: 2 * act.torch_ref(torch, x * y, params) + y,
                         {"x": x, "y": 1.25}, rel=TORCH_FLOAT32_CONSTANTS.get(name, 1e-10))


def test_keyword_parameters_reach_the_activation():
    act = activations.get("elu")
    assert_matches_torch("elu(x, alpha=0.5)", lambda x: act.torch_ref(torch, x, {"alpha": 0.5}), {"x": -1.2})


# --- random expression trees ---------------------------------------------------------------------

NAMES = ("a", "b", "c")


def leaves():
    return st.one_of(st.sampled_from(NAMES), st.sampled_from(["0.5", "2", "3.25"]))


SMOOTH_UNARY = {
    "-({})": lambda t: -t,
    "exp({})": torch.exp,
    "sin({})": torch.sin,
    "cos({})": torch.cos,
    "tanh({})": torch.tanh,
    "sigmoid({})": torch.sigmoid,
    "log(1+({0})*({0}))": lambda t: torch.log(1 + t * t),
    "sqrt(1+({0})*({0}))": lambda t: torch.sqrt(1 + t * t),
    "({})**2": lambda t: t**2,
    "({})**3": lambda t: t**3,
    "softplus({}, beta=2)": lambda t: torch.nn.functional.softplus(t, beta=2, threshold=700.0),
}
KINKED_UNARY = {
    "abs({})": torch.abs,
    "relu({})": torch.relu,
    "leaky_relu({}, alpha=0.2)": lambda t: torch.nn.functional.leaky_relu(t, 0.2),
}
SMOOTH_BINARY = {
    "({})+({})": lambda s, t: s + t,
    "({})-({})": lambda s, t: s - t,
    "({})*({})": lambda s, t: s * t,
    "({0})/(1+({1})*({1}))": lambda s, t: s / (1 + t * t),
    "(1+({0})*({0}))**({1})": lambda s, t: (1 + s * s) ** t,
}
KINKED_BINARY = {
    "max({}, {})": torch.maximum,
    "min({}, {})": torch.minimum,
}


def trees(unary: dict, binary: dict):
    """Random expressions as (text, torch function of a dict of tensors)."""
    base = leaves().map(lambda leaf: (leaf, _leaf_function(leaf)))

    def extend(children):
        one = st.tuples(st.sampled_from(sorted(unary)), children).map(
            lambda p: (p[0].format(p[1][0]), _compose1(unary[p[0]], p[1][1])))
        two = st.tuples(st.sampled_from(sorted(binary)), children, children).map(
            lambda p: (p[0].format(p[1][0], p[2][0]), _compose2(binary[p[0]], p[1][1], p[2][1])))
        return st.one_of(one, two)

    return st.recursive(base, extend, max_leaves=6)


def _leaf_function(leaf):
    if leaf in NAMES:
        return lambda env: env[leaf]
    return lambda env: torch.tensor(float(leaf))


def _compose1(op, f):
    return lambda env: op(f(env))


def _compose2(op, f, g):
    return lambda env: op(f(env), g(env))


VALUES = st.fixed_dictionaries({name: st.floats(-2.0, 2.0, allow_nan=False) for name in NAMES})


def evaluate_or_skip(text: str, values: dict[str, float]):
    try:
        return backprop(build(text), values)
    except InputError:
        assume(False)  # overflow of exp(exp(...)) or a kinked/infinite derivative: not this test's subject


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(SMOOTH_UNARY | KINKED_UNARY, SMOOTH_BINARY | KINKED_BINARY), VALUES)
def test_random_trees_equal_torch_autograd(tree, values):
    text, function = tree
    result = evaluate_or_skip(text, values)
    tensors = {name: torch.tensor(v, requires_grad=True) for name, v in values.items()}
    out = function(tensors)
    assume(bool(torch.isfinite(out)))
    if out.requires_grad:
        out.backward()
    assert result.value == pytest.approx(out.item(), rel=1e-9, abs=1e-12)
    for name in NAMES:
        expected = tensors[name].grad.item() if tensors[name].grad is not None else 0.0
        assert result.gradients.get(name, 0.0) == pytest.approx(expected, rel=1e-8, abs=1e-10), (text, name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(SMOOTH_UNARY, SMOOTH_BINARY), VALUES)
def test_random_smooth_trees_equal_finite_differences(tree, values):
    text, function = tree
    result = evaluate_or_skip(text, values)
    assume(abs(result.value) < 1e6)
    for name in result.graph.inputs:
        h = 1e-5
        up = function({**_tensors(values), name: torch.tensor(values[name] + h)}).item()
        down = function({**_tensors(values), name: torch.tensor(values[name] - h)}).item()
        estimate = (up - down) / (2 * h)
        assert result.gradients[name] == pytest.approx(estimate, rel=1e-4, abs=1e-4), (text, name)
    assert all(row.ok for row in finite_difference_check(result)), text


def _tensors(values):
    return {name: torch.tensor(v) for name, v in values.items()}


# --- check, errors, depth -------------------------------------------------------------------------

def test_check_flags_a_kink():
    rows = finite_difference_check(backprop(build("relu(x)"), {"x": 0.0}))
    assert rows[0].backprop == 0.0 and rows[0].finite_difference == pytest.approx(0.5)
    assert not rows[0].ok


@pytest.mark.parametrize(
    ("expression", "values", "column", "words"),
    [
        ("1/(x-y)", {"x": 2.0, "y": 2.0}, 2, "division by zero"),
        ("1 + log(x - 1)", {"x": 1.0}, 5, "log of a non-positive number"),
        ("sqrt(x) * 2", {"x": -0.5}, 1, "sqrt of a negative number"),
        ("sqrt(x)", {"x": 0.0}, 1, "derivative of sqrt is infinite"),
        ("x**0.5", {"x": -4.0}, 2, "not real"),
        ("x**-1", {"x": 0.0}, 2, "division by zero"),
        ("(-2)**x", {"x": 2.0}, 5, "base is negative"),
        ("exp(exp(x))", {"x": 7.0}, 1, "overflows"),
        ("1e300 * sin(x * 1e10)", {"x": 1.0}, 15, "gradient overflows"),  # f is finite, df/dx ≈ 8.7e309
        ("x*y + z*w", {"x": 1.0, "w": 1.0}, 3, "no value for y, z"),
    ],
)
def test_domain_errors_point_at_the_gate(expression, values, column, words):
    with pytest.raises(ExprError) as caught:
        backprop(build(expression), values)
    assert words in str(caught.value)
    assert caught.value.column + 1 == column


def test_ten_thousand_nested_gates_forward_and_backward():
    depth = 10000
    result = backprop(build("sin(" * depth + "x" + ")" * depth), {"x": 0.5})
    x = torch.tensor(0.5, requires_grad=True)
    out = x
    for _ in range(depth):
        out = torch.sin(out)
    out.backward()
    assert result.value == pytest.approx(out.item(), rel=1e-12)
    assert result.gradients["x"] == pytest.approx(x.grad.item(), rel=1e-9)
    assert len(result.nodes) == depth + 1
