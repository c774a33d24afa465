"""What a `train` run will take, estimated before it is spent: a built stack's from its widths alone (before a
weight exists), the user's model's from its parameters and a probe pass on two examples (dlcli.memory's rule)."""

from __future__ import annotations

from typing import Any

from dlcli.memory import check_fits
from dlcli.train.config import TrainConfig
from dlcli.train.loop import EVAL_CHUNK
from dlcli.train.split import Prepared

OPTIMIZER_COPIES = {"sgd": 0, "momentum": 1, "adam": 2}  # copies of the weights each optimizer keeps


def weight_copies(config: TrainConfig) -> int:
    """Copies of the weights a run holds: the weights, their gradients, the epoch's snapshot, the update's
    reference and a spare, and twice the optimizer's state (its own, and the copy an epoch is replayed from);
    measured: a width-2000 depth-4 stack peaked at 4.8 copies with sgd, 8.3 with adam."""
    return 5 + 2 * OPTIMIZER_COPIES[config.optimizer]


def steps_batch(config: TrainConfig, data: Prepared) -> int:
    n = len(data.y_train)
    return n if config.batch is None else min(config.batch, n)


def data_bytes(config: TrainConfig, data: Prepared) -> int:
    """The training and test arrays as tensors in the working dtype, and their labels."""
    item = 8 if config.dtype == "float64" else 4
    return (data.x_train.size + data.x_test.size) * item + (data.y_train.size + data.y_test.size) * 8


def stack_bytes(config: TrainConfig, data: Prepared) -> tuple[int, int]:
    """(weights and optimizer state, activations) bytes of the built stack config.widths, without building it:
    each layer's input, output and their gradients per example of a step, and of an evaluation chunk."""
    item = 8 if config.dtype == "float64" else 4
    widths = config.widths
    params = sum(i * o + o for i, o in zip(widths[:-1], widths[1:], strict=True))
    biggest = max(i * o for i, o in zip(widths[:-1], widths[1:], strict=True))
    weights = params * item * weight_copies(config) + 2 * biggest * 8  # a layer's float64 weights as generated
    units = sum(widths)
    chunk = min(EVAL_CHUNK, len(data.y_test))
    return weights, 4 * steps_batch(config, data) * units * item + 4 * chunk * max(widths) * 8


def check_stack(config: TrainConfig, data: Prepared, have: int | None, where: str) -> None:
    """Refuse a built stack that will not fit, naming what to change: the widths where the weights weigh most."""
    weights, activations = stack_bytes(config, data)
    width = "the widths in --layers" if config.layers is not None else \
        "--width (the weights grow with width²) or --depth"
    if weights >= activations:
        advice = f"shrink {width}" + ("; or use --optimizer sgd (adam keeps two more copies of the weights)"
                                      if config.optimizer == "adam" else "")
    else:
        advice = f"lower --batch (the activations kept for the backward pass grow with it) or shrink {width}"
    check_fits(weights + activations + data_bytes(config, data), advice, where, have)


def check_model(torch: Any, config: TrainConfig, data: Prepared, model: Any, probe: Any, have: int | None,
                where: str) -> None:
    """Refuse the user's model when its weights, optimizer state and a step's activations (measured on `probe`,
    two examples, by estimate_module_bytes) will not fit."""
    from dlcli.vanish.memory import estimate_module_bytes

    params = sum(p.numel() * p.element_size() for p in model.parameters())
    step = estimate_module_bytes(torch, model, probe, steps_batch(config, data))  # counts 2 copies of the weights
    need = params * (weight_copies(config) - 2) + step + data_bytes(config, data)
    check_fits(need, "lower --batch (the activations kept for the backward pass grow with it)", where, have)
