"""`dlcli vanish`: gradient flow through a stack of dense layers, measured and set beside mean-field theory."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

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
    complete_activation_list,
    complete_from,
    seed_option,
)
from dlcli.cli.render import Format
from dlcli.errors import InputError

if TYPE_CHECKING:
    from dlcli.vanish.analysis import VanishResult

app = typer.Typer(help="Gradient flow through stacked dense layers: measured, explained, set beside theory.",
                  add_completion=False)

COMPLETE_INIT = complete_from("dlcli.vanish.config", "INITS")
COMPLETE_LOSS = complete_from("dlcli.vanish.config", "LOSSES")
COMPLETE_DTYPE = complete_from("dlcli.vanish.config", "DTYPES")
COMPLETE_ENGINE = complete_from("dlcli.vanish.config", "ENGINES")
COMPLETE_DEVICE = complete_from("dlcli.vanish.config", "DEVICES")
TABLE_ROWS = 40  # longer stacks show their first and last layers in the table (all of them in other formats)


def parse_layers(text: str) -> list[int]:
    """'784,128,10' into widths; InputError naming a bad item."""
    out = []
    for item in text.split(","):
        item = item.strip()
        try:
            out.append(int(item))
        except ValueError:
            raise InputError(f"--layers expects comma-separated integers like 784,128,10, got '{text}'") from None
    return out


def parse_per_activation_params(pairs: list[str] | None, names: list[str]) -> dict[str, dict[str, str]]:
    """-p key=value (for every activation) or -p NAME:key=value (for one) into per-activation dicts."""
    from dlcli import activations
    from dlcli.cli.options import parse_params as parse_key_value

    canonical = {n: activations.get(n).name for n in names}
    out: dict[str, dict[str, str]] = {canonical[n]: {} for n in names}
    for pair in pairs or []:
        target, colon, rest = pair.partition(":")
        if not colon:
            target, rest = "", pair
        try:
            given = parse_key_value([rest], expected="key=value or NAME:key=value")
        except InputError:
            raise InputError(f"--param expects key=value or NAME:key=value, got '{pair}'") from None
        if target:
            name = activations.get(target.strip()).name
            if name not in out:
                raise InputError(f"--param {pair}: {name} is not among --act {','.join(names)}")
            out[name].update(given)
        else:
            for params in out.values():
                params.update(given)
    return out


HELP = ("Push a batch through a stack of dense layers, backpropagate once, and show how the gradient shrinks or "
        "grows from the top layer to layer 1 beside the mean-field prediction. With --model, the same report for "
        "your own nn.Module, module by module.")


@app.command(help=HELP)
def vanish(
    act: Annotated[str, typer.Option("--act", "-a", help="Activation (a name or a formula in x), or several "
                                     "comma-separated to compare.",
                                     autocompletion=complete_activation_list)] = "sigmoid",
    depth: Annotated[int | None, typer.Option("--depth", "-d", help="Number of layers L \\[default: 20].")] = None,
    width: Annotated[int | None, typer.Option("--width", "-w", help="Units per layer, input included \\[default: 256].")
                     ] = None,
    layers: Annotated[str | None, typer.Option(help="Explicit widths, input first, e.g. 784,128,10.")] = None,
    batch: Annotated[int, typer.Option("--batch", "-b", help="Examples in the batch.")] = 64,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Activation parameter key=value, or "
                                                    "NAME:key=value for one of several (repeatable).")] = None,
    init: Annotated[str | None, typer.Option(
        autocompletion=COMPLETE_INIT, help="default (nn.Linear's), xavier, kaiming, lecun, orthogonal, or "
        "normal: W ~ N(0, gain²/fan_in), b ~ N(0, bias_std²) \\[default: default; with --model: keep].")] = None,
    gain: Annotated[float | None, typer.Option(help="Weight scale \\[default: the init's own, √2 for kaiming, "
                                               "else 1].")] = None,
    bias_std: Annotated[float | None, typer.Option(help="Biases ~ N(0, S²) \\[default: nn.Linear's uniform for "
                                                   "--init default, else 0].")] = None,
    loss: Annotated[str | None, typer.Option(
        autocompletion=COMPLETE_LOSS, help="projection: Σ v·a_L with a fixed random v; mse: ½‖a_L − t‖², "
        "random targets; with --model also cross_entropy (per token for (B, T, C) logits with (B, T) labels) and "
        "model (its own loss, labels passed as labels=) \\[default: projection; with --model: model where forward "
        "takes labels and the data has them, else cross_entropy for class labels].")] = None,
    seed: Annotated[int | None, seed_option("Random seed")] = None,
    dtype: Annotated[str | None, typer.Option(
        autocompletion=COMPLETE_DTYPE, help="float64, float32 or bfloat16 (torch engine); statistics are "
        "always float64 \\[default: float64; with --model: the model's own].")] = None,
    engine: Annotated[str | None, typer.Option(
        autocompletion=COMPLETE_ENGINE, help="numpy (fast start) or torch (nn.Sequential + autograd) "
        "\\[default: torch for cuda or bfloat16, else numpy].")] = None,
    device: Annotated[str, typer.Option(
        autocompletion=COMPLETE_DEVICE, help="cpu or cuda (torch engine).")] = "cpu",
    fmt: FormatOpt = None,
    chart: Annotated[bool, typer.Option(help="Draw the gradient chart (table format).")] = True,
    # --- what fixes it: residual connections, normalisation, the Jacobian spectrum, the phase diagram ---
    residual: Annotated[bool, typer.Option("--residual", help="Skip connections: a_l = a_(l−1) + α·φ(z_l) where "
                                           "the width allows.")] = False,
    residual_scale: Annotated[float, typer.Option(help="α, the residual branch's scale.")] = 1.0,
    norm: Annotated[str, typer.Option(help="none, batch or layer: normalise z_l before φ (no affine "
                                      "parameters, ε = 1e-5).")] = "none",
    spectrum: Annotated[bool, typer.Option("--spectrum", help="Singular values of the input–output Jacobian, "
                                           "beside free probability.")] = False,
    spectrum_samples: Annotated[int, typer.Option(help="Examples whose Jacobian --spectrum decomposes.")] = 4,
    phase: Annotated[bool, typer.Option("--phase", help="The order-to-chaos phase diagram of --act over "
                                        "(σ_w², σ_b²) instead of a run.")] = False,
    svg: Annotated[str | None, typer.Option(help="With --phase: also write the diagram as SVG to this file ('-': the "
                                            "SVG on stdout instead of the data).")] = None,
    # --- your own model: vanish --model (the code path: dlcli/cli/model_output.py) ---
    model: ModelOpt = None,
    model_arg: ModelArgOpt = None,
    weights: Annotated[str | None, typer.Option(
        "--weights", rich_help_panel="Your own model", help="Checkpoint: a state_dict, or a dict holding one under "
        "state_dict/model_state_dict/model; loaded with torch.load(weights_only=True): one that would run code is "
        "refused.")] = None,
    data: DataOpt = None,
    input_shape: InputShapeOpt = None,
    output: OutputOpt = None,
    eval_mode: EvalModeOpt = False,
    standardize: StandardizeOpt = True,
    by: Annotated[str | None, typer.Option(
        "--by", rich_help_panel="Your own model", help="block or module: the table's rows per residual block / "
        "transformer layer, or per module (JSON and CSV always have both) \\[default: block when the model has "
        "more than 16 modules with parameters].")] = None,
) -> None:
    """Run the stack once forward and backward; show the gradient per layer beside mean-field theory."""
    from dlcli.cli.model_output import check_combination

    check_combination(model)
    if model is not None and (residual or norm != "none" or spectrum or phase):
        raise InputError("--residual, --norm, --spectrum and --phase go with the built stacks, not --model")
    if model is not None:
        from dlcli.cli.model_output import run_model
        from dlcli.probe.run import ModelOptions

        run_model(ModelOptions(model, model_arg, weights, data, batch, input_shape, loss, dtype, device, seed, init,
                               gain, eval_mode, output, standardize), render.resolve_format(fmt), chart,
                  render.Progress(), by)
        return
    from dlcli.activations.formula import split_names
    from dlcli.vanish.analysis import run
    from dlcli.vanish.config import make_config

    init, loss, dtype = init or "default", loss or "projection", dtype or "float64"
    names = split_names(act)  # commas inside a formula's parentheses, as in max(x, 0), do not split
    if not names:
        raise InputError("--act needs at least one activation name")
    if phase:
        show_phase(names, param, init, gain, bias_std, depth, fmt, svg)
        return
    if svg is not None:
        raise InputError("--svg goes with --phase")
    fixes = fix_options(residual, residual_scale, norm, spectrum, spectrum_samples)
    widths = parse_layers(layers) if layers is not None else None
    if widths is None:  # a huge --depth is refused before its configuration is built
        from dlcli.vanish.memory import check_memory, uniform_bytes

        check_memory(None, need=uniform_bytes(depth or 20, width or 256, batch, dtype))
    per_act = parse_per_activation_params(param, names)
    if seed is None:
        import secrets

        seed = secrets.randbelow(2**32)
    configs = [make_config(name, depth=depth, width=width, layers=widths, params=per_act[canonical_name(name)],
                           init=init, gain=gain, bias_std=bias_std, batch=batch, seed=seed, dtype=dtype,
                           engine=engine, device=device, loss=loss, **fixes) for name in names]
    fmt = render.resolve_format(fmt)
    progress = render.Progress()
    results = []
    for config in configs:
        progress.label = config.activation
        results.append(run(config, progress))
    progress.close()
    show(results, fmt, chart)


def fix_options(residual: bool, residual_scale: float, norm: str, spectrum: bool, spectrum_samples: int,
                ) -> dict[str, Any]:
    """make_config's keywords for --residual, --norm and --spectrum."""
    if spectrum and spectrum_samples < 1:
        raise InputError(f"--spectrum-samples must be at least 1, got {spectrum_samples}")
    return {"residual": residual, "residual_scale": residual_scale, "norm": norm,
            "spectrum_samples": spectrum_samples if spectrum else 0}


