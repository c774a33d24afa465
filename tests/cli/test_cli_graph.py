"""`dlcli graph` end to end: the JSON contract, drawings, DOT, --check, examples and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from conftest import run_cli
from dlcli import activations
from dlcli.cli import app
from dlcli.graph.computation import EXAMPLES

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["graph", *args])


def torch_reference(function, values: dict[str, float]) -> tuple[float, dict[str, float]]:
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in values.items()}
    out = function(**tensors)
    out.backward()
    return out.item(), {k: (t.grad.item() if t.grad is not None else 0.0) for k, t in tensors.items()}


TORCH_EXAMPLES = {
    "circuit": lambda x, y, z: (x + y) * z,
    "sigmoid-neuron": lambda w0, x0, w1, x1, w2: 1 / (1 + torch.exp(-(w0 * x0 + w1 * x1 + w2))),
    "sigmoid-gate": lambda w0, x0, w1, x1, w2: torch.sigmoid(w0 * x0 + w1 * x1 + w2),
    "branches": lambda x: x * x + x,
    "gates": lambda x, y, z, w: 2 * (x * y + torch.maximum(z, w)),
    "relu-neuron": lambda w, x, b: torch.nn.functional.leaky_relu(w * x + b, 0.1),
}


def test_every_example_has_a_torch_reference():
    assert set(TORCH_EXAMPLES) == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_json_equals_torch(name):
    result = invoke("--example", name, "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    value, grads = torch_reference(TORCH_EXAMPLES[name], EXAMPLES[name].values)
    assert doc["value"] == pytest.approx(value, rel=1e-12)
    assert doc["gradients"] == pytest.approx(grads, rel=1e-12)
    assert list(doc["gradients"]) == list(EXAMPLES[name].values)


def test_json_contract_of_the_notes_circuit():
    result = invoke("(x+y)*z", "x=-2", "y=5", "z=-4", "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert {"expression", "value", "gradients", "nodes"} <= set(doc)
    assert doc["expression"] == "(x+y)*z" and doc["value"] == -12.0
    assert doc["gradients"] == {"x": -4.0, "y": -4.0, "z": 3.0}
    for node in doc["nodes"]:
        assert {"id", "op", "inputs", "value", "grad"} <= set(node)
    by_id = {node["id"]: node for node in doc["nodes"]}
    ids = [node["id"] for node in doc["nodes"]]
    for node in doc["nodes"]:  # topological order: inputs come first
        assert all(ids.index(i) < ids.index(node["id"]) for i in node["inputs"])
    out = doc["nodes"][-1]
    assert out["op"] == "mul" and out["grad"] == 1.0
    assert [by_id[i]["value"] for i in out["inputs"]] == [3.0, -4.0]


def test_table_has_nodes_roles_drawing_and_gradients():
    result = invoke("--example", "gates", "--format", "table")
    assert result.exit_code == 0
    text = result.stdout
    for word in ("distributes", "switches", "routes", "topological", "├── ", "└── ", "∂f/∂input"):
        assert word in text
    assert "\x1b[" not in text  # not a terminal: no ANSI codes even in table format


def test_branches_add_up_in_the_output():
    result = invoke("x*x", "x=3", "--format", "table")
    assert "6 = 3 + 3" in result.stdout
    assert "shared" in result.stdout
    doc = json.loads(invoke("x*x", "x=3", "--format", "json").stdout)
    x_node = doc["nodes"][0]
    assert x_node["grad"] == 6.0 and [t["grad"] for t in x_node["grad_terms"]] == [3.0, 3.0]


def test_plain_and_csv_use_round_trip_floats():
    plain = invoke("--example", "sigmoid-neuron", "--format", "plain").stdout
    _, grads = torch_reference(TORCH_EXAMPLES["sigmoid-neuron"], EXAMPLES["sigmoid-neuron"].values)
    for name, grad in grads.items():
        assert f"grad\t{name}\t{grad!r}" in plain or f"grad\t{name}\t{grad + 0.0!r}" in plain
    csv_text = invoke("--example", "circuit", "--format", "csv").stdout.splitlines()
    assert csv_text[0] == "id,op,expression,inputs,value,local_grads,grad,role"
    assert csv_text[-1].startswith("n5,*,(x+y)*z,n3 n4,-12.0,-4.0 3.0,1.0,switches")


def test_dot_output_has_one_edge_per_use():
    result = invoke("x*x + x", "x=3", "--dot")
    assert result.exit_code == 0
    dot = result.stdout
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert dot.count("n1 -> n2") == 2 and dot.count("n1 -> n3") == 1
    assert "7 = 3 + 3 + 1" in dot


def test_check_passes_for_smooth_and_fails_at_a_kink():
    ok = invoke("--example", "sigmoid-neuron", "--check", "--format", "json")
    assert ok.exit_code == 0
    rows = json.loads(ok.stdout)["check"]
    assert [r["name"] for r in rows] == ["w0", "x0", "w1", "x1", "w2"] and all(r["ok"] for r in rows)
    kink = invoke("relu(x) + x", "x=0", "--check", "--format", "plain")
    assert kink.exit_code == 1
    assert "check\tx\t1.0\t1.5" in kink.stdout  # torch's relu'(0) = 0; the central difference sees 1/2
    assert kink.stderr.startswith("dlcli: error: gradient check failed for x")


@pytest.mark.parametrize(
    ("args", "message", "caret"),
    [
        (["x +* y", "x=1", "y=2"], "expected a number", "     ^"),
        (["foo(x)", "x=1"], "unknown function 'foo'", "  ^~~"),
        (["x*y + z", "x=1"], "no value for y, z", "    ^"),
        (["1/(x-y)", "x=1", "y=1"], "division by zero", "   ^"),
        (["2 + log(x)", "x=-1"], "log of a non-positive number", "      ^~~~~~"),
        (["sqrt(x)", "x=-4"], "sqrt of a negative number", "  ^~~~~~~"),
        (["exp(x)", "x=1000"], "overflows", "  ^~~~~~"),
    ],
)
def test_expression_errors_are_one_line_with_a_caret(args, message, caret):
    result = invoke(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("dlcli: error: ") and message in lines[0]
    assert lines[1] == "  " + args[0]
    assert lines[2] == caret
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x+1", "x=abc"], "'abc' is not a number"),
        (["x+1", "x=nan"], "not a finite number"),
        (["x+1", "x"], "expected NAME=VALUE"),
        (["x+1", "x=1", "x=2"], "given twice"),
        (["x+1", "1x=2"], "not a variable name"),
        ([], "give an expression"),
        (["--example", "nope"], "unknown example 'nope'"),
        (["x", "x=1", "--example", "circuit"], "not both"),
    ],
)
def test_input_errors_exit_2_with_one_line(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_unused_value_is_noted_on_stderr():
    result = invoke("x+1", "x=1", "q=2", "--format", "json")
    assert result.exit_code == 0 and "q" in result.stderr and json.loads(result.stdout)["value"] == 2.0


def test_every_activation_is_callable_with_keyword_parameters():
    for name in activations.names(elementwise_only=True):
        act = activations.get(name)
        params = ", ".join(f"{p.name}={p.default!r}" for p in act.params)
        expression = f"{name}(x{', ' + params if params else ''})"
        result = invoke(expression, "x=-0.75", "--format", "json")
        assert result.exit_code == 0, (expression, result.stderr)
        _, grads = torch_reference(lambda x, a=act: a.torch_ref(torch, x, a.resolve({})), {"x": -0.75})
        assert json.loads(result.stdout)["gradients"]["x"] == pytest.approx(grads["x"], rel=1e-7), name


def test_deep_expression_through_the_cli():
    depth = 10000
    result = invoke("-(" * depth + "x" + ")" * depth, "x=1.5", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["value"] == 1.5 and doc["gradients"] == {"x": 1.0} and len(doc["nodes"]) == depth + 1
    drawn = invoke("sin(" * depth + "x" + ")" * depth, "x=0.5", "--format", "table")
    assert drawn.exit_code == 0 and "more nodes not drawn" in drawn.stdout


def test_expression_starting_with_minus():
    for args in (["-x*y", "x=2", "y=3", "-f", "json"], ["-f", "json", "--", "-x*y", "x=2", "y=3"],
                 [" -h*y", "h=2", "y=3", "-f", "json"]):
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert json.loads(result.stdout)["value"] == -6.0


def test_hostile_expressions_in_a_real_process_run_nothing(tmp_path):
    marker = tmp_path / "pwned"
    for expression in (f"__import__('os').system('touch {marker}')",
                       f"open('{marker}', 'w').write('x')",
                       "x.__class__.__mro__[1].__subclasses__()",
                       "(lambda: 1)()",
                       "10**10**10"):
        proc = run_cli("graph", expression, "x=1")
        assert proc.returncode == 2, expression
        assert proc.stderr.startswith(b"dlcli: error: ") and b"Traceback" not in proc.stderr
        assert proc.stdout == b""
    assert not marker.exists() and list(tmp_path.iterdir()) == []


def test_piped_output_is_plain_without_ansi():
    proc = run_cli("graph", "(x+y)*z", "x=-2", "y=5", "z=-4")
    assert proc.returncode == 0
    assert proc.stdout.startswith(b"expression\t(x+y)*z\nvalue\t-12.0\ngrad\tx\t-4.0\n")
    assert b"\x1b[" not in proc.stdout
