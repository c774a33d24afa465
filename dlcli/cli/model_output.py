"""`dlcli vanish --model`: load the user's module, weights and data, run dlcli.vanish.analyse_module, render it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlcli.cli import render
from dlcli.cli.render import Format
from dlcli.errors import InputError

if TYPE_CHECKING:
    from dlcli.vanish.module_report import ModuleResult

# Options of the built stacks that mean nothing for --model (and the reverse).
STACK_ONLY = ("act", "depth", "width", "layers", "param", "bias_std", "engine")
MODEL_ONLY = ("model_arg", "weights", "data", "input_shape", "output", "eval_mode")
COLUMNS = ["layer", "name", "type", "width", "weight_grad_norm", "weight_norm", "grad_rms", "act_mean", "act_std",
           "saturated_frac", "dead_frac", "activation", "gradient", "predicted_factor", "measured_factor"]


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
    flag = lambda n: "--" + n.replace("_", "-")  # noqa: E731
    if model is None:
        extra = [flag(n) for n in MODEL_ONLY if n in given]
        if extra:
            raise InputError(f"{', '.join(extra)} need(s) --model PATH.py:NAME")
        return
    extra = [flag(n) for n in STACK_ONLY if n in given]
    if extra:
        raise InputError(f"{', '.join(extra)}: options of the built stacks; --model analyses your module as it is")


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise InputError(f"--input-shape expects D or C,H,W (positive integers), got '{text}'") from None
    if not shape or min(shape) < 1:
        raise InputError(f"--input-shape expects D or C,H,W (positive integers), got '{text}'")
    return shape


def run_model(opts: ModelOptions, fmt: Format, chart: bool, progress: Any) -> None:
    """Everything `vanish --model` does after parsing: load, check, measure, render."""
    result = analyse(opts, progress)
    progress.clear()
    show(result, fmt, chart)


def analyse(opts: ModelOptions, progress: Any = None) -> ModuleResult:
    try:
        import torch
    except ImportError:
        raise InputError("--model needs PyTorch (pip install 'dlcli[torch]')") from None
    from dlcli.models import load_model, load_weights, parse_model_args
    from dlcli.vanish.memory import check_memory, estimate_module_bytes
    from dlcli.vanish.module_inputs import MODULE_INITS, MODULE_LOSSES, standard_inputs
    from dlcli.vanish.module_report import analyse_module
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
    if opts.gain is not None and not (math.isfinite(opts.gain) and opts.gain > 0):
        raise InputError(f"--gain must be a positive number, got {opts.gain:g}")
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
    dataset = None
    if opts.data:
        from dlcli.data import load_dataset

        dataset = load_dataset(opts.data)

    torch.manual_seed(seed)  # the model's own initialisation (and dropout) repeat with --seed
    model = load_model(opts.model, parse_model_args(opts.model_arg))
    if opts.dtype is not None:
        model = model.to(torch_dtype(torch, opts.dtype))
    if opts.weights:
        load_weights(model, opts.weights)
    import numpy as np

    y = None
    if dataset is not None:
        n = min(opts.batch, len(dataset.x))
        if n < opts.batch:
            render.message(f"vanish: --batch {opts.batch}: {dataset.name} has {n} examples; using all of them")
        x = dataset.x[:n]
        if shape is not None:
            if int(np.prod(shape)) != int(np.prod(x.shape[1:])):
                raise InputError(f"--input-shape {','.join(map(str, shape))} holds {int(np.prod(shape))} values; "
                                 f"{dataset.name}'s examples hold {int(np.prod(x.shape[1:]))} {tuple(x.shape[1:])}")
            x = x.reshape((n, *shape))
        y = None if dataset.y is None else dataset.y[:n]
        data = f"{dataset.name} (first {n})"
    else:
        if shape is None:
            shape = infer_shape(torch, model, opts.model)
        check_memory(None, need=4 * opts.batch * int(np.prod(shape)) * 8, advice="lower --batch")
        x = standard_inputs(seed, opts.batch, shape)
        data = "standard normal"
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    item = next((p.element_size() for p in model.parameters()), 4)
    need = 3 * params + 4 * x.size * max(item, 8)  # weights, gradients, a copy for re-initialisation; the batch
    check_memory(None, need=need, advice="lower --batch")
    model = model.to(device)
    first = next(iter(model.parameters()), None)
    probe = torch.from_numpy(np.ascontiguousarray(x[:2]))
    if first is not None and probe.is_floating_point():
        probe = probe.to(device=device, dtype=first.dtype)
    need = estimate_module_bytes(torch, model, probe, len(x), copies=1 if init == "keep" else 2)
    have = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else None
    check_memory(None, need=need, have=have,
                 where="GPU memory" if device.type == "cuda" else "memory",
                 advice="lower --batch (the activations autograd keeps grow with it)")
    return analyse_module(model, x, y, opts.loss, seed=seed, init=init, gain=opts.gain, eval_mode=opts.eval_mode,
                          output=opts.output, progress=progress, label=opts.model, data=data)


def infer_shape(torch: Any, model: Any, spec: str) -> tuple[int, ...]:
    """(in_features,) where the model's first weighted module is a Linear; otherwise ask for --input-shape."""
    from dlcli.vanish.module_kinds import weighted_modules

    rows = weighted_modules(model)
    if rows and isinstance(rows[0][1], torch.nn.Linear):
        return (int(rows[0][1].in_features),)
    first = f"its first layer is {rows[0][0]} ({type(rows[0][1]).__name__})" if rows else "it has no layer"
    raise InputError(f"--model {spec}: give --input-shape D or C,H,W (per example): {first}, "
                     "which does not tell the input's shape")


