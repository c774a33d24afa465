"""The perceptron: Boolean functions, the learning rule, exact separability, census, and the MLP."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BooleanFunction": "boolean",
    "parse_spec": "boolean",
    "train": "learning",
    "decide": "learning",
    "Verdict": "learning",
    "TrainResult": "learning",
    "Epoch": "learning",
    "Census": "census",
    "OEIS_A000609": "census",
    "train_mlp": "mlp",
    "MLPResult": "mlp",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the defining module on first use, so importing the package costs nothing."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
