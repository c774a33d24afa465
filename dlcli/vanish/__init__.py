"""Gradient flow through deep stacks: configuration, engines, statistics, mean-field theory, analysis."""

from __future__ import annotations

from dlcli.lazy import facade

_EXPORTS = {
    "VanishResult": "analysis",
    "run": "analysis",
    "analyse": "analysis",
    "verdict": "analysis",
    "VANISHING_BELOW": "analysis",
    "EXPLODING_ABOVE": "analysis",
    "VanishConfig": "config",
    "make_config": "config",
    "Progress": "config",
    "INITS": "config",
    "DTYPES": "config",
    "ENGINES": "config",
    "DEVICES": "config",
    "LOSSES": "config",
    "DEFAULT_GAIN": "config",
    "LayerStats": "statistics",
    "SATURATION_LEVEL": "statistics",
    "norm2": "statistics",
    "inverse_power_of_two": "statistics",
    "layer_stats": "statistics",
    "max_abs_grad": "statistics",
    "NumpyNetwork": "numpy_engine",
    "build_numpy": "numpy_engine",
    "forward_backward": "numpy_engine",
    "run_numpy": "numpy_engine",
    "layer_weights": "weights",
    "inputs": "weights",
    "loss_head": "weights",
    "loss_grad": "weights",
    "estimate_bytes": "memory",
    "estimate_device_bytes": "memory",
    "available_bytes": "memory",
    "check_memory": "memory",
    "human_bytes": "memory",
    "Theory": "meanfield",
    "LayerSpec": "meanfield",
    "predict": "meanfield",
    "critical_gain": "meanfield",
    "run_torch": "torch_engine",
    "build_model": "torch_engine",
}

__all__ = sorted(_EXPORTS)
__getattr__ = facade(__name__, _EXPORTS, globals())  # each name's module is imported on first use
