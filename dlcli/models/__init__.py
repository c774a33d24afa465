"""The user's own PyTorch models: load one from a file, a module or torchvision, and its checkpoint."""

from __future__ import annotations

from dlcli.lazy import facade

_EXPORTS = {
    "parse_model_args": "loader",
    "load_model": "loader",
    "load_weights": "loader",
    "user_error": "loader",
}

__all__ = sorted(_EXPORTS)
__getattr__ = facade(__name__, _EXPORTS, globals())
