"""dlcli: activation-function and gradient analysis, in the terminal and as a library."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def watch(model: Any, optimizer: Any = None, *, every: int = 50, log: str | None = None, overwrite: bool = False,
          config: dict[str, Any] | None = None) -> Any:
    """Watch `model` in your own training loop; steps are `optimizer`'s (without one, call `w.step()`):

        with dlcli.watch(model, optimizer, every=50, log="runs/exp1.db") as w:
            ...
            w.record(loss=loss)

    Every sampled step (1, 1+every, ...) records each module's gradient, weight, update and activation figures in
    the run store `log`; `dlcli report runs/exp1.db` reads them."""
    from dlcli.runs.watch import Watch

    return Watch(model, optimizer, every=every, log=log, overwrite=overwrite, config=config)
