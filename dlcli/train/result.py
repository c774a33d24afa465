"""What a training run recorded, per epoch and layer, and the result object whose dict is the JSON contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlcli.train.config import TrainConfig


@dataclass(frozen=True)
class LayerEpoch:
    """One layer in one epoch: how large its gradient was, how far its weights moved, how its units fared."""

    layer: int
    name: str
    weight_grad_norm: float   # ‖∂loss/∂W‖, mean over the epoch's steps
    update_ratio: float | None  # ‖W_after − W_before‖ / ‖W_before‖ over the epoch; None where ‖W_before‖ = 0
    update_norm: float        # ‖W_after − W_before‖ over the epoch (the absolute update)
    dead_frac: float          # share of units whose output is the same for every test example (epoch end; NaN
                              # below MIN_DEAD_EXAMPLES test examples)
    act_std: float            # standard deviation of the layer's outputs on the test examples (epoch end)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float         # mean of the epoch's step losses, each taken before its update
    train_accuracy: float     # share of training examples classified right, each at its step, before the update
    test_loss: float          # after the epoch
    test_accuracy: float
    layers: tuple[LayerEpoch, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "train_loss": self.train_loss, "train_accuracy": self.train_accuracy,
                "test_loss": self.test_loss, "test_accuracy": self.test_accuracy,
                "layers": [layer.as_dict() for layer in self.layers]}


@dataclass(frozen=True)
class Divergence:
    """Where a run stopped: the first step whose loss, gradients or parameters were not finite. Step 0 is the
    evaluation before any step, and at step 1 no update has happened yet: there the model itself (its initial
    weights, its computation) produces the NaN/inf, not the learning rate."""

    step: int                 # 1-based, counted over the whole run; 0: the evaluation before training
    epoch: int
    layer: int                # where it showed first (from the input); for "loss", the layer feeding the loss
    name: str
    what: str                 # "output", "model", "loss", "gradient" or "weights"
    parameter: str | None = None  # for "weights": the first parameter that is not finite
    at_start: bool = False    # step > 1, but that step's batch gives NaN/inf at the initial weights too

    @property
    def before_update(self) -> bool:
        """Whether it showed before any update, or on a batch that is NaN/inf at the initial weights too: the
        model's own NaN/inf, not a learning rate's."""
        return self.step <= 1 or self.at_start

    def message(self, lr: float) -> str:
        after = " after the update" if not self.before_update else ""
        weights = f"'s parameter {self.parameter} is" if self.parameter else "'s weights are"
        where = {
            "output": "'s output is not finite (NaN or inf)",
            "model": "'s output is finite, but the model's output is not (NaN or inf)",
            "loss": "'s output is finite, but the loss of it is not (it overflowed)",
            "gradient": "'s weight gradient is not finite (NaN or inf)",
            "weights": f"{weights} not finite{after}",
        }[self.what]
        place = f"layer {self.layer} ({self.name}){where}"
        if self.before_update:
            when = ("on the test examples before training" if self.step == 0 else "at step 1, before any update"
                    if self.step == 1 else f"on the batch of step {self.step} (epoch {self.epoch})")
            return (f"the model produces NaN/inf at its initial weights, {when}: {place}; the learning rate is not "
                    "the cause (check the model, its --weights and the inputs)")
        return (f"training diverged at step {self.step} (epoch {self.epoch}): {place}; "
                f"try a smaller --lr than {lr:g}")

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "cause": "model" if self.before_update else "training"}


@dataclass(frozen=True)
class TrainResult:
    config: TrainConfig
    data: dict[str, Any]
    rows: tuple[str, ...]                 # the layers' names, layer 1 first
    initial: EpochRecord                  # the test evaluation before any step (epoch 0; no training columns)
    epochs: tuple[EpochRecord, ...]
    learning_speed_ratio: float           # row a's update_ratio / row b's, geometric mean over the epochs
    speed_rows: tuple[int, int]           # (a, b): layer 1 and the last layer with the activation (or the last row)
    verdict: str
    explanation: tuple[str, ...]
    theory: dict[str, Any] | None         # vanish's mean-field theory of the stack at its initial weights
    divergence: Divergence | None
    seconds: float                        # wall time of the training loop (not in the JSON: it varies)

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract: config, epochs, learning_speed_ratio, verdict, final (plus a few extra keys)."""
        last = self.epochs[-1] if self.epochs else self.initial
        return {
            "config": self.config.as_dict(),
            "data": self.data,
            "epochs": [e.as_dict() for e in self.epochs],
            "learning_speed_ratio": self.learning_speed_ratio,
            "learning_speed_layers": list(self.speed_rows),
            "verdict": self.verdict,
            "explanation": list(self.explanation),
            "final": {"train_accuracy": last.train_accuracy, "test_accuracy": last.test_accuracy,
                      "test_loss": last.test_loss, "epochs": len(self.epochs)},
            "initial": self.initial.as_dict(),
            "theory": self.theory,
            "divergence": None if self.divergence is None else self.divergence.as_dict(),
        }
