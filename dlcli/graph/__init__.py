"""Computational graphs: parse an expression, run forward and backward, draw it."""

from __future__ import annotations

from dlcli.lazy import facade

_EXPORTS = {
    "parse": "computation",  # the expression parser lives in dlcli.expr, below graph and activations
    "Expr": "computation",
    "ExprError": "computation",
    "build": "computation",
    "backprop": "computation",
    "forward": "computation",
    "finite_difference_check": "computation",
    "Graph": "computation",
    "GraphResult": "computation",
    "EXAMPLES": "examples",
    "example": "examples",
}

__all__ = sorted(_EXPORTS)
__getattr__ = facade(__name__, _EXPORTS, globals())  # each name's module is imported on first use
