"""Recorded training runs: `Watch` (probe inside the user's loop; `dlcli.watch(...)` makes one), the run store, and
the report read from it."""

from __future__ import annotations

from dlcli.lazy import facade

_EXPORTS = {
    "Watch": "watch",
    "load_run": "run",
    "Run": "run",
    "report_run": "report",
    "RunReport": "report",
    "load_report": "report",
}

__all__ = sorted(_EXPORTS)
__getattr__ = facade(__name__, _EXPORTS, globals())  # each name's module is imported on first use
