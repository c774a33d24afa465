"""What the trainer callbacks share: the watch opened with the trainer's configuration in the run's config, the
status of a run an exception ended, and the loss recorded once per optimizer step the watch counted."""

from __future__ import annotations

import inspect
from typing import Any

from dlcli.runs.watch import Watch


def check_options(options: dict[str, Any]) -> None:
    """The callback's extra keyword arguments are Watch's (overwrite=, config=): a wrong name fails here, at once,
    not when the trainer starts training."""
    inspect.signature(Watch).bind(None, **options)


def make_watch(model: Any, optimizer: Any, every: int, log: str | None, options: dict[str, Any],
               trainer: dict[str, Any]) -> Watch:
    """The watch (Watch unwraps accelerate's optimizer), not started yet; the run's config holds the trainer's
    own settings
    under "trainer" (the user's config= keys beside it, a "trainer" key of theirs winning)."""
    options = dict(options)
    config = {"trainer": trainer, **(options.pop("config", None) or {})}
    return Watch(model, optimizer, every=every, log=log, config=config, **options)


def status_of(exc: BaseException | None) -> str:
    """The store's status for a run that ended with `exc` (None: it finished), as `with dlcli.watch(...)` sets it."""
    return "finished" if exc is None else "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"


class LossPerStep:
    """Records the loss of the optimizer step the watch counted last, once: a step the trainer counted but the
    optimizer never took (a mixed-precision step skipped for an overflow) does not overwrite the step before it."""

    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        self.last = 0

    def record(self, loss: Any) -> bool:
        if self.watch.steps <= self.last:
            return False
        self.watch.record(loss=loss)
        self.last = self.watch.steps
        return True


def plain(value: Any) -> Any:
    """A setting as JSON keeps it: an enum by its value, infinity (no limit) as None, anything else unknown as text."""
    value = getattr(value, "value", value)
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return None
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)
