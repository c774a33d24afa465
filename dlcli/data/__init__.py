"""Data sets for the model commands: scikit-learn's bundled digits, or the user's .npz/.npy arrays."""

from __future__ import annotations

from dlcli.lazy import facade

_EXPORTS = {
    "Dataset": "datasets",
    "load_arrays": "datasets",
    "load_dataset": "datasets",
    "DATASETS": "datasets",
}

__all__ = sorted(_EXPORTS)
__getattr__ = facade(__name__, _EXPORTS, globals())
