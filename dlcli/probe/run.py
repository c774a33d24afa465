"""`vanish --model` before rendering: the options checked, the user's model, weights and inputs built, memory
estimated, one pass analysed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dlcli.errors import InputError, count
from dlcli.extras import missing
from dlcli.probe.inputs import Batch

if TYPE_CHECKING:
    from dlcli.probe.report import ModuleResult


@dataclass
class ModelOptions:
    model: str
    model_arg: list[str] | None
    weights: str | None
    data: str | None
    batch: int
    input_shape: str | None
    loss: str | None
    dtype: str | None
    device: str
    seed: int | None
    init: str | None
    gain: float | None
    eval_mode: bool
    output: str | None
    standardize: bool = True      # x standardised as `train` does (dlcli.data.preprocess)


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise InputError(f"--input-shape expects D or C,H,W (positive integers), got '{text}'") from None
    if not shape or min(shape) < 1:
        raise InputError(f"--input-shape expects D or C,H,W (positive integers), got '{text}'")
    return shape


@dataclass
class Prepared:
    """The user's model as the options load it (weights, dtype, device), the batch it is called with, the loss."""

    model: Any
    batch: Batch
    loss: str
    data: str       # where the examples come from, in words
    seed: int
    init: str


def analyse_model(opts: ModelOptions, progress: Any = None, say: Callable[[str], None] | None = None) -> ModuleResult:
    """Everything `vanish --model` does before rendering: check the options, load the model, weights and data,
    estimate memory, and analyse one pass; the user's code runs in its place (loader.user_code)."""
    from dlcli.probe.loader import user_code
    from dlcli.probe.report import analyse_module

    with user_code():
        p = prepare_model(opts, say)
        return analyse_module(p.model, p.batch, None, p.loss, seed=p.seed, init=p.init, gain=opts.gain,
                              eval_mode=opts.eval_mode, output=opts.output, progress=progress, label=opts.model,
                              data=p.data)


def prepare_model(opts: ModelOptions, say: Callable[[str], None] | None = None) -> Prepared:
    """Check the options, load the model, its weights and its batch, and estimate the memory of one pass (the
    caller runs it under loader.user_code, as the passes that follow)."""
    try:
        import torch
    except ImportError:
        raise missing("--model", "PyTorch", "torch") from None
    from dlcli.probe.inputs import MODULE_INITS, MODULE_LOSSES, model_batch
    from dlcli.probe.loader import load_model, load_weights, parse_model_args
    from dlcli.vanish.config import check_gain
    from dlcli.vanish.memory import check_memory, estimate_module_bytes
    from dlcli.vanish.torch_engine import resolve_device, torch_dtype

    init = opts.init or "keep"
    if init not in MODULE_INITS:
        raise InputError(f"unknown --init '{init}' for --model; choose from: {', '.join(MODULE_INITS)}")
    if opts.loss is not None and opts.loss not in MODULE_LOSSES:
        raise InputError(f"unknown --loss '{opts.loss}' for --model; choose from: {', '.join(MODULE_LOSSES)}")
    if opts.dtype is not None and opts.dtype not in ("float64", "float32", "bfloat16"):
        raise InputError(f"unknown --dtype '{opts.dtype}'; choose from: float64, float32, bfloat16")
    if opts.batch < 1:
        raise InputError(f"--batch must be at least 1, got {opts.batch}")
    if opts.gain is not None:
        check_gain(opts.gain)
    if opts.gain is not None and init == "keep":
        raise InputError("--gain scales a re-initialisation: give --init too")
    if opts.weights and init != "keep":
        raise InputError(f"--weights with --init {init}: the re-initialisation would replace the loaded weights")
    seed = opts.seed
    if seed is None:
        import secrets

        seed = secrets.randbelow(2**32)
    if seed < 0:
        raise InputError(f"--seed must be zero or positive, got {seed}")
    device = resolve_device(torch, opts.device)
    shape = parse_shape(opts.input_shape) if opts.input_shape else None
    arrays = None
    if opts.data:  # a bad file is refused before the model is built
        from dlcli.data import load_arrays, load_dataset

        if opts.data.lower() == "digits":
            digits = load_dataset(opts.data)
            arrays = {"x": digits.x, "y": digits.y}
        else:
            arrays = load_arrays(opts.data)
        if opts.standardize:  # the inputs `train` feeds: one rule for both commands
            from dlcli.data.preprocess import TEST_SPLIT, standardize_as_train

            arrays = standardize_as_train(arrays, TEST_SPLIT, seed)

    torch.manual_seed(seed)  # the model's own initialisation (and dropout) repeat with --seed
    model = load_model(opts.model, parse_model_args(opts.model_arg))
    if opts.dtype is not None:
        model = model.to(torch_dtype(torch, opts.dtype))
    if opts.weights:
        load_weights(model, opts.weights)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    check_memory(None, need=3 * params, advice="lower --batch")  # weights, gradients, a copy for re-initialisation
    model = model.to(device)
    inputs, data = model_inputs(torch, model, opts, arrays, shape, seed, say)
    first = next(iter(model.parameters()), None)
    dtype = first.dtype if first is not None else torch.float32
    batch, loss = model_batch(torch, model, inputs, None, opts.loss, device, dtype)
    given = sum(t.numel() * max(t.element_size(), 8) for t in [*batch.args, *batch.kwargs.values()]
                if isinstance(t, torch.Tensor))
    check_memory(None, need=3 * params + 4 * given, advice="lower --batch")
    need = estimate_module_bytes(torch, model, batch.head(2), batch.size, copies=1 if init == "keep" else 2)
    have = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else None
    check_memory(None, need=need, have=have,
                 where="GPU memory" if device.type == "cuda" else "memory",
                 advice="lower --batch (the activations autograd keeps grow with it)")
    return Prepared(model, batch, loss, data, seed, init)