# --- output --------------------------------------------------------------------------------------

def _values(s: Any) -> list[Any]:
    t = s.theory
    return [s.layer, s.name, s.type, s.width, s.weight_grad_norm, s.weight_norm, s.grad_rms, s.act_mean, s.act_std,
            s.saturated_frac, s.dead_frac, s.activation, s.gradient, t.predicted_factor, t.measured_factor]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    return render.fmt_float(v) if isinstance(v, float) else str(v)


def show(r: ModuleResult, fmt: Format, chart: bool) -> None:
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
        lines += [f"# {line}" for line in r.explanation]
        render.write_plain(lines)
        return
    _table(r, chart)


def config_line(r: ModuleResult) -> str:
    c = r.config
    init = "weights as loaded" if c.init == "keep" else f"init {c.init} (gain {c.gain:.4g})"
    return (f"{c.model}: input {c.data} {'×'.join(map(str, c.input_shape))}, batch {c.batch}, loss {c.loss} of "
            f"{c.output}, {init}, {c.dtype}/{c.device}, {c.mode} mode, seed {c.seed}")


def _table(r: ModuleResult, chart: bool) -> None:
    from rich.text import Text

    s = render.fmt_short
    out = render.console()
    out.print(Text(config_line(r), style="bold"))
    table = render.make_table("module", ">‖∂W‖", ">grad_rms", ">×theory", ">×meas.", ">act std", ">sat.", ">dead")
    for st in r.layers:
        t = st.theory
        grad = {"frozen": "frozen", "unused": "unused", "detached": "detached"}.get(st.gradient)
        name = f"{st.name} {st.type}" + (f"→{st.activation}" if st.activation else "")
        table.add_row(name, grad or s(st.weight_grad_norm or 0.0, 4), "" if st.grad_rms is None else s(st.grad_rms, 4),
                      s(t.predicted_factor, 3) if t.applies else "", s(t.measured_factor, 3) if t.applies else "",
                      "" if st.act_std is None else s(st.act_std, 4),
                      "" if st.saturated_frac is None else f"{st.saturated_frac:.0%}",
                      "" if st.dead_frac is None else f"{st.dead_frac:.0%}")
    for column in table.columns[1:]:  # numbers are never cut: the module names wrap instead
        column.no_wrap = True
    table.columns[0].overflow = "fold"
    render.print_renderable(table)
    rms = [(i, st.grad_rms) for i, st in enumerate(r.layers, start=1) if st.grad_rms]
    if chart and len(rms) > 2:
        import numpy as np

        from dlcli.charts import canvas
        from dlcli.cli.plot import print_chart

        x = np.array([i for i, _ in rms], dtype=float)
        series = [canvas.Series("measured", x, np.array([g for _, g in rms]))]
        print_chart(canvas.Chart(series, title="grad_rms per module (log scale; 1 = input side)", x_label="module",
                                 x_range=(1.0, float(len(r.layers))), log_y=True), 64, 12)
    colour = {"vanishing": "yellow", "exploding": "red", "healthy": "green"}[r.verdict]
    head = Text()
    head.append(f"{r.config.model}: ", style="bold")
    head.append(r.verdict.upper(), style=f"bold {colour}")
    between = f" ({r.ratio_between[0]} ‖∂W‖ / {r.ratio_between[1]} ‖∂W‖)" if r.ratio_between else ""
    head.append(f"  gradient_ratio {s(r.gradient_ratio, 4)}{between}")
    out.print(head)
    for line in r.explanation[1:]:
        out.print(Text(f"  {line}"))
    out.print(Text("  ×theory/×meas.: grad_rms here over grad_rms of the next layer, mean-field's prediction and "
                   "the measurement; blank where it does not apply (--format json says why)."))
