"""Gradient flow through deep stacks: configuration, engines, statistics, mean-field theory, analysis."""

from __future__ import annotations

import importlib
from typing import Any

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
    "NORMS": "config",
    "ResidualTheory": "residual_theory",
    "predict_residual": "residual_theory",
    "NormTheory": "norm_theory",
    "predict_norm": "norm_theory",
    "Spectrum": "spectrum",
    "jacobian_spectrum": "spectrum",
    "PhaseDiagram": "phase",
    "phase_diagram": "phase",
    "build_model": "torch_engine",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the defining module on first use, so importing the package costs nothing."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
