"""`dlcli train`: train a network on a data set and watch, per layer and epoch, how fast each layer learns."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlcli.cli import render
from dlcli.cli.options import FormatOpt, complete_activation, draw_seed, parse_params, seed_option
from dlcli.errors import InputError

if TYPE_CHECKING:
    from dlcli.train.result import EpochRecord

app = typer.Typer(help="Train a network and watch each layer learn.", add_completion=False)


def _complete_acts(incomplete: str) -> list[str]:
    head, _, last = incomplete.rpartition(",")
    prefix = head + "," if head else ""
    return [prefix + n for n in complete_activation(last)]


def _layers(text: str) -> list[int]:
    try:
        return [int(item.strip()) for item in text.split(",")]
    except ValueError:
        raise InputError(f"--layers expects comma-separated integers like 64,128,10, got '{text}'") from None


HELP = ("Train a built stack (the seeded weights of `vanish`, with a linear head) or your model on a data set, and "
        "record per epoch and layer how far each layer's weights moved: the notes' claim that layers near the input "
        "of a deep sigmoid stack train very slowly, measured.")


@app.command(help=HELP)
def train(
    act: Annotated[str | None, typer.Option("--act", "-a", help="Activation of the built stack, or several "
                                            "comma-separated (one run each) \\[default: relu].",
                                            autocompletion=_complete_acts)] = None,
    depth: Annotated[int | None, typer.Option("--depth", "-d", help="Hidden layers \\[default: 10].")] = None,
    width: Annotated[int | None, typer.Option("--width", "-w", help="Units per hidden layer \\[default: 64].")] = None,
    layers: Annotated[str | None, typer.Option(help="Explicit widths: inputs, hidden..., classes, e.g. 64,128,10 "
                                               "(the last layer is the linear head).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Activation parameter key=value "
                                                    "(repeatable).")] = None,
    init: Annotated[str, typer.Option(help="kaiming (N(0, 2/fan_in): relu keeps its gradient's size), default "
                                      "(nn.Linear's), xavier, lecun, orthogonal or normal (as in vanish).")
                    ] = "kaiming",
    gain: Annotated[float | None, typer.Option(help="Weight scale \\[default: the init's own].")] = None,
    bias_std: Annotated[float | None, typer.Option(help="Biases ~ N(0, S²) \\[default: the init's own].")] = None,
    model: Annotated[str | None, typer.Option(help="Your model instead: PATH.py:NAME, package.module:NAME or "
                                              "torchvision:NAME.")] = None,
    model_arg: Annotated[list[str] | None, typer.Option("--model-arg", help="key=value passed to the model's "
                                                        "constructor (repeatable).")] = None,
    weights: Annotated[str | None, typer.Option(help="A state_dict checkpoint to start --model from.")] = None,
    data: Annotated[str, typer.Option(help="digits (scikit-learn's 8×8 digits) or FILE.npz with x, y and "
                                      "optionally x_test, y_test; for --model also arrays named after its forward's "
                                      "parameters (input_ids, attention_mask, ...) with y or labels.")] = "digits",
    test_split: Annotated[float, typer.Option(help="Share held out for testing, stratified and seeded, when the "
                                              "data has no test arrays.")] = 0.2,
    standardize: Annotated[bool, typer.Option("--standardize/--no-standardize", help="Centre and scale each "
                                              "feature by the training split's mean and std.")] = True,
    epochs: Annotated[int, typer.Option("--epochs", "-e", help="Passes over the training set.")] = 20,
    batch: Annotated[str, typer.Option("--batch", "-b", help="Examples per step, or 'full' (one step per epoch "
                                       "on the whole training set).")] = "64",
    optimizer: Annotated[str, typer.Option(help="sgd, momentum (SGD with momentum 0.9) or adam.")] = "sgd",
    lr: Annotated[float | None, typer.Option(help="Learning rate \\[default: 0.1 sgd, 0.01 momentum, 0.001 adam]."
                                             )] = None,
    weight_decay: Annotated[float, typer.Option(help="L2 weight decay.")] = 0.0,
    loss: Annotated[str | None, typer.Option(help="cross_entropy (also per token: (B, T, C) logits, (B, T) labels), "
                                             "mse (against one-hot targets) or, with --model, model (its own loss, "
                                             "labels passed as labels=) \\[default: model where --model's forward "
                                             "takes labels and the data has them, else cross_entropy].")] = None,
    input_shape: Annotated[str | None, typer.Option("--input-shape", help="With --model: one example's shape, D or "
                                                    "C,H,W, x reshaped to it.")] = None,
    output: Annotated[str | None, typer.Option(help="With --model returning a dict or tuple: the key or index the "
                                               "loss is taken of \\[default: its first tensor].")] = None,
    seed: Annotated[int | None, seed_option("Seed of the weights, the split and the batch order")] = None,
    dtype: Annotated[str, typer.Option(help="float64 or float32.")] = "float64",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    fmt: FormatOpt = None,
    svg: Annotated[str | None, typer.Option(help="Also save the curves and heat maps as one SVG file ('-': the "
                                            "SVG on stdout instead of the data).")] = None,
    chart: Annotated[bool, typer.Option(help="Draw the curves and heat maps (table format).")] = True,
    log: Annotated[str | None, typer.Option(help="Also record the run, as dlcli.watch does, into this run store "
                                            "(a new SQLite file; `dlcli report FILE` reads it).")] = None,
    log_every: Annotated[int | None, typer.Option(help="With --log: sample every N steps \\[default: about 100 "
                                                  "samples over the run].")] = None,
) -> None:
    """Train and show how each layer learned (the help is HELP: one paragraph, no hard line breaks)."""
    from dlcli.cli.train_output import show
    from dlcli.train.config import make_train_config
    from dlcli.train.run import train as run_training

    if model is not None and act is not None:
        raise InputError("--act builds a stack; --model brings its own: give one of them")
    names = [n.strip() for n in (act or "relu").split(",") if n.strip()]
    if not names:
        raise InputError("--act needs at least one activation name")
    if model is not None:
        names = [None]  # type: ignore[list-item]
    widths = _layers(layers) if layers is not None else None
    model_args = None
    if model_arg:
        from dlcli.probe.loader import parse_model_args

        model_args = parse_model_args(model_arg)
    params = parse_params(param)
    seed = draw_seed(seed)
    configs = [make_train_config(name, depth=depth, width=width, layers=widths, params=dict(params) if name else None,
                                 init=init, gain=gain, bias_std=bias_std, model=model, model_args=model_args,
                                 weights=weights, data=data, test_split=test_split, standardize=standardize,
                                 epochs=epochs, batch=batch, optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                                 loss=loss, seed=seed, dtype=dtype, device=device, input_shape=input_shape,
                                 output=output) for name in names]
    if log is not None and len(configs) > 1:
        raise InputError("--log records one run: give one --act")
    if log_every is not None and log is None:
        raise InputError("--log-every goes with --log")
    if log_every is not None and log_every < 1:
        raise InputError(f"--log-every must be at least 1, got {log_every}")
    if log is not None:
        _check_log(log)
    render.check_dash("--svg", svg, fmt)
    fmt = render.resolve_format(fmt)
    from dlcli.train.run import load_training_data

    dataset = load_training_data(configs[0])
    progress = EpochReporter()
    results = []
    try:
        for config in configs:
            progress.label = config.activation or str(config.model)
            results.append(run_training(config, dataset, progress, log=log, log_every=log_every))
    finally:
        progress.close()
    show(results, fmt, chart, svg)
    diverged = [r for r in results if r.divergence is not None]
    if diverged:
        for r in diverged:
            assert r.divergence is not None
            render.error_line(f"{r.config.activation or r.config.model}: {r.divergence.message(r.config.lr)}")
        raise typer.Exit(1)


def _check_log(path: str) -> None:
    """Before training: the run store must be a new file (a run is never written over another)."""
    import os

    if path == "-":
        raise InputError("--log needs a file: a run store is an SQLite database, not a stream")
    if os.path.isdir(path):
        raise InputError(f"--log {path} is a directory: give the run store a file name")
    if os.path.lexists(path):
        raise InputError(f"--log {path} already exists: give each run its own file")


class EpochReporter:
    """Epoch, loss and accuracy on stderr as a transient bar, on a terminal only, once a run has taken a
    second (piped or logged output stays exactly the data)."""

    DELAY = 1.0

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.label = ""
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, record: EpochRecord, total: int) -> None:
        if time.monotonic() - self.start < self.DELAY or not _isatty(sys.stderr):
            return
        text = (f"{self.label} epoch {record.epoch}/{total}  loss {record.train_loss:.4g}  "
                f"test accuracy {record.test_accuracy:.3f}")
        if self.bar is None:
            from rich.progress import Progress

            self.bar = Progress(console=render.console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(text, total=total)
        self.bar.update(self.task, description=text, completed=record.epoch, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
