"""The gates of a computational graph: forward value and local derivatives of each, on Python floats.

Domain errors (division by zero, log of a non-positive number, ...) and overflow raise `DomainError`
with a message for the user; derivatives at kinks follow PyTorch's autograd (|x|' = 0 at 0, a max
tie splits the gradient evenly, a passed-in function (an activation) uses its own `grad`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dlcli.expr.functions import Function
from dlcli.expr.parser import SYMBOLS

ROLES = {
    "add": "distributes",
    "sub": "distributes (right side negated)",
    "mul": "switches",
    "max": "routes",
    "min": "routes",
}


class DomainError(ArithmeticError):
    """A gate cannot be evaluated or differentiated at its input; the message says why."""


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise DomainError(what)
    return value


def evaluate_node(op: str, args: Sequence[float], params: dict[str, float], function: Function | None = None
                  ) -> float:
    """The value of gate `op` at `args` (`function`: what a gate that is no built-in calls)."""
    message = f"{SYMBOLS.get(op, op)} overflows float64 here"
    try:
        value = _evaluate(op, args, params, function)
    except OverflowError:
        raise DomainError(message) from None
    return _finite(value, message)


def _evaluate(op: str, args: Sequence[float], params: dict[str, float], function: Function | None) -> float:
    if op == "add":
        return args[0] + args[1]
    if op == "sub":
        return args[0] - args[1]
    if op == "mul":
        return args[0] * args[1]
    if op == "div":
        if args[1] == 0:
            raise DomainError("division by zero")
        return args[0] / args[1]
    if op == "pow":
        return _power(args[0], args[1])
    if op == "neg":
        return -args[0]
    if op == "exp":
        return math.exp(args[0])
    if op == "log":
        if args[0] <= 0:
            raise DomainError(f"log of a non-positive number ({args[0]!r})")
        return math.log(args[0])
    if op == "sqrt":
        if args[0] < 0:
            raise DomainError(f"sqrt of a negative number ({args[0]!r})")
        return math.sqrt(args[0])
    if op == "abs":
        return abs(args[0])
    if op == "sin":
        return math.sin(args[0])
    if op == "cos":
        return math.cos(args[0])
    if op == "max":
        return max(args)
    if op == "min":
        return min(args)
    assert function is not None, f"{op} is neither a built-in gate nor a function passed in"
    return float(function.fn(np.array([args[0]], dtype=np.float64), **params)[0])


def _power(base: float, exponent: float) -> float:
    if base == 0 and exponent < 0:
        raise DomainError("division by zero (0 to a negative power)")
    if base < 0 and not exponent.is_integer():
        raise DomainError(f"a negative number to a non-integer power is not real ({base!r}**{exponent!r})")
    return math.pow(base, exponent)


def local_gradients(
    op: str, args: Sequence[float], value: float, params: dict[str, float], wanted: Sequence[bool],
    function: Function | None = None,
) -> tuple[float | None, ...]:
    """d(op)/d(args[i]) for each input edge where `wanted[i]` (None elsewhere)."""
    try:
        slopes = _slopes(op, args, value, params, wanted, function)
    except (OverflowError, ValueError, ZeroDivisionError):
        raise DomainError(f"the derivative of {SYMBOLS.get(op, op)} is infinite here") from None
    return tuple(
        _finite(slope, f"the derivative of {SYMBOLS.get(op, op)} is infinite here") if want else None
        for slope, want in zip(slopes, wanted, strict=True)
    )


def _slopes(
    op: str, args: Sequence[float], value: float, params: dict[str, float], wanted: Sequence[bool],
    function: Function | None,
) -> tuple[float, ...]:
    a = args[0]
    if op == "add":
        return (1.0, 1.0)
    if op == "sub":
        return (1.0, -1.0)
    if op == "mul":
        return (args[1], a)
    if op == "div":
        b = args[1]
        return (1.0 / b, -a / (b * b))
    if op == "pow":
        return _power_slopes(a, args[1], value, wanted)
    if op == "neg":
        return (-1.0,)
    if op == "exp":
        return (value,)
    if op == "log":
        return (1.0 / a,)
    if op == "sqrt":
        return (1.0 / (2.0 * value),)
    if op == "abs":
        return (math.copysign(1.0, a) if a != 0 else 0.0,)
    if op == "sin":
        return (math.cos(a),)
    if op == "cos":
        return (-math.sin(a),)
    if op in ("max", "min"):
        ties = sum(1 for x in args if x == value)  # torch.amax/amin split a tie evenly
        return tuple(1.0 / ties if x == value else 0.0 for x in args)
    assert function is not None, f"{op} is neither a built-in gate nor a function passed in"
    return (float(function.grad(np.array([a], dtype=np.float64), **params)[0]),)


def _power_slopes(base: float, exponent: float, value: float, wanted: Sequence[bool]) -> tuple[float, float]:
    """Torch's pow backward: 0 for the base when the exponent is 0, 0 for the exponent when base = 0."""
    d_base = 0.0
    if wanted[0] and exponent != 0:
        d_base = exponent * math.pow(base, exponent - 1)
    d_exponent = 0.0
    if wanted[1]:
        if base < 0:
            raise DomainError("the derivative with respect to the exponent needs log of the base, "
                              "and the base is negative")
        d_exponent = value * math.log(base) if base > 0 else 0.0
    return (d_base, d_exponent)
