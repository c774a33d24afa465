"""Inputs, losses and re-initialisations for `vanish --model`, drawn from the built stacks' seeded streams."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcli.errors import InputError, count
from dlcli.probe.kinds import is_dense, weighted_modules
from dlcli.vanish.config import DEFAULT_GAIN
from dlcli.vanish.weights import draw_weight, stream_rng

MODULE_LOSSES = ("projection", "cross_entropy", "mse", "model")
TARGETS = ("y", "labels")        # the arrays of --data that hold targets
TEST_ARRAYS = ("x_test", "y_test")  # train's held-out arrays; vanish does not read them
IGNORE_INDEX = -100              # labels cross_entropy skips, as torch's


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

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: Any) -> Batch:
        return self.take(index)

    @property
    def device(self) -> Any:
        """Where the first input lies (a training loop's batches are gathered there)."""
        first = next(iter([*self.args, *self.kwargs.values()]), None)
        return getattr(first, "device", None)

    @property
    def dtype(self) -> Any:
        """The dtype of the first floating input, else of the first input."""
        tensors = [*self.args, *self.kwargs.values()]
        floating = [t for t in tensors if getattr(t, "is_floating_point", lambda: False)()]
        return getattr((floating or tensors or [None])[0], "dtype", None)

    def head(self, n: int) -> Batch:
        """The first `n` examples of every input and of the targets."""
        return self.take(slice(0, n))

    def take(self, index: Any) -> Batch:
        """The examples `index` (a slice or an index array/tensor) picks from every input and the targets."""
        pick = lambda a: a[index] if getattr(a, "shape", ()) else a  # noqa: E731
        return Batch(tuple(pick(a) for a in self.args), {k: pick(v) for k, v in self.kwargs.items()},
                     None if self.y is None else pick(self.y))


def model_batch(torch: Any, model: Any, x: Any, y: Any, loss: str | None, device: Any, dtype: Any,
                ) -> tuple[Batch, str]:
    """The batch the model is called with and the loss taken (the default chosen where `loss` is None)."""
    batch = as_batch(torch, x, y, device, dtype)
    names, open_keywords = forward_parameters(model)
    loss = loss or ("model" if batch.y is not None and "labels" in names else default_loss(batch.y))
    if loss not in MODULE_LOSSES:
        raise InputError(f"unknown --loss '{loss}'; choose from: {', '.join(MODULE_LOSSES)}")
    if loss == "model" and batch.y is not None:
        if "labels" not in names and not open_keywords:
            raise InputError(f"--loss model: {type(model).__name__}.forward takes no labels= for the targets; "
                             "pick --loss cross_entropy, mse or projection")
        batch.kwargs["labels"] = batch.y
    return batch, loss


def forward_parameters(model: Any) -> tuple[list[str], bool]:
    """The names `model.forward` takes (self and *args left out), and whether it takes any keyword (**kwargs)."""
    import inspect

    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return [], True
    names = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def arrays_batch(model: Any, arrays: dict[str, np.ndarray], source: str, ids: bool = False) -> Batch:
    """The Batch (numpy arrays) a --data file gives `model`: `x` positional, or every array named after a parameter
    of forward as that keyword, x0, x1, ... positional; `y` or `labels` the targets. Integers become int64 (an
    integer `x` stays integer only for a model whose input goes into an Embedding, `ids`), booleans stay bool."""
    inputs = {k: v for k, v in arrays.items() if k not in TARGETS and k not in TEST_ARRAYS}
    targets = [k for k in TARGETS if k in arrays]
    if len(targets) > 1:
        raise InputError(f"{source}: both 'y' and 'labels': give the targets once")
    if not inputs:
        raise InputError(f"{source}: no input array (x, x0, x1, ... or arrays named after the model's forward)")
    keywords = {k: v for k, v in inputs.items() if k != "x" and not _positional_index(k)}
    if "x" in inputs and len(inputs) > 1:
        raise InputError(f"{source}: 'x' is the one positional input; beside it give no other input array "
                         f"(found {', '.join(sorted(k for k in inputs if k != 'x'))}); name several x0, x1, ...")
    names, open_keywords = forward_parameters(model)
    unknown = [k for k in keywords if k not in names]
    if unknown and not open_keywords:
        raise InputError(f"{source}: array '{unknown[0]}' names no parameter of {type(model).__name__}.forward "
                         f"(it takes: {', '.join(names) or 'nothing'})")
    positional = sorted((k for k in inputs if _positional_index(k)), key=lambda k: int(k[1:]))
    if [int(k[1:]) for k in positional] != list(range(len(positional))):
        raise InputError(f"{source}: positional inputs must be x0, x1, ... without gaps; found {', '.join(positional)}")
    sizes = {k: len(v) for k, v in [*inputs.items(), *((t, arrays[t]) for t in targets)]}
    if len(set(sizes.values())) > 1:
        first = next(iter(sizes))
        odd = next(k for k, n in sizes.items() if n != sizes[first])
        raise InputError(f"{source}: '{odd}' has {count(sizes[odd], 'example')}, '{first}' {sizes[first]}: every "
                         "array needs the same first axis")
    if "x" in inputs:
        x = inputs["x"]
        integer = np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_
        x = x.astype(np.int64) if integer and ids else x.astype(np.float64)
        args: tuple[Any, ...] = (x.reshape(len(x), 1) if x.ndim == 1 else x,)
    else:
        args = tuple(_keep_kind(inputs[k]) for k in positional)
    y = _keep_kind(arrays[targets[0]]) if targets else None
    return Batch(args, {k: _keep_kind(v) for k, v in keywords.items()}, y)


def _positional_index(name: str) -> bool:
    return len(name) > 1 and name[0] == "x" and name[1:].isdigit()


def _keep_kind(a: np.ndarray) -> np.ndarray:
    """Integers as int64, booleans as bool, floats as float64 (cast to the model's dtype later)."""
    if a.dtype == np.bool_:
        return a
    return a.astype(np.int64) if np.issubdtype(a.dtype, np.integer) else a.astype(np.float64)


def input_embedding(torch: Any, model: Any) -> Any:
    """The nn.Embedding the model's input goes into first (HF's get_input_embeddings, else the first module with
    parameters), or None."""
    getter = getattr(model, "get_input_embeddings", None)
    if callable(getter):
        try:
            embedding = getter()
        except Exception:  # a model that declares the method but has no embedding
            embedding = None
        if isinstance(embedding, torch.nn.Embedding):
            return embedding
    first = next((m for _, m in model.named_modules() if next(m.parameters(recurse=False), None) is not None), None)
    return first if isinstance(first, torch.nn.Embedding) else None


def token_inputs(seed: int, batch: int, shape: tuple[int, ...], vocabulary: int) -> np.ndarray:
    """Uniform random token ids below `vocabulary`, int64 (batch, *shape), from the inputs' seeded stream."""
    return stream_rng(seed, 0).integers(0, vocabulary, size=(batch, *shape), dtype=np.int64)


def as_batch(torch: Any, x: Any, y: Any, device: Any, dtype: Any) -> Batch:
    """A Batch on `device`: x a tensor/array (positional), a tuple of them, a dict of keywords or a Batch; floats
    take `dtype`, integers and booleans keep theirs; y int64 class labels or floats of `dtype`."""

    def move(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(np.ascontiguousarray(_keep_kind(v)))
        if not isinstance(v, torch.Tensor):
            return v
        return v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype)

    if isinstance(x, Batch):
        args, kwargs, y = x.args, dict(x.kwargs), x.y if y is None else y
    elif isinstance(x, dict):
        args, kwargs = (), x
    elif isinstance(x, (tuple, list)):
        args, kwargs = tuple(x), {}
    else:
        args, kwargs = (x,), {}
    if isinstance(y, np.ndarray):
        y = torch.from_numpy(np.ascontiguousarray(_keep_kind(y)))
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
    if loss == "projection":
        v = torch.from_numpy(stream_rng(seed, 1).standard_normal(tuple(out.shape[1:])))
        return (out * v.to(device=out.device, dtype=out.dtype)).sum()
    if loss == "cross_entropy":
        return cross_entropy(torch, out, y)
    if loss == "model":
        return model_loss(torch, out)
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


def cross_entropy(torch: Any, out: Any, y: Any) -> Any:
    """Mean cross-entropy over every labelled position (labels −100 skipped): logits (B, …, C) with labels (B, …),
    the classes last, else torch's (B, C, …) with (B, …)."""
    if y is None or y.dtype != torch.int64:
        raise InputError("--loss cross_entropy needs integer class labels (y or labels in --data)")
    if out.dim() >= 2 and tuple(y.shape) == tuple(out.shape[:-1]):
        logits, target = out.reshape(-1, out.shape[-1]), y.reshape(-1)
    elif out.dim() >= 2 and tuple(y.shape) == (*out.shape[:1], *out.shape[2:]):
        logits, target = out, y
    else:
        raise InputError(f"--loss cross_entropy: labels {tuple(y.shape)} fit no class axis of the output "
                         f"{tuple(out.shape)} (labels (B, …) need logits (B, …, C) or (B, C, …)); pick --output")
    classes = int(logits.shape[1])
    real = target[target != IGNORE_INDEX]
    if real.numel() and (int(real.max()) >= classes or int(real.min()) < 0):
        raise InputError(f"--loss cross_entropy: labels run from {int(real.min())} to {int(real.max())}, the output "
                         f"has {classes} classes (0 to {classes - 1}; {IGNORE_INDEX} is skipped)")
    return torch.nn.functional.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)


def model_loss(torch: Any, out: Any) -> Any:
    """The model's own loss: its output's `loss` (attribute or key), or the scalar it returned."""
    own = out.get("loss") if isinstance(out, dict) else getattr(out, "loss", None)
    if own is None and isinstance(out, torch.Tensor) and out.numel() == 1:
        own = out.reshape(())
    if not isinstance(own, torch.Tensor) or own.numel() != 1:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(f"--loss model: the model's output {shape} holds no loss (no 'loss', not a scalar); give it "
                         "labels (y or labels in --data) or pick --loss cross_entropy, mse or projection")
    return own.reshape(())


def default_loss(y: Any) -> str:
    import torch

    if y is None:
        return "projection"
    return "cross_entropy" if y.dtype == torch.int64 else "mse"
