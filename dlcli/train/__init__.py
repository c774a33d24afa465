"""Training a network on a data set and watching, per layer and epoch, how fast each layer learns."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "config",
    "make_train_config": "config",
    "OPTIMIZERS": "config",
    "LOSSES": "config",
    "train": "run",
    "build_network": "run",
    "TrainResult": "result",
    "EpochRecord": "result",
    "LayerEpoch": "result",
    "Divergence": "result",
    "stratified_split": "split",
    "standardize": "split",
    "batch_order": "split",
    "prepare": "split",
    "learning_speed_ratio": "verdict",
    "verdict": "verdict",
    "train_loop": "loop",
    "Network": "loop",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the defining module on first use, so importing the package costs nothing."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
