"""Exact linear-programming feasibility with rational arithmetic (a small phase-one simplex).

Decides whether A·z = c has a solution z ≥ 0 and returns either that solution or a Farkas
certificate y with yᵀA ≤ 0 and yᵀc > 0 proving there is none. Fractions keep every step exact,
which is what makes a separability verdict a proof rather than a floating-point opinion.
Bland's rule picks the pivots, so the method terminates on degenerate problems too.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Feasibility:
    """Outcome of `phase_one`: a solution `z` (feasible) or a Farkas vector `farkas` (infeasible)."""

    feasible: bool
    z: tuple[Fraction, ...] = ()
    farkas: tuple[Fraction, ...] = ()


def phase_one(matrix: list[list[Fraction]], rhs: list[Fraction]) -> Feasibility:
    """Solve A·z = c, z ≥ 0 exactly; A is m×k (list of rows), c has length m."""
    m, k = len(matrix), len(matrix[0])
    signs = [Fraction(-1) if c < 0 else Fraction(1) for c in rhs]
    # Tableau rows: [A | I | c] with rows flipped so that c ≥ 0; the artificials start basic.
    tableau = [
        [signs[i] * Fraction(v) for v in matrix[i]]
        + [Fraction(int(i == j)) for j in range(m)]
        + [signs[i] * rhs[i]]
        for i in range(m)
    ]
    basis = [k + i for i in range(m)]
    # Reduced costs of "minimise the sum of artificials"; the last entry is minus the objective.
    costs = [-sum((row[j] for row in tableau), Fraction(0)) for j in range(k)] + [Fraction(0)] * m
    costs.append(-sum((row[-1] for row in tableau), Fraction(0)))
    while True:
        entering = next((j for j in range(k + m) if costs[j] < 0), None)
        if entering is None:
            break
        leaving = None
        best: tuple[Fraction, int] | None = None
        for i in range(m):
            a = tableau[i][entering]
            if a > 0:
                key = (tableau[i][-1] / a, basis[i])
                if best is None or key < best:
                    best, leaving = key, i
        if leaving is None:  # unbounded cannot happen: the objective is bounded below by 0
            raise AssertionError("phase-one simplex reported an unbounded direction")
        _pivot(tableau, costs, leaving, entering)
        basis[leaving] = entering
    if costs[-1] == 0:
        z = [Fraction(0)] * k
        for i, var in enumerate(basis):
            if var < k:
                z[var] = tableau[i][-1]
        return Feasibility(True, z=tuple(z))
    # Dual of the artificial columns: y_i = 1 - reduced cost; undo the row flips.
    farkas = tuple(signs[i] * (1 - costs[k + i]) for i in range(m))
    return Feasibility(False, farkas=farkas)


def _pivot(tableau: list[list[Fraction]], costs: list[Fraction], row: int, col: int) -> None:
    pivot_row = tableau[row]
    p = pivot_row[col]
    if p != 1:
        pivot_row[:] = [v / p for v in pivot_row]
    for other in (*tableau, costs):
        if other is pivot_row:
            continue
        factor = other[col]
        if factor != 0:
            other[:] = [a - factor * b for a, b in zip(other, pivot_row, strict=True)]
