"""`dlcli vanish --model`: load the user's module, weights and data, run dlcli.probe.analyse_module, render it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlcli.cli import render
from dlcli.cli.render import Format
from dlcli.errors import InputError

if TYPE_CHECKING:
    from dlcli.probe.report import ModuleResult
    from dlcli.probe.run import ModelOptions

# Options of the built stacks that mean nothing for --model (and the reverse).
STACK_ONLY = ("act", "depth", "width", "layers", "param", "bias_std", "engine")
MODEL_ONLY = ("model_arg", "weights", "data", "input_shape", "output", "eval_mode", "standardize", "by")
BLOCK_ROWS_ABOVE = 16  # more modules than this: the table shows blocks
COLUMNS = ["layer", "name", "type", "width", "weight_grad_norm", "weight_norm", "grad_rms", "act_mean", "act_std",
           "saturated_frac", "dead_frac", "activation", "gradient", "predicted_factor", "measured_factor"]


def given_options() -> set[str]:
    """The options typed on the command line (not defaults), from the running click context."""
    try:
        from typer._click.core import ParameterSource
        from typer._click.globals import get_current_context

        ctx = get_current_context(silent=True)
    except ImportError:
        return set()
    if ctx is None:
        return set()
    return {n for n in ctx.params if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE}


def check_combination(model: str | None) -> None:
    """One line naming an option that does not go with --model (or one that needs it)."""
    given = given_options()
    flag = lambda n: "--standardize/--no-standardize" if n == "standardize" else "--" + n.replace("_", "-")  # noqa: E731
    if model is None:
        extra = [flag(n) for n in MODEL_ONLY if n in given]
        if extra:
            raise InputError(f"{', '.join(extra)} need{'s' if len(extra) == 1 else ''} --model PATH.py:NAME")
        return
    extra = [flag(n) for n in STACK_ONLY if n in given]
    if extra:
        raise InputError(f"{', '.join(extra)}: options of the built stacks; --model analyses your module as it is")


def run_model(opts: ModelOptions, fmt: Format, chart: bool, progress: Any, by: str | None = None) -> None:
    """Everything `vanish --model` does after parsing: load, check, measure, render."""
    from dlcli.probe.run import analyse_model

    if by not in (None, "block", "module"):
        raise InputError(f"--by expects block or module, got '{by}'")
    result = analyse_model(opts, progress, say=lambda line: render.message(f"vanish: {line}"))
    progress.clear()
    show(result, fmt, chart, by)


# --- output --------------------------------------------------------------------------------------

def _values(s: Any) -> list[Any]:
    t = s.theory
    return [s.layer, s.name, s.type, s.width, s.weight_grad_norm, s.weight_norm, s.grad_rms, s.act_mean, s.act_std,
            s.saturated_frac, s.dead_frac, s.activation, s.gradient, t.predicted_factor, t.measured_factor]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    return render.fmt_float(v) if isinstance(v, float) else str(v)


def show(r: ModuleResult, fmt: Format, chart: bool, by: str | None = None) -> None:
    if fmt is Format.json:
        render.write_json(r.as_dict())
        return
    if fmt is Format.csv:
        render.message(f"seed: {r.config.seed}")
        render.write_csv(COLUMNS, ([_cell(v) for v in _values(s)] for s in r.layers))
        render.message(f"{r.config.model}: {r.verdict}, gradient_ratio {render.fmt_float(r.gradient_ratio)}")
        return
    if fmt is Format.plain:
        f = render.fmt_float
        lines = ["\t".join(COLUMNS)] + ["\t".join(_cell(v) for v in _values(s)) for s in r.layers]
        lines.append(f"# {r.config.model}: verdict {r.verdict}, gradient_ratio {f(r.gradient_ratio)}, "
                     f"grad_rms_ratio {f(r.grad_rms_ratio)}, loss {r.config.loss}, {r.config.mode} mode, "
                     f"seed {r.config.seed}")
        lines += [f"# alarm {a.kind}: {', '.join(a.modules)}" for a in r.alarms]
        lines += [f"# {line}" for line in r.explanation]
        render.write_plain(lines)
        return
    blocks = (by or ("block" if len(r.layers) > BLOCK_ROWS_ABOVE else "module")) == "block" \
        and len(r.blocks) < len(r.layers)
    _table(r, chart, blocks)


def config_line(r: ModuleResult) -> str:
    c = r.config
    init = "weights as loaded" if c.init == "keep" else f"init {c.init} (gain {c.gain:.4g})"
    return (f"{c.model}: input {c.data} {'×'.join(map(str, c.input_shape))}, batch {c.batch}, loss {c.loss} of "
            f"{c.output}, {init}, {c.dtype}/{c.device}, {c.mode} mode, seed {c.seed}")


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.0%}"


def _table(r: ModuleResult, chart: bool, blocks: bool) -> None:
    from rich.text import Text

    s = render.fmt_short
    out = render.console()
    out.print(Text(config_line(r), style="bold"))
    if blocks:
        table = render.make_table("block", ">modules", ">‖∂W‖", ">‖∂W‖/‖W‖", ">sat.", ">dead")
        for b in r.blocks:
            table.add_row(b.name, str(len(b.modules)), "" if b.weight_grad_norm is None else s(b.weight_grad_norm, 4),
                          "" if b.grad_to_weight is None else s(b.grad_to_weight, 3), _pct(b.saturated_max),
                          _pct(b.dead_max))
    else:
        table = render.make_table("module", ">‖∂W‖", ">‖∂W‖/‖W‖", ">×theory", ">×meas.", ">act std", ">sat.",
                                  ">dead")
        for st in r.layers:
            t = st.theory
            grad = {"frozen": "frozen", "unused": "unused", "detached": "detached", "tied": "tied"}.get(st.gradient)
            name = f"{st.name} {st.type}" + (f"→{st.activation}" if st.activation else "")
            table.add_row(name, grad or s(st.weight_grad_norm or 0.0, 4),
                          "" if st.grad_to_weight is None or grad else s(st.grad_to_weight, 3),
                          s(t.predicted_factor, 3) if t.applies else "", s(t.measured_factor, 3) if t.applies else "",
                          "" if st.act_std is None else s(st.act_std, 4), _pct(st.saturated_frac), _pct(st.dead_frac))
    for column in table.columns[1:]:  # numbers are never cut: the module names wrap instead
        column.no_wrap = True
    table.columns[0].overflow = "fold"
    render.print_renderable(table)
    rms = [(i, st.grad_rms) for i, st in enumerate(r.layers, start=1) if st.grad_rms]
    if chart and len(rms) > 2 and not blocks:
        import numpy as np

        from dlcli.charts import canvas
        from dlcli.cli.plot import print_chart

        x = np.array([i for i, _ in rms], dtype=float)
        series = [canvas.Series("measured", x, np.array([g for _, g in rms]))]
        print_chart(canvas.Chart(series, title="grad_rms per module (log scale; 1 = input side)", x_label="module",
                                 x_range=(1.0, float(len(r.layers))), log_y=True), 64, 12)
    colour = {"vanishing": "yellow", "exploding": "red", "healthy": "green", "non-finite": "red",
              "unhealthy": "yellow"}[r.verdict]
    head = Text()
    head.append(f"{r.config.model}: ", style="bold")
    head.append(r.verdict.upper(), style=f"bold {colour}")
    between = f" ({r.ratio_between[0]} ‖∂W‖ / {r.ratio_between[1]} ‖∂W‖)" if r.ratio_between else ""
    if r.ratio_between:
        head.append(f"  gradient_ratio {s(r.gradient_ratio, 4)}{between}")
    out.print(head)
    for line in r.explanation[1:] if r.ratio_between else r.explanation:
        out.print(Text(f"  {line}"))
    out.print(Text("  ‖∂W‖/‖W‖: the weight gradient per unit of weight, compared per tensor; ×theory/×meas.: "
                   "grad_rms here over the next layer's, mean-field's prediction and the measurement; blank where "
                   "it does not apply (--format json says why)."))
