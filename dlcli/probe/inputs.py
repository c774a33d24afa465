"""Inputs, losses and re-initialisations for `vanish --model`, drawn from the built stacks' seeded streams."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcli.errors import InputError
from dlcli.probe.kinds import is_dense, weighted_modules
from dlcli.vanish.config import DEFAULT_GAIN
from dlcli.vanish.weights import draw_weight, stream_rng

MODULE_LOSSES = ("projection", "cross_entropy", "mse", "model")


@dataclass
class Batch:
    """What the model is called with: model(*args, **kwargs); `y` the targets (y or labels), if any; with the
    model's own loss (`--loss model`) the labels are also in kwargs as labels=."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    y: Any = None

    @property
    def size(self) -> int:
        """Examples in the batch: the first axis of the first tensor."""
        first = next(iter([*self.args, *self.kwargs.values()]), None)
        return int(first.shape[0]) if first is not None and len(getattr(first, "shape", ())) else 1

    @property
    def example_shape(self) -> tuple[int, ...]:
        """One example's shape of the first input (positional first)."""
        first = next(iter([*self.args, *self.kwargs.values()]), None)
        return tuple(int(s) for s in first.shape[1:]) if first is not None else ()

    def shapes(self) -> str:
        """The inputs' shapes, for messages: (8, 3) or input_ids (8, 16), attention_mask (8, 16)."""
        parts = [str(tuple(a.shape)) for a in self.args] + [f"{k} {tuple(v.shape)}" for k, v in self.kwargs.items()]
        return ", ".join(parts) or "no input"

    def call(self, model: Any) -> Any:
        return model(*self.args, **self.kwargs)


def model_batch(torch: Any, model: Any, x: Any, y: Any, loss: str | None, device: Any, dtype: Any,
                ) -> tuple[Batch, str]:
    """The batch the model is called with and the loss taken (the default chosen where `loss` is None)."""
    batch = as_batch(torch, x, y, device, dtype)
    loss = loss or default_loss(batch.y)
    if loss == "model" and batch.y is not None:
        batch.kwargs["labels"] = batch.y
    if loss not in MODULE_LOSSES:
        raise InputError(f"unknown --loss '{loss}'; choose from: {', '.join(MODULE_LOSSES)}")
    return batch, loss


def as_batch(torch: Any, x: Any, y: Any, device: Any, dtype: Any) -> Batch:
    """A Batch on `device`: x a tensor/array (positional), a tuple of them, a dict of keywords or a Batch; floats
    take `dtype`, integers and booleans keep theirs; y int64 class labels or floats of `dtype`."""

    def move(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(np.ascontiguousarray(v))
        if not isinstance(v, torch.Tensor):
            return v
        return v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype)

    if isinstance(x, Batch):
        args, kwargs, y = x.args, x.kwargs, x.y if y is None else y
    elif isinstance(x, dict):
        args, kwargs = (), x
    elif isinstance(x, (tuple, list)):
        args, kwargs = tuple(x), {}
    else:
        args, kwargs = (x,), {}
    if isinstance(y, np.ndarray):
        y = torch.from_numpy(np.ascontiguousarray(y))
    if y is not None:
        y = y.to(device=device)
        y = y if y.dtype == torch.int64 else y.to(dtype)
    return Batch(tuple(move(a) for a in args), {k: move(v) for k, v in kwargs.items()}, y)
MODULE_INITS = ("keep", "default", "xavier", "kaiming", "orthogonal", "normal")


def standard_inputs(seed: int, batch: int, shape: tuple[int, ...]) -> np.ndarray:
    """Standard-normal inputs (batch, *shape), float64: for one dimension the built stacks' own batch."""
    return stream_rng(seed, 0).standard_normal((batch, *shape))


def reinitialise(model: Any, init: str, gain: float | None, seed: int) -> int:
    """Draw every Linear/Conv weight afresh (float64 numpy, as the built stacks' weights); returns how many."""
    import torch

    if init not in MODULE_INITS:
        raise InputError(f"unknown --init '{init}'; choose from: {', '.join(MODULE_INITS)}")
    if init == "keep":
        return 0
    g = DEFAULT_GAIN[init] if gain is None else float(gain)
    count = 0
    for index, (_, m) in enumerate(weighted_modules(model), start=1):
        if not is_dense(torch, m):
            continue
        w = m.weight
        rows = w.shape[0]
        fan_in = int(np.prod(w.shape[1:])) if w.dim() > 1 else 1
        fan_out = rows * (int(np.prod(w.shape[2:])) if w.dim() > 2 else 1)
        rng = stream_rng(seed, 2, index)
        new = draw_weight(rng, init, g, rows, fan_in, fan_out)
        with torch.no_grad():
            w.copy_(torch.from_numpy(new.reshape(tuple(w.shape))))
            bias = getattr(m, "bias", None)
            if isinstance(bias, torch.Tensor):
                if init == "default":
                    b = rng.uniform(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in), size=bias.shape[0])
                    bias.copy_(torch.from_numpy(b))
                else:
                    bias.zero_()
        count += 1
    return count


def loss_value(torch: Any, loss: str, out: Any, y: Any, seed: int) -> Any:
    """The scalar loss: projection Σ v·out (v ~ N(0,1) per output element), cross-entropy (mean), ½Σ(out − t)²."""
    if loss == "model":
        found = out if isinstance(out, torch.Tensor) else getattr(out, "loss", None)
        if found is None and isinstance(out, dict):
            found = out.get("loss")
        if not isinstance(found, torch.Tensor) or found.numel() != 1:
            raise InputError("--loss model: the model's output has no loss (a scalar, or .loss / ['loss'])")
        return found.reshape(())
    if loss == "projection":
        v = torch.from_numpy(stream_rng(seed, 1).standard_normal(tuple(out.shape[1:])))
        return (out * v.to(device=out.device, dtype=out.dtype)).sum()
    if loss == "cross_entropy":
        if y is None or y.dtype != torch.int64:
            raise InputError("--loss cross_entropy needs integer class labels (y in --data)")
        if out.dim() < 2 or out.shape[1] <= int(y.max()):
            raise InputError(f"--loss cross_entropy: the output {tuple(out.shape)} has no class axis 1 holding "
                             f"{int(y.max()) + 1} classes; pick --loss projection or --output")
        return torch.nn.functional.cross_entropy(out, y)
    if y is None:
        t = torch.from_numpy(stream_rng(seed, 1).standard_normal(tuple(out.shape))).to(out.device, out.dtype)
    elif y.dtype == torch.int64:
        if out.dim() != 2 or out.shape[1] <= int(y.max()):
            raise InputError(f"--loss mse with class labels needs an output (batch, classes), got {tuple(out.shape)}")
        t = torch.nn.functional.one_hot(y, out.shape[1]).to(out.dtype)
    else:
        if y.numel() != out.numel():
            raise InputError(f"--loss mse: targets {tuple(y.shape)} do not fit the output {tuple(out.shape)}")
        t = y.reshape(out.shape).to(out.dtype)
    return 0.5 * ((out - t) ** 2).sum()


def default_loss(y: Any) -> str:
    import torch

    if y is None:
        return "projection"
    return "cross_entropy" if y.dtype == torch.int64 else "mse"
