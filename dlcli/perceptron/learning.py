"""The single-layer perceptron: the learning rule and two exact separability verdicts.

The perceptron computes O = step(w·x + b) with step(0) = 1 (the notes' θ is −b). Training runs in
exact rational arithmetic, so with rows in a fixed order a repeated weight state at an epoch
boundary proves the rule cycles forever, i.e. the function is not linearly separable (perceptron
cycling theorem + convergence theorem). Independently, an exact LP decides separability and gives
a certificate: integer weights that reproduce the table, or convex-combination coefficients
showing the hulls of the 1-rows and 0-rows meet.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from dlcli.errors import InputError
from dlcli.perceptron.boolean import BooleanFunction, row_label
from dlcli.perceptron.exact_lp import phase_one

INIT_CHOICES = ("zero", "random")


@dataclass(frozen=True)
class Epoch:
    """One pass over the rows: the mistakes made and the weights at its end."""

    epoch: int
    mistakes: int
    weights: tuple[Fraction, ...]
    bias: Fraction


@dataclass(frozen=True)
class HullCertificate:
    """Σ λ_i·(1-row i) = Σ μ_j·(0-row j) = point, with λ, μ ≥ 0 each summing to 1."""

    ones: tuple[tuple[str, Fraction], ...]
    zeros: tuple[tuple[str, Fraction], ...]
    point: tuple[Fraction, ...]

    def text(self) -> str:
        left = " + ".join(f"{c}·({','.join(r)})" for r, c in self.ones)
        right = " + ".join(f"{c}·({','.join(r)})" for r, c in self.zeros)
        return f"{left} = {right} = ({', '.join(str(v) for v in self.point)})"


@dataclass(frozen=True)
class Verdict:
    """The exact answer: separating integer weights, or a hull-intersection certificate."""

    separable: bool
    weights: tuple[int, ...] = ()
    bias: int = 0
    hull: HullCertificate | None = None

    def as_dict(self, table: str, cycle: tuple[int, int] | None = None) -> dict:
        """The certificate as JSON: integer separating weights, or the hull coefficients (and any cycle)."""
        if self.separable:
            terms = " ".join(f"{'+' if w >= 0 else '-'} {abs(w)}·x{i + 1}" for i, w in enumerate(self.weights))
            bias = f"{'+' if self.bias >= 0 else '-'} {abs(self.bias)}"
            return {"kind": "separating_weights", "weights": list(self.weights), "bias": self.bias,
                    "text": f"step({terms.lstrip('+ ')} {bias}) reproduces {table}"}
        hull = self.hull
        assert hull is not None
        return {
            "kind": "convex_hulls_meet",
            "ones": [{"row": row, "coefficient": str(c)} for row, c in hull.ones],
            "zeros": [{"row": row, "coefficient": str(c)} for row, c in hull.zeros],
            "point": [str(v) for v in hull.point],
            "cycle": {"epoch": cycle[0], "repeated_after_epoch": cycle[1]} if cycle else None,
            "text": hull.text(),
        }


@dataclass(frozen=True)
class TrainResult:
    """A perceptron training run and the exact verdict on its function."""

    function: BooleanFunction
    lr: Fraction
    init: str
    shuffle: bool
    seed: int | None
    history: tuple[Epoch, ...]
    converged: bool
    cycle: tuple[int, int] | None  # (epoch whose end state repeated, epoch that repeated it)
    weights: tuple[Fraction, ...]
    bias: Fraction
    predictions: str
    verdict: Verdict
    initial: tuple[tuple[Fraction, ...], Fraction] = field(default=((), Fraction(0)))

    @property
    def epochs(self) -> int:
        return len(self.history)

    @property
    def accuracy(self) -> float:
        return self.function.accuracy(self.predictions)

    def as_dict(self) -> dict:
        """The JSON contract: the function, the run, the final weights, the exact certificate, the history."""
        fn = self.function
        return {
            "function": fn.name, "inputs": fn.inputs, "truth_table": fn.table,
            "separable": self.verdict.separable, "converged": self.converged, "epochs": self.epochs,
            "weights": [float(w) for w in self.weights], "bias": float(self.bias),
            "predictions": self.predictions, "accuracy": self.accuracy,
            "certificate": self.verdict.as_dict(fn.table, self.cycle),
            "lr": float(self.lr), "init": self.init, "shuffle": self.shuffle, "seed": self.seed,
            "history": [{"epoch": e.epoch, "mistakes": e.mistakes, "weights": [float(w) for w in e.weights],
                         "bias": float(e.bias)} for e in self.history],
        }


def predict(rows: np.ndarray, weights: tuple, bias) -> str:
    """The truth table computed by step(w·x + b), step(0) = 1, in exact arithmetic."""
    return "".join("1" if sum(w * int(x) for w, x in zip(weights, row, strict=True)) + bias >= 0 else "0"
                   for row in rows)


def parse_rate(text: str | float | int) -> Fraction:
    """A positive learning rate as an exact fraction ('0.1' is exactly 1/10)."""
    try:
        rate = Fraction(str(text).strip())
    except (ValueError, ZeroDivisionError):
        raise InputError(f"learning rate '{text}' is not a number") from None
    if rate <= 0:
        raise InputError(f"learning rate must be positive (got {text})")
    return rate


def train(fn: BooleanFunction, lr: Fraction | int = 1, max_epochs: int = 1000, init: str = "zero",
          shuffle: bool = False, seed: int | None = None,
          progress: Callable[[Epoch], None] | None = None) -> TrainResult:
    """Run the perceptron rule w += lr·(t − o)·x, b += lr·(t − o) until an epoch without mistakes,
    a repeated state (fixed order only) or `max_epochs`; then attach the exact LP verdict."""
    if init not in INIT_CHOICES:
        raise InputError(f"--init must be one of {', '.join(INIT_CHOICES)} (got '{init}')")
    if max_epochs < 1:
        raise InputError(f"--epochs must be at least 1 (got {max_epochs})")
    lr = Fraction(lr)
    n = fn.inputs
    rng = np.random.default_rng(seed)
    if init == "random":  # uniform on [-1, 1] in steps of 1/100, so arithmetic stays exact
        start = [Fraction(int(k), 100) for k in rng.integers(-100, 101, size=n + 1)]
    else:
        start = [Fraction(0)] * (n + 1)
    history, converged, cycle = _run_rule(fn, lr, start, max_epochs, rng if shuffle else None, progress)
    weights, bias = history[-1].weights, history[-1].bias
    return TrainResult(
        function=fn, lr=lr, init=init, shuffle=shuffle, seed=seed, history=tuple(history),
        converged=converged, cycle=cycle, weights=weights, bias=bias,
        predictions=predict(fn.rows, weights, bias), verdict=decide(fn),
        initial=(tuple(start[:-1]), start[-1]),
    )


def _run_rule(fn: BooleanFunction, lr: Fraction, start: list[Fraction], max_epochs: int,
              shuffler: np.random.Generator | None, progress: Callable[[Epoch], None] | None = None,
              ) -> tuple[list[Epoch], bool, tuple[int, int] | None]:
    """The perceptron rule epoch by epoch: (history, converged, cycle). Cycles are only looked for
    with the rows in fixed order (`shuffler` None), where a repeated state proves an endless loop."""
    # Work in integers: scale everything by a common denominator (the step is scale-invariant).
    scale = math.lcm(lr.denominator, *(v.denominator for v in start))
    state = [int(v * scale) for v in start]  # weights then bias
    step = int(lr * scale)
    rows = [[int(v) for v in row] + [1] for row in fn.rows]
    targets = [int(c) for c in fn.table]
    order = list(range(len(rows)))
    seen = {tuple(state): 0}
    history: list[Epoch] = []
    for epoch in range(1, max_epochs + 1):
        if shuffler is not None:
            order = [int(i) for i in shuffler.permutation(len(rows))]
        mistakes = 0
        for i in order:
            row = rows[i]
            delta = targets[i] - (1 if sum(w * x for w, x in zip(state, row, strict=True)) >= 0 else 0)
            if delta:
                mistakes += 1
                state = [w + delta * step * x for w, x in zip(state, row, strict=True)]
        history.append(Epoch(epoch, mistakes, tuple(Fraction(w, scale) for w in state[:-1]),
                             Fraction(state[-1], scale)))
        if progress is not None:
            progress(history[-1])
        if mistakes == 0:
            return history, True, None
        key = tuple(state)
        if shuffler is None:
            if key in seen:
                return history, False, (seen[key], epoch)
            seen[key] = epoch
    return history, False, None


def cycling_verdict(fn: BooleanFunction, max_epochs: int = 100_000) -> bool | None:
    """Separability by the rule alone (zero start, fixed order, no LP): True on convergence, False on
    a repeated state, None if neither happened within `max_epochs`."""
    _, converged, cycle = _run_rule(fn, Fraction(1), [Fraction(0)] * (fn.inputs + 1), max_epochs, None)
    return True if converged else False if cycle else None


def decide(fn: BooleanFunction) -> Verdict:
    """The exact separability verdict by LP, every certificate re-checked before it is returned."""
    rows, table = fn.rows, fn.table
    ones = [row for row, t in zip(rows, table, strict=True) if t == "1"]
    zeros = [row for row, t in zip(rows, table, strict=True) if t == "0"]
    n = fn.inputs
    if not zeros or not ones:  # constants: step(0) = 1 gives true; bias -1 gives false
        return _checked(fn, Verdict(True, (0,) * n, 0 if not zeros else -1))
    # Columns (x, 1, 0) for 1-rows and (-x, 0, 1) for 0-rows; rhs (0…0, 1, 1): feasible iff hulls meet.
    columns = [[int(v) for v in x] + [1, 0] for x in ones] + [[-int(v) for v in x] + [0, 1] for x in zeros]
    matrix = [[Fraction(col[r]) for col in columns] for r in range(n + 2)]
    rhs = [Fraction(0)] * n + [Fraction(1), Fraction(1)]
    result = phase_one(matrix, rhs)
    if result.feasible:
        lam, mu = result.z[: len(ones)], result.z[len(ones):]
        point = tuple(sum((c * int(x[i]) for c, x in zip(lam, ones, strict=True)), Fraction(0))
                      for i in range(n))
        hull = HullCertificate(
            ones=tuple((row_label(x), c) for x, c in zip(ones, lam, strict=True) if c),
            zeros=tuple((row_label(x), c) for x, c in zip(zeros, mu, strict=True) if c),
            point=point,
        )
        return _checked(fn, Verdict(False, hull=hull))
    # Farkas y = (u, α, β): u·x ≤ −α on 1-rows, u·x ≥ β on 0-rows, α + β > 0; so w = −u separates.
    *u, alpha, beta = result.farkas
    weights = [-v for v in u]
    bias = (beta - alpha) / 2
    denominator = math.lcm(*(v.denominator for v in (*weights, bias)))
    ints = [int(v * denominator) for v in (*weights, bias)]
    common = math.gcd(*ints) or 1
    ints = [v // common for v in ints]
    return _checked(fn, Verdict(True, tuple(ints[:-1]), ints[-1]))


def _checked(fn: BooleanFunction, verdict: Verdict) -> Verdict:
    """Re-verify a certificate exactly; a failure here is a bug, never a user error."""
    if verdict.separable:
        if predict(fn.rows, verdict.weights, verdict.bias) != fn.table:
            raise AssertionError(f"weights {verdict.weights}, bias {verdict.bias} miss {fn.table}")
        return verdict
    hull = verdict.hull
    assert hull is not None
    for side, want in ((hull.ones, "1"), (hull.zeros, "0")):
        if sum(c for _, c in side) != 1 or any(c < 0 for _, c in side):
            raise AssertionError("hull coefficients are not a convex combination")
        index = {row_label(r): t for r, t in zip(fn.rows, fn.table, strict=True)}
        if any(index[label] != want for label, _ in side):
            raise AssertionError("hull certificate uses a row from the wrong side")
        combo = tuple(sum((c * int(label[i]) for label, c in side), Fraction(0)) for i in range(fn.inputs))
        if combo != hull.point:
            raise AssertionError("hull certificate combinations do not meet at the stated point")
    return verdict


def decision_picture(weights: tuple, bias, table: str, width: int = 29, height: int = 13) -> list[str]:
    """ASCII picture of a two-input perceptron on [-0.5, 1.5]²: the four rows drawn as their target
    digit, the line w·x + b = 0, and '.' over the side where the unit outputs 1."""
    if len(table) != 4 or len(weights) != 2:
        raise InputError("the decision picture is drawn for two-input functions only")
    w1, w2, b = (float(v) for v in (*weights, bias))

    def value(x1: float, x2: float) -> float:
        return w1 * x1 + w2 * x2 + b

    def to_x(col: float) -> float:
        return -0.5 + 2.0 * col / (width - 1)

    def to_y(row: float) -> float:
        return 1.5 - 2.0 * row / (height - 1)

    dx, dy = 2.0 / (width - 1), 2.0 / (height - 1)  # data units per character cell
    across, down = abs(w1) * dx, abs(w2) * dy  # change of w·x + b per cell step right / down
    slope = across / down if down else float("inf")  # rows per column along the line
    stroke = "|" if slope > 2.5 else "-" if slope < 0.4 else ("\\" if w1 * w2 > 0 else "/")
    grid = []
    for r in range(height):
        line = []
        for c in range(width):
            v = value(to_x(c), to_y(r))
            on_line = (w1 or w2) and abs(v) <= max(across, down) / 2
            line.append(stroke if on_line else "." if v >= 0 else " ")
        grid.append(line)
    for index, target in enumerate(table):
        x1, x2 = index >> 1, index & 1
        col = round((x1 + 0.5) * (width - 1) / 2.0)
        row = round((1.5 - x2) * (height - 1) / 2.0)
        grid[row][col] = target
    body = ["     |" + "".join(line) for line in grid]
    for value_y, label in ((1.0, "x2=1 "), (0.0, "x2=0 ")):
        row = round((1.5 - value_y) * (height - 1) / 2.0)
        body[row] = label + body[row][5:]
    axis = "     +" + "-" * width
    ticks = [" "] * width
    for value_x in (0, 1):
        col = round((value_x + 0.5) * (width - 1) / 2.0)
        ticks[col - 2:col + 3] = list(f"x1={value_x}")
    return [*body, axis, "      " + "".join(ticks).rstrip()]


def threshold_text(weights: tuple[int, ...], bias: int) -> str:
    """step(w·x + b) with integer weights as a readable inequality: 'x1 + x2 - 2·x3 ≥ 1', or with the
    signs flipped when most weights are negative: '2·x1 + x2 + x3 ≤ 1'."""
    coefficients, bound = list(weights), -bias  # w·x ≥ bound
    common = math.gcd(*coefficients)
    if common > 1:  # w·x is then a multiple of `common`: round the bound up to one
        coefficients, bound = [w // common for w in coefficients], -(-bound // common)
    relation = "≥"
    if sum(w < 0 for w in coefficients) > sum(w > 0 for w in coefficients):
        coefficients, bound, relation = [-w for w in coefficients], -bound, "≤"
    terms = []
    for i, w in enumerate(coefficients):
        if w:
            size = "" if abs(w) == 1 else f"{abs(w)}·"
            terms.append(("- " if w < 0 else "+ ") + f"{size}x{i + 1}")
    left = " ".join(terms).removeprefix("+ ") or "0"
    if left.startswith("- "):
        left = "-" + left[2:]
    return f"{left} {relation} {bound}"
