"""`dlcli.watch` inside `transformers.Trainer`: `Trainer(..., callbacks=[WatchCallback(every=50, log="runs/exp1.db")])`.

The watch starts at `on_train_begin` on the model and the optimizer the Trainer built (accelerate's wrapper, whose
`.optimizer` the watch unwraps) and closes at `on_train_end` ("finished"). Under accelerate's DDP or FSDP every
process watches (a sample is reduced over the ranks) and the world-zero one writes the store.

Steps are optimizer steps (`state.global_step`). The loss stored is the one the Trainer logs (`on_log`'s
`logs["loss"]`: the mean of the micro-batches' losses of each step since the last log), recorded at the step it is
logged at: with `logging_steps=1`, every step's loss; with `logging_steps=k`, the mean of k steps at every k-th step.

The Trainer has no callback for an exception. So that no hook stays after a `train()` that raised, the callback
wraps the `train` of the Trainer it belongs to (found at `on_init_end`, when `Trainer(callbacks=[...])` builds it)
in a guard that closes the watch ("failed"; "interrupted" for Ctrl-C) and re-raises. A callback given by
`trainer.add_callback` after the Trainer was built misses `on_init_end`: it guards the Trainer at its first
`on_train_begin`, so from the next `train()` on; a watch left open by a `train()` that raised before that is
closed ("failed") by the next `on_train_begin`, or by `close()`."""

from __future__ import annotations

import functools
import sys
import weakref
from typing import Any

import transformers
from transformers import TrainerCallback

from dlcli.integrations.common import LossPerStep, check_options, make_watch, plain, status_of
from dlcli.runs.watch import Watch


class WatchCallback(TrainerCallback):
    """Records a `dlcli.watch` run of the training; `log` is the run store (`dlcli report` reads it), `every` the
    sampling period in optimizer steps, `watch_options` Watch's other options (overwrite=, config=)."""

    def __init__(self, every: int = 50, log: str | None = None, **watch_options: Any) -> None:
        check_options(watch_options)
        self.every = every
        self.store = log
        self.options = watch_options
        self.watch: Watch | None = None
        self.losses: LossPerStep | None = None
        self.guarded: weakref.WeakSet[Any] = weakref.WeakSet()   # the Trainers whose train() it guards

    # --- life cycle ----------------------------------------------------------------------------------

    def on_init_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._guard(owner(self))

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                       **kwargs: Any) -> None:
        self.close("failed")  # one left open by a train() that raised unguarded (see the module's text)
        self._guard(owner(self))
        watch = make_watch(model, optimizer, self.every, self.store, self.options, trainer_config(args, state))
        watch.start()
        self.watch, self.losses = watch, LossPerStep(watch)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if self.losses is not None and logs and "loss" in logs:
            self.losses.record(float(logs["loss"]))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.close("finished")

    def close(self, status: str = "finished") -> None:
        """The watch's hooks removed and its store closed with `status` (nothing if none is open)."""
        watch, self.watch, self.losses = self.watch, None, None
        if watch is not None:
            watch.close(status)

    def _guard(self, trainer: Any) -> None:
        """`trainer.train` (on the instance) closes this callback's watch when it raises, then re-raises."""
        if trainer is None or trainer in self.guarded:
            return
        self.guarded.add(trainer)
        train = trainer.train

        @functools.wraps(train)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return train(*args, **kwargs)
            except BaseException as exc:
                self.close(status_of(exc))
                raise

        trainer.train = guarded


def owner(callback: Any) -> Any:
    """The Trainer whose callback handler holds `callback`, found among its callers' frames (None if none is)."""
    frame: Any = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, transformers.Trainer) and \
                any(c is callback for c in getattr(candidate.callback_handler, "callbacks", [])):
            return candidate
        frame = frame.f_back
    return None


def trainer_config(args: Any, state: Any) -> dict[str, Any]:
    """The Trainer's own settings, for the run's config (under "trainer")."""
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
    names = ("max_steps", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps",
             "learning_rate", "lr_scheduler_type", "warmup_steps", "warmup_ratio", "weight_decay", "max_grad_norm",
             "optim", "logging_steps", "seed", "world_size")
    settings = {n: plain(getattr(args, n, None)) for n in names}
    return {"framework": "transformers", "version": transformers.__version__, "precision": precision, **settings,
            "total_steps": plain(state.max_steps), "total_epochs": plain(state.num_train_epochs)}
