"""`train`, the one entry point the CLI and library users call: data in, a TrainResult out."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import numpy as np

from dlcli.errors import InputError, RunError, count
from dlcli.extras import missing
from dlcli.memory import is_out_of_memory, out_of_memory
from dlcli.train.config import TrainConfig
from dlcli.train.loop import EpochProgress, Network, train_loop
from dlcli.train.result import TrainResult
from dlcli.train.split import Prepared, prepare
from dlcli.train.verdict import explain, learning_speed_ratio, speed_rows, theory, verdict


def train(config: TrainConfig, dataset: Any = None, progress: EpochProgress | None = None, log: str | None = None,
          log_every: int | None = None) -> TrainResult:
    """Train the configured network on `dataset` (x, y, x_test, y_test arrays; None: load config.data); `log`:
    record the run into that run store as dlcli.watch does (`dlcli report` reads it). The user's model runs in
    its place (loader.user_code: its prints on stderr, its warnings marked)."""
    if config.built:
        return _train(config, dataset, progress, log, log_every)
    from dlcli.probe.loader import user_code

    with user_code():
        return _train(config, dataset, progress, log, log_every)


def _train(config: TrainConfig, dataset: Any, progress: EpochProgress | None, log: str | None,
           log_every: int | None) -> TrainResult:
    if dataset is None:
        dataset = load_training_data(config)
    if isinstance(dataset, dict):
        from dlcli.train.inputs import train_on_arrays

        return train_on_arrays(config, dataset, build_network, progress, log, log_every)
    config = replace(config, loss=config.loss or "cross_entropy")
    if config.input_shape is not None:
        dataset = reshape_examples(dataset, config.input_shape)
    data = prepare(dataset.x, dataset.y, dataset.x_test, dataset.y_test, test_split=config.test_split,
                   standardize_inputs=config.standardize, seed=config.seed, loss=config.loss or "cross_entropy")
    if config.built:
        config = config.with_data(int(np.prod(data.x_train.shape[1:])), data.classes)
    try:
        import torch
    except ImportError:
        raise missing("dlcli train", "PyTorch", "torch") from None
    from dlcli.vanish.torch_engine import resolve_device, torch_dtype

    device = resolve_device(torch, config.device)
    dtype = torch_dtype(torch, config.dtype)
    try:
        _check_memory(torch, config, data, device, dtype)  # a built stack's, before a weight exists
        net = build_network(torch, config, data, device, dtype)
        _check_memory(torch, config, data, device, dtype, net)
        x_train, x_test = (torch.from_numpy(a).to(device=device, dtype=dtype) for a in (data.x_train, data.x_test))
        if config.built:
            x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
        y_train, y_test = (torch.from_numpy(a).to(device) for a in (data.y_train, data.y_test))
        net = _check_output(torch, net, x_test, data.classes, config, len(y_train))
        threads = torch.get_num_threads()
        if device.type == "cpu" and config.built:  # the user's model: never called more than its training needs
            torch.set_num_threads(faster_threads(torch, net.model, x_train[:config.batch or len(x_train)]))
        start = time.perf_counter()
        try:
            out = train_loop(torch, net, x_train, y_train, x_test, y_test, data.classes, config, progress,
                             log=log, log_every=log_every)
        finally:
            torch.set_num_threads(threads)
        seconds = time.perf_counter() - start
    except torch.cuda.OutOfMemoryError as exc:
        raise RunError(f"out of GPU memory: {str(exc).splitlines()[0]}") from None
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunError(out_of_memory(f"training ({detail})", "lower --batch, or shrink --width or --depth")) from None
    rows = tuple(net.names)
    pair = speed_rows(config, len(rows))
    ratio = learning_speed_ratio(out.epochs, *pair) if pair[0] != pair[1] else float("nan")
    th = theory(config, float(np.mean(data.x_train**2))) if config.built else None
    words = explain(config, rows, out.initial, out.epochs, ratio, th, data.classes, len(data.y_test))
    return TrainResult(config, data.as_dict(), rows, out.initial, tuple(out.epochs), ratio, pair,
                       verdict(ratio, rows, pair, out.epochs, data.classes, out.divergence),
                       words, th, out.divergence, seconds)


def load_training_data(config: TrainConfig) -> Any:
    """The Dataset (x, y and the test arrays) as the built stacks read it, or for a --model run whose data has
    keyword inputs, token labels, --loss model or --output, the file's arrays as they are (a dict)."""
    from dlcli.data.datasets import load_arrays, load_dataset

    if config.built or config.data.lower() == "digits":
        return load_dataset(config.data)
    arrays = load_arrays(config.data)
    y = arrays.get("y")
    plain = "x" in arrays and "labels" not in arrays and (y is None or y.ndim == 1)
    if plain and config.loss != "model" and config.output is None:
        return load_dataset(config.data)
    return arrays


def reshape_examples(dataset: Any, shape: tuple[int, ...]) -> Any:
    """The dataset with x (and x_test) reshaped to `shape` per example (--input-shape)."""
    from dataclasses import replace as with_fields

    size = int(np.prod(shape))
    if size != int(np.prod(dataset.x.shape[1:])):
        raise InputError(f"--input-shape {','.join(map(str, shape))} holds {size} values; {dataset.name}'s "
                         f"examples hold {int(np.prod(dataset.x.shape[1:]))} {tuple(dataset.x.shape[1:])}")
    x_test = None if dataset.x_test is None else dataset.x_test.reshape((len(dataset.x_test), *shape))
    return with_fields(dataset, x=dataset.x.reshape((len(dataset.x), *shape)), x_test=x_test)


