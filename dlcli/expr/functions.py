"""The functions an expression may call beyond the built-ins: passed in by the caller (the activation library
passes its own), so that this package depends on neither activations nor graph."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class Function(Protocol):
    """An element-wise function with its derivative, torch form and declared facts (an Activation is one)."""

    @property
    def name(self) -> str: ...
    @property
    def fn(self) -> Callable[..., np.ndarray]: ...
    @property
    def grad(self) -> Callable[..., np.ndarray]: ...
    @property
    def torch_ref(self) -> Callable[[Any, Any, dict[str, float]], Any]: ...
    @property
    def kinks(self) -> str: ...  # "smooth", or where f or f' is not differentiable
    @property
    def monotonic(self) -> bool | None: ...  # never decreasing at the default parameters
    @property
    def bounds(self) -> Callable[[dict[str, float]], tuple[float, float]]: ...  # inf and sup of f
    @property
    def output_range(self) -> str: ...  # as written, "(0, 1)": its brackets say whether an end is attained
    @property
    def grad_sup(self) -> Callable[[dict[str, float]], tuple[float, float, bool]] | None: ...  # (sup |f'|, where,
    # attained) in closed form; None: not declared
    @property
    def reference_rtol(self) -> float: ...

    def resolve(self, given: Mapping[str, float | str] | None = None) -> dict[str, float]: ...


@dataclass(frozen=True)
class Functions:
    """What a name in a call resolves to: `find` gives the element-wise function by name or alias (None: no such
    function), `names` every such name (for suggestions), `maps_vector` whether a name is a function that maps a
    whole vector (refused with its own message)."""

    find: Callable[[str], Function | None]
    names: Callable[[], list[str]]
    maps_vector: Callable[[str], bool] = lambda name: False


NO_FUNCTIONS = Functions(find=lambda name: None, names=list)