def show_phase(names: list[str], param: list[str] | None, init: str, gain: float | None, bias_std: float | None,
               depth: int | None, fmt: Format | None, svg: str | None) -> None:
    """`vanish --phase`: the order-to-chaos diagram, the user's (σ_w², σ_b²) marked (numpy only, no torch)."""
    from dlcli.cli import vanish_phase

    if len(names) != 1:
        raise InputError("--phase draws one activation at a time")
    params = parse_per_activation_params(param, names)[canonical_name(names[0])]
    render.check_dash("--svg", svg, fmt)
    vanish_phase.show(names[0], params, init, gain, bias_std, depth, render.resolve_format(fmt), svg)


def canonical_name(name: str) -> str:
    from dlcli import activations

    return activations.get(name).name


# --- output --------------------------------------------------------------------------------------

def show(results: list[VanishResult], fmt: Format, chart: bool) -> None:
    seed = results[0].config.seed
    if fmt is Format.json:
        docs = [r.as_dict() for r in results]
        render.write_json(docs[0] if len(docs) == 1 else docs)
        return
    if fmt is Format.csv:
        render.message(f"seed: {seed}")
        render.write_csv(["activation", *_layer_columns(), "predicted_grad_rms"],
                         ([r.config.activation, *_layer_values(s), r.predicted_grad_rms[s.layer - 1]]
                          for r in results for s in r.layers))
        for r in results:
            render.message(f"{r.config.activation}: {r.verdict}, gradient_ratio {render.fmt_float(r.gradient_ratio)}")
            for line in _fix_plain_lines(r):
                render.message(line[2:])
        return
    if fmt is Format.plain:
        render.write_plain(_plain_lines(results))
        return
    _show_table(results, chart)


