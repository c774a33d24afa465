"""The Activation record and the one registry every command reads."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from dlcli.errors import InputError, unknown_name

Array = np.ndarray
Params = dict[str, float]


# NamedTuples rather than dataclasses: as immutable, and ~5x cheaper to define at start-up.
class Param(NamedTuple):
    """A named parameter with its default and valid interval."""

    name: str
    default: float
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    help: str = ""

    def interval(self) -> str:
        lo = "-inf" if self.low == -math.inf else f"{self.low:g}"
        hi = "inf" if self.high == math.inf else f"{self.high:g}"
        return f"{'(' if self.low_open or self.low == -math.inf else '['}{lo}, {hi}" + (
            ")" if self.high_open or self.high == math.inf else "]"
        )

    def validate(self, value: float) -> float:
        ok = math.isfinite(value)
        ok = ok and (value > self.low if self.low_open else value >= self.low)
        ok = ok and (value < self.high if self.high_open else value <= self.high)
        if not ok:
            raise InputError(f"parameter {self.name}={value:g} is out of range {self.interval()}")
        return value


class Activation(NamedTuple):
    """One activation function: values, analytic derivative and the facts about it.

    `fn(x, **params)` and `grad(x, **params)` take and return float64 arrays. For element-wise
    activations `grad` is f'(x) element by element; for vector ones (`vector=True`, softmax)
    `fn` maps a 1-D vector to a vector and `grad` returns its Jacobian matrix.
    `torch_ref(torch, x, params)` computes the same function with torch (a torch.nn.functional
    call, or a direct transcription of the formula where torch has none): it is the reference
    that `activations check` and the tests differentiate with autograd.
    """

    name: str
    formula: str
    fn: Callable[..., Array]
    grad: Callable[..., Array]
    torch_ref: Callable[[Any, Any, Params], Any]
    output_range: str
    bounds: Callable[[Params], tuple[float, float]]
    zero_centred: bool  # odd, f(−x) = −f(x), so outputs centre on 0 (at the default parameters)
    monotonic: bool | None  # never decreasing (at the default parameters); None: not decided (a formula)
    saturates: str  # "no", "left", "right" or "both"
    kinks: str = "smooth"  # "smooth", or where f or f' is not differentiable
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    vector: bool = False
    vector_max_abs_grad: float = 0.0  # sup of |Jacobian entries|, for vector activations
    torch_native: bool = True  # False: torch_ref is our transcription of the formula
    reference_rtol: float = 1e-12  # agreement demanded of torch_ref's values and autograd derivatives
    undefined_grad_at: Callable[[Params], tuple[float, ...]] = lambda p: ()
    notes: str = ""
    # f written with mpmath, `mpmath_ref(mpmath, x, params)` at x an mpf: the high-precision reference that
    # settles a point where dlcli and torch disagree (`activations check`). None: torch's word is final.
    mpmath_ref: Callable[[Any, Any, Params], Any] | None = None
    # sup |f'| known in closed form: (sup, where it is reached or approached, attained?); None: searched
    grad_sup: Callable[[Params], tuple[float, float, bool]] | None = None
    user: bool = False  # defined by the user (`activations define`), kept in their config
    derivative_formula: str = ""  # f'(x) as a formula, for activations written as formulas

    def resolve(self, given: Mapping[str, float | str] | None = None) -> Params:
        """Defaults overridden by `given`, each validated; unknown names are an InputError."""
        known = {p.name: p for p in self.params}
        values = {p.name: p.default for p in self.params}
        for key, raw in (given or {}).items():
            if key not in known:
                if not known:
                    raise InputError(f"{self.name} takes no parameters (got '{key}')")
                raise unknown_name(f"parameter of {self.name}", key, known)
            try:
                value = float(raw)
            except ValueError:
                raise InputError(f"parameter {key}={raw!r} is not a number") from None
            values[key] = known[key].validate(value)
        unset = [key for key, value in values.items() if math.isnan(value)]
        if unset:  # a formula's parameters have no default: NaN marks them
            raise InputError(f"parameter {unset[0]} of {self.name} is not set; give it with -p {unset[0]}=VALUE")
        return values

    def __call__(self, x: Array | float, **params: float) -> Array:
        return self.fn(np.asarray(x, dtype=np.float64), **self.resolve(params))

    def derivative(self, x: Array | float, **params: float) -> Array:
        return self.grad(np.asarray(x, dtype=np.float64), **self.resolve(params))


_REGISTRY: dict[str, Activation] = {}
_ALIASES: dict[str, str] = {}


def register(act: Activation) -> Activation:
    """Add `act` to the registry; an element-wise one gets NaN in, NaN out for f and f' (as torch's f)."""
    for key in (act.name, *act.aliases):
        if key in _REGISTRY or key in _ALIASES:
            raise ValueError(f"activation name '{key}' registered twice")
    if not act.vector:
        act = act._replace(fn=_nan_stays_nan(act.fn), grad=_nan_stays_nan(act.grad))
    _REGISTRY[act.name] = act
    for alias in act.aliases:
        _ALIASES[alias] = act.name
    return act


def _nan_stays_nan(f: Callable[..., Array]) -> Callable[..., Array]:
    """f with NaN wherever its input is NaN: comparisons with NaN are False, so `np.where(x > 0, ...)` and
    `(x > t).astype(float)` would otherwise pick a branch and return 0, α or 1 for NaN."""
    def nan_through(x: Array, **params: float) -> Array:
        out = f(x, **params)
        nan = np.isnan(x)
        return np.where(nan, np.nan, out) if nan.any() else out

    nan_through.__doc__ = f.__doc__
    return nan_through


# What `get` asks about a string that is no registered name (a user activation or a formula); the package
# sets it, so that this module imports neither.
_FALLBACK: list[Callable[[str], Activation | None]] = []


def set_fallback(resolve: Callable[[str], Activation | None]) -> None:
    _FALLBACK[:] = [resolve]


def get(name: str) -> Activation:
    """The activation called `name` (or one of its aliases), else a user activation or a formula in x;
    an InputError naming the closest match."""
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key in _REGISTRY:
        return _REGISTRY[key]
    for resolve in _FALLBACK:
        found = resolve(name)
        if found is not None:
            return found
    raise unknown_name("activation", name, [*_REGISTRY, *_ALIASES])


def names(*, include_aliases: bool = False, elementwise_only: bool = False) -> list[str]:
    """Registered names in registration order (the notes' set first)."""
    out = [n for n, a in _REGISTRY.items() if not (elementwise_only and a.vector)]
    if include_aliases:
        out += [a for a, n in _ALIASES.items() if not (elementwise_only and _REGISTRY[n].vector)]
    return out


def all_activations() -> list[Activation]:
    return list(_REGISTRY.values())
