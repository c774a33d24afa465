"""The perceptron: Boolean functions, the learning rule, exact separability, census, and the MLP."""

from __future__ import annotations

from dlcli.lazy import facade

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
__getattr__ = facade(__name__, _EXPORTS, globals())  # each name's module is imported on first use