def _layer_columns() -> list[str]:
    """The per-layer columns of plain and CSV output: LayerStats' fields, in order."""
    from dataclasses import fields

    from dlcli.vanish.statistics import LayerStats

    return [f.name for f in fields(LayerStats)]


def _layer_values(s: Any) -> list[Any]:
    return list(s.as_dict().values())


def _plain_lines(results: list[VanishResult]) -> list[str]:
    f = render.fmt_float
    lines = ["\t".join(["activation", *_layer_columns(), "predicted_grad_rms"])]
    for r in results:
        for s in r.layers:
            values = _layer_values(s) + [r.predicted_grad_rms[s.layer - 1]]
            lines.append("\t".join([r.config.activation, *(f(v) if isinstance(v, float) else str(v) for v in values)]))
    for r in results:
        t = r.theory
        head = f"# {r.config.activation}: verdict {r.verdict}, gradient_ratio {f(r.gradient_ratio)}, " \
            f"grad_rms_ratio {f(r.grad_rms_ratio)}, "
        if r.residual is None and r.norm is None:
            theory = (f"q_star {f(t.q_star)}, chi1 {f(t.chi1)}, per_layer_factor {f(t.per_layer_factor)}, "
                      f"predicted_ratio {f(t.predicted_ratio)}, naive_bound {f(t.naive_bound)}")
        else:  # the measured network's prediction first; the plain stack's kept for comparison, named so
            d = r.theory_dict()
            theory = (f"network {d['network']}, per_layer_factor {_plain_value(d['per_layer_factor'])}, "
                      f"predicted_ratio {_plain_value(d['predicted_ratio'])}, plain_stack_per_layer_factor "
                      f"{f(t.per_layer_factor)}, plain_stack_predicted_ratio {f(t.predicted_ratio)}")
        lines.append(f"{head}{theory}, seed {r.config.seed}")
        lines += _fix_plain_lines(r)
    return lines


