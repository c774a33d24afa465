"""Charts drawn in text (canvas) and as SVG, from arrays."""

from __future__ import annotations

from dlcli.lazy import facade

_EXPORTS = {
    "Chart": "canvas",
    "Series": "canvas",
    "nice_ticks": "canvas",
    "to_svg": "svg",
    "HeatMap": "heatmap",
}

__all__ = sorted(_EXPORTS)
__getattr__ = facade(__name__, _EXPORTS, globals())  # each name's module is imported on first use
