"""Training a network on a data set and watching, per layer and epoch, how fast each layer learns."""

from __future__ import annotations

from dlcli.lazy import facade

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
__getattr__ = facade(__name__, _EXPORTS, globals())