def _fix_plain_lines(r: VanishResult) -> list[str]:
    """'# residual: …', '# norm: …', '# spectrum: …' lines: each option's measured and predicted numbers."""
    lines = []
    for key, values in r.fixes_dict().items():
        if not isinstance(values, dict):
            continue
        parts = [f"{k} {_plain_value(v)}" for k, v in values.items() if not isinstance(v, (list, dict))]
        lines.append(f"# {r.config.activation} {key}: " + ", ".join(parts))
    return lines


def _plain_value(v: Any) -> str:
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return "none" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
    return render.fmt_float(v)


def _short_or_none(v: Any, digits: int) -> str:
    return "none" if v is None else render.fmt_short(v, digits)


def _print_spectrum(out: Any, r: VanishResult) -> None:
    """The Jacobian's singular values as a text histogram, log-spaced bins (table format)."""
    sp = r.spectrum
    if sp is None or not sp.counts:
        return
    s = render.fmt_short
    out.print(f"  singular values of J = ∂a_L/∂a_0 ({sp.samples} examples × {r.config.widths[0]}; log-spaced bins):")
    peak = max(sp.counts) or 1
    for lo, hi, count in zip(sp.edges[:-1], sp.edges[1:], sp.counts, strict=True):
        bar = "█" * round(40 * count / peak)
        out.print(f"  {s(lo, 3):>9} – {s(hi, 3):<9} {count:>6} {bar}")
    if sp.zeros:
        out.print(f"  {'~0':>21} {sp.zeros:>6} (below 1e-12 of the largest)")


def _config_line(r: VanishResult) -> str:
    c = r.config
    shape = (f"{render.count(c.depth, 'layer')} × {render.count(c.widths[1], 'unit')}" if len(set(c.widths)) == 1
             else f"layers {','.join(map(str, c.widths))}")
    bias = "" if c.bias_std is None else f", bias std {c.bias_std:g}"
    params = "".join(f", {k}={v:g}" for k, v in c.params.items())
    fixes = (f", residual α={c.residual_scale:g}" if c.residual else "") + \
        (f", {c.norm} norm" if c.norm != "none" else "")
    return (f"{shape}{fixes}, batch {c.batch}, init {c.init} (gain {c.gain:.4g}{bias}), loss {c.loss}, {c.dtype}, "
            f"{c.engine}/{c.device}, seed {c.seed}{params}")


