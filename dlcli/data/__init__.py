"""Data sets for the model commands: scikit-learn's bundled digits, or the user's .npz/.npy arrays."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Dataset": "datasets",
    "load_dataset": "datasets",
    "DATASETS": "datasets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the defining module on first use, so importing the package costs nothing."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
