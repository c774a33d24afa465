"""`train --model` on the arrays of a --data file as the model takes them (keyword inputs, token labels), with
its own loss (`--loss model`) or cross-entropy over every labelled position."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from dlcli.errors import InputError, RunError, count
from dlcli.extras import missing
from dlcli.train.config import TrainConfig
from dlcli.train.loop import EpochProgress, Network, train_loop
from dlcli.train.result import TrainResult
from dlcli.train.split import PreparedInputs, split_indices
from dlcli.train.verdict import explain, learning_speed_ratio, speed_rows, verdict


def train_on_arrays(config: TrainConfig, arrays: dict[str, np.ndarray], build: Callable[..., Network],
                    progress: EpochProgress | None = None, log: str | None = None,
                    log_every: int | None = None) -> TrainResult:
    """Train the user's model, built by `build` (train.run's build_network), on `arrays` (a --data file's, by
    name): a seeded split, the model called with each batch's inputs, accuracy only where there is one integer
    label per example and (B, C) logits."""
    try:
        import torch
    except ImportError:
        raise missing("dlcli train", "PyTorch", "torch") from None
    from dlcli.probe.inputs import arrays_batch, input_embedding, model_batch
    from dlcli.probe.run import reshaped
    from dlcli.vanish.torch_engine import resolve_device, torch_dtype

    device, dtype = resolve_device(torch, config.device), torch_dtype(torch, config.dtype)
    net = build(torch, config, None, device, dtype)  # type: ignore[arg-type]
    model = net.model
    batch = arrays_batch(model, arrays, config.data, ids=input_embedding(torch, model) is not None)
    if batch.y is None:
        raise InputError(f"training needs targets: {config.data} has no 'y' or 'labels'")
    if config.input_shape is not None:
        batch = reshaped(batch, config.input_shape, config.data)
    y = batch.y
    classes = int(y.max()) + 1 if y.ndim == 1 and np.issubdtype(y.dtype, np.integer) and y.size else None
    train_idx, test_idx = split_indices(y, config.test_split, config.seed)
    if test_idx.size == 0 or train_idx.size == 0:
        raise InputError(f"--test-split {config.test_split:g} leaves no test examples out of {len(y)}")
    data = PreparedInputs(batch.take(train_idx), batch.take(test_idx), classes, f"seeded {config.test_split:g}")
    train_batch, loss = model_batch(torch, model, data.train, None, config.loss, device, dtype)
    test_batch, _ = model_batch(torch, model, data.test, None, loss, device, dtype)
    if loss not in ("model", "cross_entropy"):
        raise InputError(f"--loss {loss} goes with x and one label per example; here give --loss model or "
                         "cross_entropy")
    config = replace(config, loss=loss)
    net = replace(net, model=_caller(torch, model), own_model=model, loss_fn=_loss(torch, loss, config.output),
                  count_correct=_counter(torch, loss, config.output, classes))
    _check_call(torch, net, test_batch.head(2), model, train_batch.size, config.batch)
    start = time.perf_counter()
    try:
        out = train_loop(torch, net, train_batch, train_batch.y, test_batch, test_batch.y, classes or 1, config,
                         progress, log=log, log_every=log_every)
    except torch.cuda.OutOfMemoryError as exc:
        raise RunError(f"out of GPU memory: {str(exc).splitlines()[0]}") from None
    seconds = time.perf_counter() - start
    rows = tuple(net.names)
    pair = speed_rows(config, len(rows))
    ratio = learning_speed_ratio(out.epochs, *pair) if pair[0] != pair[1] else float("nan")
    words = explain(config, rows, out.initial, out.epochs, ratio, None, classes or 1, len(data.test))
    if classes is None and out.epochs:  # no accuracy to speak of: say what the loss did instead
        last = out.epochs[-1]
        words = (f"After {count(len(out.epochs), 'epoch')} the test loss is {last.test_loss:.4g} (at the start "
                 f"{out.initial.test_loss:.4g}); no accuracy: the labels are not one class per example.",
                 *(w for w in words if not w.startswith("After ")))
    return TrainResult(config, data.as_dict(), rows, out.initial, tuple(out.epochs), ratio, pair,
                       verdict(ratio, rows, pair, out.epochs, classes, out.divergence),
                       words, None, out.divergence, seconds)


def _caller(torch: Any, model: Any) -> Any:
    """The model as the loop calls it: with one Batch, whose inputs it passes on (positional and keywords)."""

    class CallWithBatch(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, batch: Any) -> Any:
            return batch.call(self.inner)

    return CallWithBatch(model)


def _loss(torch: Any, loss: str, output: str | None) -> Any:
    from dlcli.probe.inputs import cross_entropy, model_loss
    from dlcli.probe.kinds import select_output

    if loss == "model":
        return lambda out, _y: model_loss(torch, out)
    return lambda out, y: cross_entropy(torch, select_output(out, output)[0], y)


def _counter(torch: Any, loss: str, output: str | None, classes: int | None) -> Any:
    """Right answers in a batch: argmax of (B, C) logits against one label per example; NaN without such."""
    from dlcli.probe.kinds import select_output

    def count(out: Any, y: Any) -> Any:
        if loss == "model":
            logits = out.get("logits") if isinstance(out, dict) else getattr(out, "logits", None)
        else:
            logits = select_output(out, output)[0]
        if classes is None or logits is None or logits.dim() != 2 or y.dim() != 1:
            return torch.full((), float("nan"), dtype=torch.float64, device=y.device)
        return (logits.argmax(dim=1) == y).sum()

    return count


def _check_call(torch: Any, net: Any, probe: Any, model: Any, n_train: int, batch: int | None) -> None:
    """One forward pass and loss on two test examples, in eval mode (no running statistics moved, no random
    number drawn): the user's error in one line, with the inputs' shapes; a last minibatch batch norm cannot
    take refused."""
    from dlcli.probe.loader import user_error
    from dlcli.train.loop import check_last_batch, one_value_norms

    training = model.training
    try:
        model.eval()
        with torch.no_grad():
            _, norms = one_value_norms(torch, model, lambda: net.loss_fn(net.model(probe), probe.y))
    except InputError:
        raise
    except Exception as exc:
        raise user_error(exc, f"the model on inputs {probe.shapes()}") from None
    finally:
        model.train(training)
    check_last_batch(norms, n_train, batch)
