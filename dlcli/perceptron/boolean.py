"""Boolean functions as truth tables: parsing `--fn` specs and naming tables.

A truth table of n inputs is a bit string of length 2^n: character i is the output for the
input row whose binary digits spell i, first input most significant (`and` = "0001").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from dlcli.errors import InputError, unknown_name

MAX_INPUTS = 8  # 256 rows: the exact methods stay instant, the pictures stay readable

# name -> (rule on one row's bits, fixed arity or None for n-ary)
_RULES: dict[str, tuple[Callable[[tuple[int, ...]], bool], int | None]] = {
    "and": (lambda r: all(r), None),
    "or": (lambda r: any(r), None),
    "not": (lambda r: not r[0], 1),
    "nand": (lambda r: not all(r), None),
    "nor": (lambda r: not any(r), None),
    "xor": (lambda r: sum(r) % 2 == 1, None),
    "xnor": (lambda r: sum(r) % 2 == 0, None),
    "implies": (lambda r: not r[0] or bool(r[1]), 2),
    "majority": (lambda r: 2 * sum(r) > len(r), None),
    "parity": (lambda r: sum(r) % 2 == 1, None),
    "true": (lambda r: True, None),
    "false": (lambda r: False, None),
}
FUNCTION_NAMES = tuple(_RULES)


@dataclass(frozen=True)
class BooleanFunction:
    """A Boolean function of `inputs` variables: its display name and its truth table."""

    name: str
    inputs: int
    table: str

    @property
    def rows(self) -> np.ndarray:
        """The 2^n input rows as a (2^n, n) int array, first input most significant."""
        return input_rows(self.inputs)

    @property
    def targets(self) -> np.ndarray:
        return np.array([int(c) for c in self.table], dtype=np.int64)

    def accuracy(self, predictions: str) -> float:
        """The share of rows where `predictions` (a truth table) agrees with this function's."""
        return sum(p == t for p, t in zip(predictions, self.table, strict=True)) / len(self.table)


@cache
def input_rows(n: int) -> np.ndarray:
    """All 2^n rows of {0,1}^n in truth-table order (row i spells i in binary, x1 first)."""
    idx = np.arange(2**n)
    rows = (idx[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1
    rows.flags.writeable = False
    return rows


def row_label(row: np.ndarray | tuple[int, ...]) -> str:
    """'01' for the row (0, 1)."""
    return "".join(str(int(v)) for v in row)


def from_name(name: str, inputs: int) -> BooleanFunction:
    """The named function on `inputs` variables (`not` is unary, `implies` binary)."""
    rule, arity = _RULES[name]
    if arity is not None and inputs != arity:
        plural = "s" if arity > 1 else ""
        raise InputError(f"'{name}' takes exactly {arity} input{plural} (got --inputs {inputs})")
    table = "".join("1" if rule(tuple(int(v) for v in row)) else "0" for row in input_rows(inputs))
    return BooleanFunction(name, inputs, table)


def parse_spec(spec: str, inputs: int | None = None) -> BooleanFunction:
    """A `--fn` spec (a name or a 0/1 truth table of length 2^n) as a BooleanFunction.

    `inputs` applies to names (default 2; `not` defaults to 1); a table fixes n itself and a
    conflicting `inputs` is an error. Anything malformed is an InputError with a one-line reason.
    """
    text = spec.strip().lower()
    if inputs is not None and not 1 <= inputs <= MAX_INPUTS:
        raise InputError(f"--inputs must be between 1 and {MAX_INPUTS} (got {inputs})")
    if text and set(text) <= {"0", "1"}:
        return _from_table(text, inputs)
    if text in _RULES:
        arity = _RULES[text][1]
        return from_name(text, inputs if inputs is not None else (arity or 2))
    if text and all(c.isdigit() for c in text):
        raise InputError(f"truth table '{spec}' may contain only the characters 0 and 1")
    raise unknown_name("Boolean function", spec, FUNCTION_NAMES)


def _from_table(text: str, inputs: int | None) -> BooleanFunction:
    length = len(text)
    n = length.bit_length() - 1
    if length < 2 or length != 2**n:
        raise InputError(f"truth table '{text}' has length {length}, not a power of two")
    if n > MAX_INPUTS:
        limit = f"at most {MAX_INPUTS} inputs, length {2**MAX_INPUTS}"
        raise InputError(f"truth table of {n} inputs is too large ({limit})")
    if inputs is not None and inputs != n:
        raise InputError(f"truth table '{text}' has {n} inputs but --inputs {inputs} was given")
    return BooleanFunction(text, n, text)


def table_from_outputs(outputs: np.ndarray) -> str:
    """The bit string of a 0/1 (or boolean) output vector."""
    return "".join("1" if v else "0" for v in np.asarray(outputs).ravel())


def describe(table: str) -> str:
    """A readable name for a truth table: 'and', 'x2', 'not x1', 'x1 and not x2', ... or the table."""
    n = len(table).bit_length() - 1
    for name in ("false", "true", "and", "or", "nand", "nor", "xor", "xnor", "majority", "implies"):
        if n < 2 and name not in ("false", "true"):
            break
        if (name != "implies" or n == 2) and from_name(name, n).table == table:
            return name
    rows = input_rows(n)
    literals = []
    for i in range(n):
        literals.append((f"x{i + 1}", table_from_outputs(rows[:, i] == 1)))
        literals.append((f"not x{i + 1}", table_from_outputs(rows[:, i] == 0)))
    for label, lit_table in literals:
        if lit_table == table:
            return label
    if n == 2:  # the remaining four of the 16: one literal and the other's negation
        for (la, ta) in literals:
            for (lb, tb) in literals:
                if la[-1] < lb[-1]:
                    if _and(ta, tb) == table:
                        return f"{la} and {lb}"
                    if _or(ta, tb) == table:
                        return f"{la} or {lb}"
    return table


def _and(a: str, b: str) -> str:
    return "".join("1" if x == y == "1" else "0" for x, y in zip(a, b, strict=True))


def _or(a: str, b: str) -> str:
    return "".join("1" if "1" in (x, y) else "0" for x, y in zip(a, b, strict=True))