def build_network(torch: Any, config: TrainConfig, data: Prepared, device: Any, dtype: Any) -> Network:
    """The built stack (vanish's seeded weights, the head last, no activation on it) or the user's model."""
    if config.built:
        from dlcli.vanish.torch_engine import build_model

        modules = list(build_model(config.vanish_config(), torch, device))[:-1]  # the head takes no activation
        model = torch.nn.Sequential(*modules)
        linears = modules[0::2]
        hidden = len(linears) - 1
        names = [config.activation or ""] * hidden + ["head"]
        probes = [*modules[1::2], linears[-1]]
        return Network(model, names, [m.weight for m in linears], linears, probes)
    from dlcli.probe.loader import load_model, load_weights

    assert config.model is not None
    torch.manual_seed(config.seed)
    model = load_model(config.model, config.model_args)
    if config.weights is not None:
        load_weights(model, config.weights)
    model = model.to(device=device, dtype=dtype)
    return model_network(model, config.model)


def model_network(model: Any, spec: str) -> Network:
    """The user's model as the loop's rows: the rows of `vanish --model` (every module that owns trainable
    weights, a tied tensor once), each with its weight tensors; the statistics of the parameter-free module run
    next (its activation) where there is one."""
    from dlcli.probe.kinds import owner_modules, row_weights

    leaves = [m for _, m in model.named_modules() if not list(m.children())]
    following = {id(m): leaves[i + 1] for i, m in enumerate(leaves[:-1])}
    names: list[str] = []
    weights: list[Any] = []
    rows_of: list[int] = []
    layer_modules: list[Any] = []
    probes: list[Any] = []
    seen: set[int] = set()
    for name, m in owner_modules(model):
        own = [w for w in row_weights(m) if w.requires_grad and id(w) not in seen]
        if not own:
            continue
        seen |= {id(w) for w in own}
        after = following.get(id(m))
        activation_after = after is not None and not list(after.parameters(recurse=False)) \
            and not list(m.children())
        weights += own
        rows_of += [len(names)] * len(own)
        names.append(name)
        layer_modules.append(m)
        probes.append(after if activation_after else m)
    if not weights:
        raise InputError(f"--model {spec}: no layer with a trainable weight to watch")
    return Network(model, names, weights, layer_modules, probes, tensor_rows=rows_of)


def faster_threads(torch: Any, model: Any, xb: Any, rounds: int = 3) -> int:
    """torch's thread count, or one thread where that runs this model's forward pass on a batch faster, measured
    once on this machine (eval mode, no gradient: no running statistics, dropout or random numbers touched).
    On a shared CPU extra threads can wait on each other: measured here, a busy 2-core machine trained depth 10,
    width 256, batch 64 2.4× slower on torch's two threads than on one; an idle one 1.5× faster (docs/train.md)."""
    default = torch.get_num_threads()
    if default <= 1:
        return default
    was_training = model.training
    model.eval()
    best = {1: math.inf, default: math.inf}
    try:
        with torch.no_grad():
            model(xb)  # warm-up: first-call allocations
            for _ in range(rounds):
                for n in (1, default):
                    torch.set_num_threads(n)
                    start = time.perf_counter()
                    model(xb)
                    best[n] = min(best[n], time.perf_counter() - start)
    finally:
        torch.set_num_threads(default)
        model.train(was_training)
    return 1 if best[1] < best[default] else default


def _check_output(torch: Any, net: Network, x: Any, classes: int, config: TrainConfig, n_train: int) -> Network:
    """One pass on two test examples, in eval mode (no running statistics moved, no random number drawn): the
    user's error in one line, the logits' shape checked. A model returning a dict or tuple (a Hugging Face
    style output) trains on its --output KEY, by default its first tensor, as `vanish --model` reads it."""
    from dlcli.probe.kinds import select_output
    from dlcli.train.loop import check_last_batch, loss_function, one_value_norms

    training = net.model.training
    try:
        net.model.eval()
        with torch.no_grad():
            out, norms = one_value_norms(torch, net.model, lambda: net.model(x[:2]))
    except Exception as exc:
        from dlcli.probe.loader import user_error

        raise user_error(exc, f"the model on inputs of shape {tuple(x.shape[1:])}") from None
    finally:
        net.model.train(training)
    logits, where = select_output(out, config.output)
    if logits.ndim != 2 or logits.shape[1] != classes:
        raise InputError(f"{where} has shape {tuple(logits.shape)} for {count(len(x[:2]), 'example')}; the data "
                         f"has {count(classes, 'class', 'classes')}, so it should be ({len(x[:2])}, {classes})")
    check_last_batch(norms, n_train, config.batch)
    if isinstance(out, torch.Tensor):
        return net
    loss = loss_function(torch, config, classes)
    key = config.output
    return replace(net, loss_fn=lambda out, y: loss(select_output(out, key)[0], y),
                   count_correct=lambda out, y: (select_output(out, key)[0].argmax(dim=1) == y).sum())


def _check_memory(torch: Any, config: TrainConfig, data: Prepared, device: Any, dtype: Any,
                  net: Network | None = None) -> None:
    """Refuse a run that will not fit (dlcli.train.memory): a built stack before it is built (`net` None), the
    user's model once it is, from a probe pass on two examples."""
    from dlcli.train import memory

    have, where = (torch.cuda.mem_get_info(device)[0], "GPU memory") if device.type == "cuda" else (None, "memory")
    if net is None and config.built:
        memory.check_stack(config, data, have, where)
    elif net is not None and not config.built:
        probe = torch.from_numpy(data.x_train[:2]).to(device=device, dtype=dtype)
        memory.check_model(torch, config, data, net.model, probe, have, where)
