"""What changed between two runs (`dlcli diff A.db B.db`: layers ranked by how far their health differs, from which
step) or two checkpoints of one model (`dlcli diff --model NET --weights A --weights B`)."""

from __future__ import annotations

from dlcli.lazy import facade

_EXPORTS = {
    "diff_runs": "runs",
    "load_diff": "runs",
    "RunDiff": "runs",
    "diff_weights": "weights",
    "WeightsDiff": "weights",
}

__all__ = sorted(_EXPORTS)
__getattr__ = facade(__name__, _EXPORTS, globals())  # each name's module is imported on first use
