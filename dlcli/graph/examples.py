"""The built-in worked examples of `dlcli graph`, the notes' two first (kept tiny: the CLI reads it at start-up)."""

from __future__ import annotations

from typing import NamedTuple

from dlcli.errors import unknown_name


class Example(NamedTuple):
    """A built-in worked example: expression, input values and what it shows."""

    expression: str
    values: dict[str, float]
    about: str


EXAMPLES: dict[str, Example] = {
    "circuit": Example("(x+y)*z", {"x": -2.0, "y": 5.0, "z": -4.0},
                       "the notes' first graph: q = x+y, f = q*z; add distributes, mul switches"),
    "sigmoid-neuron": Example("1/(1+exp(-(w0*x0+w1*x1+w2)))",
                              {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0},
                              "the notes' sigmoid neuron, gate by gate: 1/x, +1, exp, *-1, +, *"),
    "sigmoid-gate": Example("sigmoid(w0*x0+w1*x1+w2)",
                            {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0},
                            "the same neuron with one sigmoid gate: local gradient σ(1−σ), same result"),
    "branches": Example("x*x + x", {"x": 3.0}, "x used three times: its gradient is the sum 3 + 3 + 1 = 7"),
    "gates": Example("2*(x*y + max(z, w))", {"x": 3.0, "y": -4.0, "z": 2.0, "w": -1.0},
                     "add distributes, mul switches, max routes (w gets 0)"),
    "relu-neuron": Example("leaky_relu(w*x + b, alpha=0.1)", {"w": 0.5, "x": -2.0, "b": 0.25},
                           "an activation with a keyword parameter on the negative side"),
}


def example(name: str) -> Example:
    if name not in EXAMPLES:
        raise unknown_name("example", name, EXAMPLES)
    return EXAMPLES[name]
