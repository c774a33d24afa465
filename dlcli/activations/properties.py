"""Facts about an activation that are computed rather than declared: f(0), f'(0), the largest |f'|."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dlcli.activations.base import Activation, Params

# A grid step of 1e-3 brackets every registered activation's max |f'|; golden-section search
# inside the bracket then pins it down to ~1e-12.
_GRID = np.linspace(-20.0, 20.0, 40_001)


class Properties(NamedTuple):
    name: str
    params: Params
    value_at_zero: float
    grad_at_zero: float
    max_abs_grad: float
    argmax_abs_grad: float


def max_abs_grad(act: Activation, params: Params) -> tuple[float, float]:
    """sup |f'(x)| over the real line (searched on [-20, 20], where every registered maximum lies) and where."""
    if act.vector:
        return act.vector_max_abs_grad, 0.0
    grid = np.concatenate([_GRID, [p for p in act.undefined_grad_at(params)]])
    g = np.abs(act.grad(grid, **params))
    g[np.isnan(g)] = -1.0  # a formula's f' is NaN where f is undefined
    i = int(np.argmax(g))
    best_x, best = float(grid[i]), float(g[i])
    lo, hi = best_x - 1e-3, best_x + 1e-3
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(60):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        ga, gb = (float(abs(act.grad(np.array([v]), **params)[0])) for v in (a, b))
        if ga > gb:
            hi = b
        else:
            lo = a
        for v, gv in ((a, ga), (b, gb)):
            if gv > best:
                best_x, best = v, gv
    return best, best_x


def properties(act: Activation, params: Params | None = None) -> Properties:
    params = act.resolve(params)
    if act.vector:
        zero = np.zeros(2)
        value0, grad0 = float(act.fn(zero, **params)[0]), float(act.grad(zero, **params)[0, 0])
    else:
        value0 = float(act.fn(np.zeros(1), **params)[0])
        grad0 = float(act.grad(np.zeros(1), **params)[0])
    best, where = max_abs_grad(act, params)
    return Properties(act.name, params, value0, grad0, best, where)
