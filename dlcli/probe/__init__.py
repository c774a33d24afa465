"""Any nn.Module, one pass: load it, build its inputs, hook it, read who feeds whom, and say what is wrong."""

from __future__ import annotations

from dlcli.lazy import facade

_EXPORTS = {
    "parse_model_args": "loader",
    "load_model": "loader",
    "load_weights": "loader",
    "user_error": "loader",
    "analyse_module": "report",
    "ModuleResult": "report",
    "ModelOptions": "run",
    "analyse_model": "run",
}

__all__ = sorted(_EXPORTS)
__getattr__ = facade(__name__, _EXPORTS, globals())  # each name's module is imported on first use
