"""`dlcli diff A.db B.db`: what changed between two runs recorded by dlcli.watch, layer by layer and from which step;
`dlcli diff --model NET --weights A --weights B`: between two checkpoints of one model."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dlcli.cli import render
from dlcli.cli.options import (
    DataOpt,
    EvalModeOpt,
    FormatOpt,
    InputShapeOpt,
    ModelArgOpt,
    ModelOpt,
    OutputOpt,
    StandardizeOpt,
    complete_choices,
)
from dlcli.errors import InputError, RunError

app = typer.Typer(help="What changed between two runs, or two checkpoints, layer by layer.", add_completion=False)

HELP = ("What changed between two training runs recorded by dlcli.watch: both aligned by module name and sampled "
        "step, the layers whose health (gradient norm, update ratio, activation scale, dead units) differs most "
        "ranked, each with the step it differs from; the loss curves side by side and a heat map of the "
        "difference. With --model NET --weights A --weights B: two checkpoints of one model, per layer the "
        "relative weight change and each checkpoint's gradient on the same batch.")
MODEL_OPTIONS = ("model_arg", "weights", "data", "input_shape", "output", "eval_mode", "standardize", "batch", "loss",
                 "dtype", "device", "seed")
RUN_OPTIONS = ("metric", "html")
COMPLETE_METRIC = complete_choices("all", "grad_norm", "update_ratio", "act_std", "dead_frac")


@app.command(help=HELP)
def diff(
    runs: Annotated[list[str] | None, typer.Argument(metavar="A.db B.db", help="Two run stores dlcli.watch wrote.",
                                                     show_default=False)] = None,
    metric: Annotated[str, typer.Option(
        "--metric", "-m", autocompletion=COMPLETE_METRIC, help="The heat map's metric: all (each cell's largest "
        "difference), grad_norm, update_ratio, act_std or dead_frac.")] = "all",
    tolerance: Annotated[float, typer.Option(
        "--tolerance", help="Differences up to this many decades (|log10(B/A)|) count as none: float noise.")
    ] = 1e-3,
    html: Annotated[str | None, typer.Option("--html", metavar="FILE", help="Also write the diff as one "
                                             "self-contained HTML page (inline SVG and CSS, opens offline); - for "
                                             "stdout (then nothing else is printed there).")] = None,
    fmt: FormatOpt = None,
    chart: Annotated[bool, typer.Option(help="Draw the heat map and the loss curves (table and plain).")] = True,
    model: ModelOpt = None,
    model_arg: ModelArgOpt = None,
    weights: Annotated[list[str] | None, typer.Option(
        "--weights", rich_help_panel="Your own model", help="With --model, twice: the checkpoints A and B (each a "
        "state_dict, or a dict holding one under state_dict/model_state_dict/model; torch.load(weights_only=True))."
    )] = None,
    data: DataOpt = None,
    input_shape: InputShapeOpt = None,
    output: OutputOpt = None,
    eval_mode: EvalModeOpt = False,
    standardize: StandardizeOpt = True,
    batch: Annotated[int, typer.Option("--batch", "-b", rich_help_panel="Your own model",
                                       help="Examples in the batch both checkpoints read.")] = 64,
    loss: Annotated[str | None, typer.Option(
        rich_help_panel="Your own model", help="cross_entropy, mse, projection or model, as in vanish --model "
        "\\[default: model where forward takes labels and the data has them, else cross_entropy for class labels, "
        "else projection].")] = None,
    dtype: Annotated[str | None, typer.Option(rich_help_panel="Your own model", help="float64, float32 or "
                                              "bfloat16 \\[default: the model's own].")] = None,
    device: Annotated[str, typer.Option(rich_help_panel="Your own model", help="cpu or cuda.")] = "cpu",
    seed: Annotated[int | None, typer.Option(rich_help_panel="Your own model", help="Seed of the inputs, the "
                                             "model's construction and dropout \\[default: a fresh one, shown]."
                                             )] = None,
) -> None:
    """Compare two runs, or two checkpoints."""
    from dlcli.cli.diff_output import show_runs, show_weights
    from dlcli.cli.model_output import given_options

    given = given_options()
    flag = lambda n: "--" + n.replace("_", "-")  # noqa: E731
    if html == "-" and fmt is not None:
        raise InputError("--html - writes the page on stdout: leave out --format, or give --html a file name")
    if model is not None:
        if runs:
            raise InputError("give two run stores, or --model with two --weights, not both")
        extra = [flag(n) for n in RUN_OPTIONS if n in given]
        if extra:
            raise InputError(f"{', '.join(extra)}: for two run stores, not --model")
        if len(weights or []) != 2:
            raise InputError(f"--model needs --weights twice, checkpoint A then B (got {len(weights or [])})")
        result = _weights(model, model_arg, weights or [], data, batch, input_shape, loss, dtype, device, seed,
                          eval_mode, output, standardize, tolerance)
        show_weights(result, render.resolve_format(fmt))
        return
    extra = [flag(n) for n in MODEL_OPTIONS if n in given]
    if extra:
        raise InputError(f"{', '.join(extra)} need(s) --model PATH.py:NAME")
    if len(runs or []) != 2:
        raise InputError(f"give two run stores, A.db B.db (got {len(runs or [])}), or --model with two --weights")
    from dlcli.diff.views import check_metric

    check_metric(metric)
    result = _load(runs or [], tolerance)
    if html is not None:
        from dlcli.diff.html import page

        render.write_file(html, page(result), "--html file")
        if html == "-":
            return
        render.message(f"saved {html}")
    show_runs(result, render.resolve_format(fmt), metric, chart)


def _load(paths: list[str], tolerance: float) -> Any:
    """The diff of two stores: bad input (not a run store, nothing in common) exits 2; a failed read exits 1."""
    import sqlite3

    from dlcli.diff.runs import load_diff

    try:
        return load_diff(paths[0], paths[1], tolerance)
    except sqlite3.Error as exc:
        raise RunError(f"cannot read the run stores: {exc}") from None


def _weights(model: str, model_arg: list[str] | None, weights: list[str], data: str | None, batch: int,
             input_shape: str | None, loss: str | None, dtype: str | None, device: str, seed: int | None,
             eval_mode: bool, output: str | None, standardize: bool, tolerance: float) -> Any:
    from dlcli.diff.weights import diff_weights
    from dlcli.probe.run import ModelOptions

    if seed is None:
        import secrets

        seed = secrets.randbelow(2**32)
    opts = ModelOptions(model, model_arg, None, data, batch, input_shape, loss, dtype, device, seed, None, None,
                        eval_mode, output, standardize)
    progress = render.Progress()
    result = diff_weights(opts, weights[0], weights[1], tolerance, progress,
                          say=lambda line: render.message(f"diff: {line}"))
    progress.clear()
    return result
