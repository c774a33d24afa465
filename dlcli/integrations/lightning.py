"""`dlcli.watch` inside `lightning.Trainer`: `Trainer(callbacks=[WatchCallback(every=50, log="runs/exp1.db")])`.

The watch starts at `on_train_start` on the LightningModule and the optimizer the trainer built
(`trainer.optimizers[0]`), and closes at `on_train_end` ("finished") or `on_exception` ("failed"; "interrupted" for
Ctrl-C), `teardown` closing it if neither ran. Under DDP or FSDP every process watches (a sample is reduced over the
ranks) and the global-zero one writes the store.

Steps are optimizer steps. The loss of a step is the mean of the `training_step` losses of the batches that made it:
Lightning hands `on_train_batch_end` each batch's loss divided by `accumulate_grad_batches` (what it backpropagates),
so the callback sums a window's and multiplies by `accumulate_grad_batches / batches` (float32 arithmetic; with no
accumulation the loss tensor is stored as it is). Lightning's own `self.log("train_loss", loss)` (on_step) logs the
last batch of the window instead: the two agree where nothing is accumulated.

Lightning's automatic optimization runs the forward and backward passes inside `optimizer.step(closure)`: the watch
reads the gradients after the closure's first call (see docs/watch.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning
import torch
from lightning.pytorch.callbacks import Callback

from dlcli.errors import InputError
from dlcli.integrations.common import LossPerStep, check_options, make_watch, plain, status_of
from dlcli.runs.watch import Watch


class WatchCallback(Callback):
    """Records a `dlcli.watch` run of the training; `log` is the run store (`dlcli report` reads it), `every` the
    sampling period in optimizer steps, `watch_options` Watch's other options (overwrite=, config=)."""

    def __init__(self, every: int = 50, log: str | None = None, **watch_options: Any) -> None:
        check_options(watch_options)
        self.every = every
        self.store = log  # not self.log: Lightning sets each callback's `log` to the LightningModule's
        self.options = watch_options
        self.watch: Watch | None = None
        self.losses: LossPerStep | None = None
        self.window: list[Any] = []      # the losses of the batches since the last optimizer step
        self.global_step = 0             # trainer.global_step when the batch started

    # --- life cycle ----------------------------------------------------------------------------------

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.optimizers:
            raise InputError("WatchCallback needs an optimizer: configure_optimizers returned none")
        watch = make_watch(pl_module, trainer.optimizers[0], self.every, self.store, self.options,
                           trainer_config(trainer))
        watch.start()
        self.watch, self.losses, self.window = watch, LossPerStep(watch), []

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._close("finished")

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._close(status_of(exception))

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Closes a watch neither on_train_end nor on_exception closed (none should be left)."""
        self._close("finished" if plain(trainer.state.status) == "finished" else "failed")

    def _close(self, status: str) -> None:
        watch, self.watch, self.losses, self.window = self.watch, None, None, []
        if watch is not None:
            watch.close(status)

    # --- each batch ----------------------------------------------------------------------------------

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self.global_step = trainer.global_step

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.watch is None or self.losses is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, torch.Tensor) and loss.numel() == 1:
            self.window.append(loss.detach())
        if trainer.global_step == self.global_step:
            return  # gradients accumulate: no optimizer step after this batch
        window, self.window = self.window, []
        if not window:
            return  # training_step returned no loss
        # automatic optimization divides each batch's loss by accumulate_grad_batches; manual optimization does not
        scale = trainer.accumulate_grad_batches if pl_module.automatic_optimization else 1
        if len(window) == 1 and scale == 1:
            self.losses.record(window[0])
        else:
            self.losses.record(torch.stack([w.float().reshape(()) for w in window]).sum() * (scale / len(window)))


def trainer_config(trainer: Any) -> dict[str, Any]:
    """The trainer's own settings, for the run's config (under "trainer")."""
    schedulers = [{"scheduler": type(c.scheduler).__name__, "interval": c.interval, "frequency": c.frequency}
                  for c in getattr(trainer, "lr_scheduler_configs", [])]
    return {
        "framework": "lightning", "version": lightning.__version__,
        "max_steps": plain(trainer.max_steps), "max_epochs": plain(trainer.max_epochs),
        "precision": plain(trainer.precision), "accumulate_grad_batches": trainer.accumulate_grad_batches,
        "gradient_clip_val": plain(trainer.gradient_clip_val),
        "gradient_clip_algorithm": plain(trainer.gradient_clip_algorithm),
        "num_training_batches": plain(trainer.num_training_batches),
        "strategy": type(trainer.strategy).__name__, "world_size": trainer.world_size,
        "automatic_optimization": bool(trainer.lightning_module.automatic_optimization),
        "lr_schedulers": schedulers,
    }