def _show_table(results: list[VanishResult], chart: bool) -> None:
    s = render.fmt_short
    out = render.console()
    if len(results) == 1:
        r = results[0]
        render.print_paragraph(out, f"{r.config.activation}: {_config_line(r)}", style="bold")
        table = render.make_table("layer", ">width", ">‖∂W‖", ">grad_rms", ">theory", ">act mean", ">act std",
                                  ">saturated", ">dead", drop=("width", "act mean", "act std"))
        rows = list(r.layers)
        shown = rows if len(rows) <= TABLE_ROWS else rows[: TABLE_ROWS // 2] + [None] + rows[-TABLE_ROWS // 2:]
        for st in shown:
            if st is None:
                table.add_row("…", "", "", "", "", "", "", "", "")
                continue
            table.add_row(str(st.layer), str(st.width), s(st.weight_grad_norm, 4), s(st.grad_rms, 4),
                          s(r.predicted_grad_rms[st.layer - 1], 4), s(st.act_mean, 4), s(st.act_std, 4),
                          f"{st.saturated_frac:.1%}", "–" if math.isnan(st.dead_frac) else f"{st.dead_frac:.1%}")
        render.print_renderable(table)
    else:
        render.print_paragraph(out, _config_line(results[0]).split(", seed")[0] +
                               f", seed {results[0].config.seed}", style="bold")
        fixed = results[0].residual is not None or results[0].norm is not None
        table = render.make_table("activation", ">gradient ratio", "verdict", ">grad_rms ratio",
                                  ">factor/layer" if fixed else ">√χ1", ">predicted", ">q*", ">critical gain",
                                  drop=("critical gain", "grad_rms ratio"))
        for r in results:
            t, d = r.theory, r.theory_dict()  # with --residual/--norm: that network's prediction, not the plain one
            table.add_row(r.config.activation, s(r.gradient_ratio, 3), r.verdict, s(r.grad_rms_ratio, 3),
                          _short_or_none(d["per_layer_factor"], 4), _short_or_none(d["predicted_ratio"], 3),
                          "–" if fixed else s(t.q_star, 4),
                          "–" if fixed or t.critical_gain is None else s(t.critical_gain, 4))
        render.print_renderable(table)
    if chart:
        from dlcli.cli.plot import print_chart

        print_chart(_chart(results), 64, 14)
    for r in results:
        _print_summary(out, r, single=len(results) == 1)
        if len(results) == 1:
            _print_spectrum(out, r)


def _chart(results: list[VanishResult]) -> Any:
    import numpy as np

    from dlcli.charts import canvas

    series = []
    for r in results:
        x = np.array([st.layer for st in r.layers], dtype=float)
        if len(results) == 1:  # drawn first, so that the measurement lies on top where they meet
            series.append(canvas.Series(f"{r.config.activation} theory", x, np.array(r.predicted_grad_rms)))
        series.append(canvas.Series(f"{r.config.activation} measured", x, np.array([st.grad_rms for st in r.layers])))
    depth = results[0].config.depth
    return canvas.Chart(series, title="grad_rms per layer (log scale; layer 1 = input side)", x_label="layer",
                        x_range=(1.0, float(max(depth, 2))), log_y=True)


def _print_summary(out: Any, r: VanishResult, single: bool) -> None:
    from rich.text import Text

    t = r.theory
    s = render.fmt_short
    colour = {"vanishing": "yellow", "exploding": "red", "healthy": "green", "non-finite": "red"}[r.verdict]
    head = Text()
    head.append(f"{r.config.activation}: ", style="bold")
    head.append(r.verdict.upper(), style=f"bold {colour}")
    head.append(f"  gradient_ratio {s(r.gradient_ratio, 4)} (layer 1 ‖∂W‖ / layer {r.config.depth} ‖∂W‖)")
    out.print(head)
    if single and r.residual is None and r.norm is None and r.verdict != "non-finite":  # those: their own words
        render.print_paragraph(
            out, f"theory: q* = {s(t.q_star, 5)}, χ1 = {s(t.chi1, 5)}, per-layer factor √χ1 = "
            f"{s(t.per_layer_factor, 5)}, predicted ratio {s(t.predicted_ratio, 4)}, depth scale "
            f"{s(t.depth_scale, 4)} layers, naive bound max|φ'|^(L−1) = {s(t.naive_bound, 4)}", indent=2, hang=4)
    for line in r.explanation[1:] if single else r.explanation[-1:]:
        render.print_paragraph(out, line, indent=2, hang=4)
