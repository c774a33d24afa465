"""Computational graphs: an expression becomes a DAG of gates, evaluated forward and differentiated backward.

Every name and every repeated subexpression is one node (hash-consing), so a value used twice has two
out-edges and its gradient is the sum of what flows back along them. Nodes are created in post-order,
which is a topological order; forward and backward passes are plain loops over that list, so depth
is limited by memory, not by the recursion limit. Derivative conventions at kinks follow PyTorch.

    >>> result = backprop(build("(x+y)*z"), {"x": -2.0, "y": 5.0, "z": -4.0})
    >>> result.value, result.gradients
    (-12.0, {'x': -4.0, 'y': -4.0, 'z': 3.0})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dlcli.errors import InputError
from dlcli.expr.functions import NO_FUNCTIONS, Function, Functions
from dlcli.expr.parser import SYMBOLS, Expr, ExprError, parse
from dlcli.graph.examples import EXAMPLES, Example, example  # noqa: F401  (part of the library API)
from dlcli.graph.gates import ROLES, evaluate_node, local_gradients

LABEL_WIDTH = 40


@dataclass(frozen=True)
class Node:
    """One gate (or input, or constant) of the graph; `inputs` index earlier nodes."""

    index: int
    op: str  # input, const, add, sub, mul, div, pow, neg, a built-in function or an activation name
    inputs: tuple[int, ...]
    label: str  # the node's text in the expression (shortened to LABEL_WIDTH)
    start: int  # where that text starts and ends in the expression, and the column to blame
    end: int
    at: int
    name: str = ""  # the variable name of an input
    constant: float = 0.0  # the value of a const
    params: tuple[tuple[str, float], ...] = ()
    function: Function | None = field(default=None, compare=False)  # what a gate that is no built-in calls

    @property
    def id(self) -> str:
        return f"n{self.index + 1}"


@dataclass(frozen=True)
class Graph:
    """A parsed expression as a DAG: nodes in topological order, the last one is the output."""

    expression: str
    nodes: tuple[Node, ...]
    inputs: tuple[str, ...]  # variable names in order of first appearance

    @property
    def output(self) -> int:
        return len(self.nodes) - 1

    def consumers(self) -> list[list[int]]:
        """For each node, the nodes that read it (once per edge)."""
        out: list[list[int]] = [[] for _ in self.nodes]
        for node in self.nodes:
            for source in node.inputs:
                out[source].append(node.index)
        return out


@dataclass(frozen=True)
class NodeResult:
    """Forward value and backward gradients at one node.

    `local` holds d(node)/d(input) for each input edge (None where that input is a constant);
    `grad` is d(output)/d(node) (None for constants); `terms` are the contributions
    (consumer index, upstream × local) that add up to `grad`, one per out-edge.
    """

    node: Node
    value: float
    local: tuple[float | None, ...]
    grad: float | None
    terms: tuple[tuple[int, float], ...]
    role: str


@dataclass(frozen=True)
class GraphResult:
    graph: Graph
    values: dict[str, float]
    value: float
    gradients: dict[str, float]
    nodes: tuple[NodeResult, ...]

    def as_dict(self, check: Sequence[CheckRow] | None = None) -> dict[str, Any]:
        """The JSON contract: expression, value, gradients, nodes (id, op, inputs, value, grad, ...), any check."""
        nodes = []
        for node in self.nodes:
            nodes.append({
                "id": node.node.id,
                "op": node.node.op,
                "inputs": [self.nodes[i].node.id for i in node.node.inputs],
                "value": node.value,
                "grad": node.grad,
                "label": node.node.label,
                "params": dict(node.node.params),
                "local_grads": list(node.local),
                "grad_terms": [{"from": self.nodes[i].node.id, "grad": g} for i, g in node.terms],
                "role": node.role or None,
            })
        document: dict[str, Any] = {
            "expression": self.graph.expression,
            "value": self.value,
            "gradients": self.gradients,
            "nodes": nodes,
        }
        if check is not None:
            document["check"] = [row.as_dict() for row in check]
        return document


@dataclass(frozen=True)
class CheckRow:
    """Backprop against a central finite difference for one input."""

    name: str
    backprop: float
    finite_difference: float
    step: float
    abs_error: float
    rel_error: float
    ok: bool

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "backprop": self.backprop, "finite_difference": self.finite_difference,
                "step": self.step, "abs_error": self.abs_error, "rel_error": self.rel_error, "ok": self.ok}


def shorten(text: str, width: int = LABEL_WIDTH) -> str:
    """`text` with the middle replaced by '…' when longer than `width`."""
    if len(text) <= width:
        return text
    half = (width - 1) // 2
    return text[:half] + "…" + text[len(text) - (width - 1 - half):]


def build(expression: str, functions: Functions = NO_FUNCTIONS) -> Graph:
    """Parse `expression` into a DAG, sharing every repeated name and subexpression. `functions`: what it may call
    beyond the built-ins (`dlcli.activations.functions()` for every activation, as `dlcli graph` passes)."""
    tree = parse(expression, functions=functions)
    nodes: list[Node] = []
    seen: dict[tuple, int] = {}
    inputs: list[str] = []
    done: list[int] = []
    stack: list[tuple[Expr, bool]] = [(tree, False)]
    while stack:
        expr, expanded = stack.pop()
        if not expanded:
            stack.append((expr, True))
            stack.extend((child, False) for child in reversed(expr.children))
            continue
        children = tuple(done[len(done) - len(expr.children):]) if expr.children else ()
        del done[len(done) - len(expr.children):]
        op = _op_of(expr)
        identity = expr.value if op == "const" else expr.name if op == "input" else children
        key: tuple = (op, identity, expr.params)
        index = seen.get(key)
        if index is None:
            index = len(nodes)
            seen[key] = index
            label = shorten(expression[expr.start:expr.end])
            name = expr.name if op == "input" else ""
            nodes.append(Node(index, op, children, label, expr.start, expr.end, expr.at,
                              name=name, constant=expr.value, params=expr.params, function=expr.function))
            if op == "input":
                inputs.append(expr.name)
        done.append(index)
    return Graph(expression, tuple(nodes), tuple(inputs))


def _op_of(expr: Expr) -> str:
    if expr.kind == "num":
        return "const"
    if expr.kind == "name":
        return "input"
    if expr.kind == "call":
        return expr.name
    return expr.kind


def missing_names(graph: Graph, values: Mapping[str, float]) -> list[str]:
    return [name for name in graph.inputs if name not in values]


def forward(graph: Graph, values: Mapping[str, float], *, strict: bool = True) -> list[float]:
    """The value of every node. With `strict`, a domain error or overflow is an ExprError at its column;
    without, it gives nan (used for finite differences near a domain edge)."""
    missing = missing_names(graph, values)
    if missing:
        first = next(n for n in graph.nodes if n.op == "input" and n.name == missing[0])
        raise ExprError(f"no value for {', '.join(missing)} (give NAME=VALUE for each)",
                        graph.expression, first.start, first.end)
    out: list[float] = []
    for node in graph.nodes:
        if node.op == "input":
            out.append(float(values[node.name]))
        elif node.op == "const":
            out.append(node.constant)
        else:
            try:
                out.append(evaluate_node(node.op, [out[i] for i in node.inputs], dict(node.params), node.function))
            except ArithmeticError as error:
                if strict:
                    raise _blame(graph, node, str(error)) from None
                out.append(math.nan)
    return out


def _blame(graph: Graph, node: Node, reason: str) -> ExprError:
    return ExprError(reason, graph.expression, node.at, node.end if node.at == node.start else node.at + 1)


def backprop(graph: Graph, values: Mapping[str, float]) -> GraphResult:
    """Forward values, local gradients and d(output)/d(node) for every node, by reverse-mode accumulation."""
    bad = [name for name, v in values.items() if not math.isfinite(v)]
    if bad:
        raise InputError(f"{bad[0]}={values[bad[0]]}: values must be finite numbers")
    value = forward(graph, values)
    n = len(graph.nodes)
    active = [False] * n  # depends on an input: only those carry gradients (like requires_grad)
    local: list[tuple[float | None, ...]] = [()] * n
    for node in graph.nodes:
        active[node.index] = node.op == "input" or any(active[i] for i in node.inputs)
        if node.inputs:
            wanted = tuple(active[i] for i in node.inputs)
            try:
                grads = local_gradients(node.op, [value[i] for i in node.inputs], value[node.index],
                                        dict(node.params), wanted, node.function)
            except ArithmeticError as error:
                raise _blame(graph, node, str(error)) from None
            local[node.index] = grads
    grad: list[float | None] = [None] * n
    terms: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    if active[graph.output]:
        grad[graph.output] = 1.0
    for node in reversed(graph.nodes):
        upstream = grad[node.index]
        if upstream is None:
            continue
        for position, source in enumerate(node.inputs):
            slope = local[node.index][position]
            if slope is None:
                continue
            contribution = upstream * slope
            if not math.isfinite(contribution):
                raise _blame(graph, node, "the gradient overflows float64 here")
            terms[source].append((node.index, contribution))
            previous = grad[source]
            grad[source] = contribution if previous is None else previous + contribution
    results = tuple(
        NodeResult(node, value[node.index], local[node.index], grad[node.index],
                   tuple(sorted(terms[node.index], key=lambda term: term[0])), ROLES.get(node.op, ""))
        for node in graph.nodes
    )
    gradients: dict[str, float] = {}
    for node in graph.nodes:
        if node.op == "input":
            gradients[node.name] = grad[node.index] or 0.0
    used = {name: float(values[name]) for name in graph.inputs}
    return GraphResult(graph, used, value[graph.output], gradients, results)


def finite_difference_check(
    result: GraphResult, *, rel_step: float = 1e-6, tolerance: float = 1e-6
) -> list[CheckRow]:
    """Compare each input's backprop gradient with (f(x+h) − f(x−h)) / 2h.

    The tolerance is relative to max(1, |gradient|), widened by the rounding error ε·|f|/h of the
    difference quotient itself. Near a kink (relu at 0, a max tie) the two legitimately differ.
    """
    rows = []
    graph = result.graph
    for name in graph.inputs:
        x = result.values[name]
        h = rel_step * max(1.0, abs(x))
        up = forward(graph, {**result.values, name: x + h}, strict=False)[-1]
        down = forward(graph, {**result.values, name: x - h}, strict=False)[-1]
        estimate = (up - down) / (2 * h)
        exact = result.gradients[name]
        error = abs(estimate - exact)
        scale = max(1.0, abs(exact))
        allowed = tolerance * scale + 4 * 2.0**-52 * max(abs(up), abs(down)) / h
        ok = bool(error <= allowed)  # nan compares False: a domain edge inside the step fails
        rows.append(CheckRow(name, exact, estimate, h, error, error / scale, ok))
    return rows


def describe_op(node: Node) -> str:
    """The gate as a human reads it: '+', '*', 'exp', 'leaky_relu(alpha=0.1)', 'input', '2.5'."""
    if node.op == "neg":
        return "neg"
    if node.op in SYMBOLS:
        return SYMBOLS[node.op]
    if node.params:
        return f"{node.op}({', '.join(f'{k}={v:g}' for k, v in node.params)})"
    return node.op