def model_inputs(torch: Any, model: Any, opts: ModelOptions, arrays: dict[str, np.ndarray] | None,
                 shape: tuple[int, ...] | None, seed: int, say: Callable[[str], None] | None) -> tuple[Batch, str]:
    """The examples (numpy, --batch of them) and their description: --data's `arrays`, random token ids for a
    model whose input goes into an Embedding, or standard normal inputs."""
    from dlcli.probe.inputs import arrays_batch, input_embedding, standard_inputs, token_inputs
    from dlcli.vanish.memory import check_memory

    embedding = input_embedding(torch, model)
    if arrays is not None and opts.data:
        name = Path(opts.data).name
        inputs = arrays_batch(model, arrays, opts.data, ids=embedding is not None)
        n = min(opts.batch, inputs.size)
        if n < opts.batch and say is not None:
            say(f"--batch {opts.batch}: {name} has {count(n, 'example')}; using {'it' if n == 1 else 'all of them'}")
        inputs = inputs.head(n)
        if shape is not None:
            inputs = reshaped(inputs, shape, name)
        done = ", standardised as train does" if opts.standardize and "x" in arrays else ""
        return inputs, f"{name} (first {n}{done})"
    if embedding is not None:
        if shape is None:
            raise InputError(f"--model {opts.model}: its input goes into an Embedding ({embedding.num_embeddings} "
                             "tokens): give --input-shape T, the tokens per example")
        check_memory(None, need=2 * opts.batch * int(np.prod(shape)) * 8, advice="lower --batch")
        ids = token_inputs(seed, opts.batch, shape, int(embedding.num_embeddings))
        return Batch((ids,)), f"random token ids below {embedding.num_embeddings}"
    if shape is None:
        shape = infer_shape(torch, model, opts.model)
    check_memory(None, need=4 * opts.batch * int(np.prod(shape)) * 8, advice="lower --batch")
    return Batch((standard_inputs(seed, opts.batch, shape),)), "standard normal"


def reshaped(inputs: Batch, shape: tuple[int, ...], name: str) -> Batch:
    """The one positional input's examples reshaped to `shape` (--input-shape with --data)."""
    if len(inputs.args) != 1 or inputs.kwargs:
        raise InputError(f"--input-shape reshapes the one input x; {name} gives {inputs.shapes()}")
    x = inputs.args[0]
    n = len(x)
    if int(np.prod(shape)) != int(np.prod(x.shape[1:])):
        raise InputError(f"--input-shape {','.join(map(str, shape))} holds {int(np.prod(shape))} values; "
                         f"{name}'s examples hold {int(np.prod(x.shape[1:]))} {tuple(x.shape[1:])}")
    return Batch((x.reshape((n, *shape)),), {}, inputs.y)


def infer_shape(torch: Any, model: Any, spec: str) -> tuple[int, ...]:
    """(in_features,) where the model's first weighted module is a Linear; otherwise ask for --input-shape."""
    from dlcli.probe.kinds import weighted_modules

    rows = weighted_modules(model)
    if rows and isinstance(rows[0][1], torch.nn.Linear):
        return (int(rows[0][1].in_features),)
    first = f"its first layer is {rows[0][0]} ({type(rows[0][1]).__name__})" if rows else "it has no layer"
    raise InputError(f"--model {spec}: give --input-shape D or C,H,W (per example): {first}, "
                     "which does not tell the input's shape")


