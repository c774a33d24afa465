"""Charts drawn in text (canvas) and as SVG, from arrays."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Chart": "canvas",
    "Series": "canvas",
    "nice_ticks": "canvas",
    "to_svg": "svg",
    "HeatMap": "heatmap",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the defining module on first use, so importing the package costs nothing."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
