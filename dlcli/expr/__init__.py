"""The expression language formulas and graphs share: grammar and parser, the formula tree, its calculus and its
evaluation. The functions a call may name beyond the built-ins are passed in, so this package imports neither
activations nor graph."""

from __future__ import annotations

from dlcli.lazy import facade

_EXPORTS = {
    "parse": "parser",
    "Expr": "parser",
    "ExprError": "parser",
    "Function": "functions",
    "Functions": "functions",
    "NO_FUNCTIONS": "functions",
}

__all__ = sorted(_EXPORTS)
__getattr__ = facade(__name__, _EXPORTS, globals())  # each name's module is imported on first use
