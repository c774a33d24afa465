"""`dlcli activations ...`: list, show, eval, plot and check the registry's activation functions."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer

from dlcli import activations as registry
from dlcli import numio
from dlcli.activations import Activation
from dlcli.activations.properties import evaluate
from dlcli.cli import render
from dlcli.cli.options import FormatOpt, complete_activation, parse_params
from dlcli.cli.render import Format
from dlcli.errors import InputError, RunError

if TYPE_CHECKING:
    from dlcli.charts import canvas

app = typer.Typer(help="Activation functions: values, exact derivatives, properties and plots.", no_args_is_help=True,
                  add_completion=False)

DEFAULT_PLOT = ["sigmoid", "tanh", "relu"]  # on [-3, 3] each shape shows, also as markers without colour


NameArg = Annotated[str, typer.Argument(help="Activation name or alias, or a formula in x.",
                                         autocompletion=complete_activation)]
ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="Parameter as key=value (repeatable), e.g. -p alpha=0.1.")
]


# --- list ----------------------------------------------------------------------------------------

@app.command("list")
def list_(fmt: FormatOpt = None) -> None:
    """The registry as a table: name, parameters, range, f'(0), max |f'|, notes."""
    from dlcli.activations.formula import with_facts

    users = [with_facts(act) for act in registry.user_activations()]  # measured as `show` measures them
    rows = [registry.properties(act).as_row() for act in [*registry.all_activations(), *users]]
    fmt = render.resolve_format(fmt)
    if fmt is Format.json:
        render.write_json(rows)
    elif fmt is Format.csv:
        render.write_csv(
            ["name", "params", "range", "grad_at_zero", "max_abs_grad", "saturates", "notes"],
            ([r["name"], _params_text(r["params"]), r["range"], r["grad_at_zero"], r["max_abs_grad"],
              r["saturates"], r["notes"]] for r in rows),
        )
    elif fmt is Format.plain:
        render.write_plain(
            "\t".join([r["name"], _params_text(r["params"]) or "-", r["range"], render.fmt_float(r["grad_at_zero"]),
                       render.fmt_float(r["max_abs_grad"]), r["notes"]])
            for r in rows
        )
    else:
        table = render.make_table("name", "params", "range", ">f'(0)", ">max |f'|", "notes", drop=("notes",))
        for column, ratio in zip(table.columns[1:], (1, 1, None, None, 3), strict=True):
            column.ratio = ratio  # the notes take most of the width the names and numbers leave
        table.expand = True
        for r in rows:
            name = r["name"] + (f"\n({', '.join(r['aliases'])})" if r["aliases"] else "")
            name += "\n(user)" if r["user"] else ""
            table.add_row(name, _params_text(r["params"]), r["range"], render.fmt_short(r["grad_at_zero"], 4),
                          render.fmt_short(r["max_abs_grad"], 4), r["notes"])
        render.print_renderable(table)


def _params_text(params: dict[str, float]) -> str:
    return " ".join(f"{k}={render.fmt_short(v)}" for k, v in params.items())


# --- show ----------------------------------------------------------------------------------------

@app.command()
def show(
    name: NameArg,
    param: ParamOpt = None,
    fmt: FormatOpt = None,
    width: Annotated[int, typer.Option(min=16, max=400, help="Plot width in characters.")] = 60,
    height: Annotated[int, typer.Option(min=4, max=200, help="Plot height in rows.")] = 12,
) -> None:
    """Formula, properties, and a small plot of f and f'."""
    progress = render.Progress("activations show:")
    progress.update("activations show: reading the formula")
    act = registry.get(name)
    params = act.resolve(parse_params(param))

    def report(stage: str, done: int, total: int) -> None:
        progress(stage, done, total, unit="steps")

    if act.derivative_formula:  # a formula's facts are decided from its tree or measured, at these parameters
        from dlcli.activations.formula import with_facts

        act = with_facts(act, params, report)
    props = registry.properties(act, params, report)
    progress.clear()
    facts = props.as_dict()
    fmt = render.resolve_format(fmt)
    if fmt is Format.json:
        render.write_json(facts)
        return
    if fmt in (Format.plain, Format.csv):
        if fmt is Format.csv:
            render.write_csv(["property", "value"], ([k, _fact_text(v)] for k, v in facts.items()))
        else:
            render.write_plain(f"{k}\t{_fact_text(v)}" for k, v in facts.items())
        return
    table = render.make_table("property", "value", title=f"{act.name}: {act.formula}")
    for key, value in facts.items():
        if key not in ("name", "formula"):
            table.add_row(key.replace("_", " "), _fact_text(value, short=True))
    render.print_renderable(table)
    if not act.vector:
        from dlcli.cli.plot import print_chart

        print_chart(_chart(act, params, (-5.0, 5.0), both=True, points=width * 8), width, height)


def _fact_text(value: object, short: bool = False) -> str:
    if isinstance(value, float):
        return render.fmt_short(value) if short else render.fmt_float(value)
    if isinstance(value, dict):
        return " ".join(f"{k}={render.fmt_short(v) if short else render.fmt_float(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_fact_text(v, short) for v in value) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:  # a formula's monotonicity the tree does not decide and the grid does not refute
        return "not decided"
    return str(value)


# --- eval ----------------------------------------------------------------------------------------

@app.command("eval", context_settings={"ignore_unknown_options": True})
def eval_(
    name: NameArg,
    x: Annotated[
        list[str] | None,
        typer.Argument(help="Numbers (negative ones too); none or '-' reads whitespace-separated numbers from stdin."),
    ] = None,
    param: ParamOpt = None,
    derivative: Annotated[bool, typer.Option("--derivative", "-d", help="Output f'(x) instead of f(x).")] = False,
    fmt: FormatOpt = None,
) -> None:
    """Evaluate f (or f') at the given numbers, or at numbers streamed from stdin."""
    act = registry.get(name)
    params = act.resolve(parse_params(param))
    fmt = render.resolve_format(fmt)
    tokens = x or ["-"]
    from_stdin = tokens == ["-"]
    if "-" in tokens and not from_stdin:
        raise InputError("'-' (read stdin) cannot be mixed with numbers on the command line")
    if from_stdin and not act.vector and fmt in (Format.plain, Format.csv):
        _stream_eval(act, params, derivative, fmt)
        return
    if from_stdin:
        if render.is_terminal(sys.stdin):
            render.message("reading numbers from stdin (end with Ctrl-D)")
        xs = numio.parse_numbers(sys.stdin.buffer.read())
    else:
        xs = np.array([_parse_argument(t) for t in tokens], dtype=np.float64)
    if xs.size == 0:
        raise InputError("no numbers given (on the command line or stdin)")
    want_grads = fmt is not Format.plain or derivative
    if want_grads and act.vector:  # a vector activation's Jacobian has len(xs)² entries
        from dlcli.vanish.memory import check_memory

        check_memory(None, need=4 * 8 * xs.size**2,
                     advice=f"the Jacobian of {act.name} at {xs.size:,} numbers has {xs.size**2:,} entries; "
                     "ask for the values only (no -d, --format plain)")
    result = evaluate(act, xs, params, values=fmt is not Format.plain or not derivative, grads=want_grads)
    values, grads = result.value, result.derivative
    if derivative or fmt is not Format.plain:  # only where f' is shown
        _note_undefined(act, params, xs)
    if fmt is Format.json:
        render.write_json(result.as_dict())
    elif fmt is Format.plain:
        if derivative and act.vector:
            render.write_plain(" ".join(render.fmt_float(v) for v in row) for row in grads)
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(numio.format_column(grads if derivative else values))
            sys.stdout.flush()
    elif fmt is Format.csv:
        if act.vector:
            header = ["x", "value", *(f"derivative_{j + 1}" for j in range(xs.size))]
            render.write_csv(header, ([a, b, *row] for a, b, row in zip(xs.tolist(), values.tolist(), grads.tolist(),
                                                                           strict=True)))
        else:
            sys.stdout.write("x,value,derivative\n")
            sys.stdout.flush()
            sys.stdout.buffer.write(numio.format_rows([xs, values, grads]))
            sys.stdout.flush()
    else:
        _eval_table(act, params, xs, values, grads)


def _parse_argument(token: str) -> float:
    try:
        return numio.parse_number(token)
    except InputError:
        if token.startswith("-"):
            raise InputError(f"no such option: {token} (and not a number either)") from None
        raise


def _eval_table(act: Activation, params: dict[str, float], xs, values, grads) -> None:
    title = act.name + (f" ({_params_text(params)})" if params else "")
    if act.vector:
        table = render.make_table(">x", f">{act.name}(x)", *(f">∂/∂x{j + 1}" for j in range(xs.size)), title=title)
        for a, b, row in zip(xs, values, grads, strict=True):
            table.add_row(render.fmt_short(a, 10), render.fmt_short(b, 10), *(render.fmt_short(v, 6) for v in row))
    else:
        table = render.make_table(">x", ">f(x)", ">f'(x)", title=title)
        for a, b, c in zip(xs, values, grads, strict=True):
            table.add_row(render.fmt_short(a, 10), render.fmt_short(b, 10), render.fmt_short(c, 10))
    render.print_renderable(table)


def _note_undefined(act: Activation, params: dict[str, float], xs: np.ndarray) -> bool:
    points = [p for p in act.undefined_grad_at(params) if np.any(xs == p)]
    for p in points:
        shown = render.fmt_float(float(act.grad(np.array([p]), **params)[0]))
        render.message(f"note: {act.name}'(x) is undefined at x = {render.fmt_float(p)}; shown as {shown}"
                       + (" (torch's convention)" if act.torch_native else ""))
    return bool(points)


def _stream_eval(act: Activation, params: dict[str, float], derivative: bool, fmt: Format) -> None:
    from dlcli.cli.stream import stream

    fn = act.grad if derivative else act.fn
    noted = False

    def compute(xs: np.ndarray) -> np.ndarray:
        nonlocal noted
        if not noted and (derivative or fmt is Format.csv):
            noted = _note_undefined(act, params, xs)
        if fmt is Format.plain:
            return fn(xs, **params)
        return np.column_stack([xs, act.fn(xs, **params), act.grad(xs, **params)])

    if render.is_terminal(sys.stdin):
        render.message("reading numbers from stdin (end with Ctrl-D)")
    if fmt is Format.plain:
        count = stream(compute, numio.format_column)
    else:
        count = stream(compute, numio.format_table, header=b"x,value,derivative\n")
    if count == 0:
        raise InputError("no numbers on stdin")


# --- plot ----------------------------------------------------------------------------------------

def _chart(act: Activation, params: dict[str, float], x_range: tuple[float, float], *, derivative: bool = False,
           both: bool = False, points: int = 801) -> canvas.Chart:
    from dlcli.charts import canvas

    xs = np.linspace(x_range[0], x_range[1], max(points, 201))
    series = []
    value_label, slope_label = (f"{act.name}(x)", f"{act.name}'(x)") if act.name.isidentifier() else \
        (act.name, f"({act.name})'")  # a formula labels itself
    if both or not derivative:
        series.append(canvas.Series(value_label, xs, act.fn(xs, **params)))
    if both or derivative:
        series.append(canvas.Series(slope_label, xs, act.grad(xs, **params)))
    return canvas.Chart(series, x_label="x", x_range=x_range)


@app.command()
def plot(
    names: Annotated[
        list[str] | None, typer.Argument(help=f"Activations to draw \\[default: {' '.join(DEFAULT_PLOT)}].",
                                         autocompletion=complete_activation)
    ] = None,
    param: ParamOpt = None,
    derivative: Annotated[bool, typer.Option("--derivative", "-d", help="Plot f' instead of f.")] = False,
    both: Annotated[bool, typer.Option("--both", "-b", help="Plot f and f'.")] = False,
    xmin: Annotated[float, typer.Option(help="Left end of the x range.")] = -3.0,
    xmax: Annotated[float, typer.Option(help="Right end of the x range.")] = 3.0,
    width: Annotated[int, typer.Option(min=16, max=400, help="Plot width in characters.")] = 72,
    height: Annotated[int, typer.Option(min=4, max=200, help="Plot height in rows.")] = 20,
    svg: Annotated[str | None, typer.Option(help="Also save the picture as an SVG file ('-': the SVG on stdout "
                                            "instead of the chart).")] = None,
) -> None:
    """Plot one or several activations (and/or their derivatives) on one canvas in the terminal."""
    _check_range(xmin, xmax)
    acts = [registry.get(n) for n in (names or DEFAULT_PLOT)]
    given = parse_params(param)
    for act in acts:
        if act.vector:
            raise InputError(f"{act.name} acts on a whole vector; plot draws element-wise activations "
                             f"(try 'dlcli activations eval {act.name} 1 2 3')")
    if given and len(acts) > 1:
        raise InputError("--param applies to a single activation; plot one activation at a time with parameters")
    from dlcli.charts import canvas
    from dlcli.cli.plot import MAX_SERIES, print_chart

    if len(acts) * (2 if both else 1) > MAX_SERIES:
        raise InputError(f"one plot draws at most {MAX_SERIES} curves, each with its own colour and marker "
                         f"(got {len(acts) * (2 if both else 1)}); plot fewer activations at a time")
    series: list[canvas.Series] = []
    for act in acts:
        params = act.resolve(given)
        part = _chart(act, params, (xmin, xmax), derivative=derivative, both=both, points=width * 8)
        series.extend(part.series)
    what = "f and f'" if both else ("f'" if derivative else "f")
    chart = canvas.Chart(series, x_label="x", x_range=(xmin, xmax), title=f"{what} on [{xmin:g}, {xmax:g}]")
    if svg is not None:
        from dlcli.charts.svg import to_svg

        render.write_file(svg, to_svg(chart), what="--svg file")
        if svg == "-":
            return
        render.message(f"saved {svg}")
    print_chart(chart, width, height)


def _check_range(xmin: float, xmax: float) -> None:
    """--xmin < --xmax, both finite, with a width a float can hold: else one line and exit 2."""
    import math

    for name, value in (("--xmin", xmin), ("--xmax", xmax)):
        if not math.isfinite(value):
            raise InputError(f"{name} must be a finite number (got {render.fmt_float(value)})")
    if not xmin < xmax:
        raise InputError(f"--xmin ({xmin:g}) must be less than --xmax ({xmax:g})")
    if not math.isfinite(xmax - xmin) or xmax - xmin < 1e-300:
        raise InputError(f"the range [{xmin:g}, {xmax:g}] is too wide or too narrow to plot in float64")


# --- define / undefine ---------------------------------------------------------------------------

@app.command()
def define(
    name: Annotated[str, typer.Argument(help="Name for the new activation (letters, digits, _).")],
    formula: Annotated[str, typer.Argument(help="The formula in x, e.g. \"x*sigmoid(b*x)\".")],
    param: ParamOpt = None,
) -> None:
    """Keep a formula as a named activation in your config; the name then works everywhere."""
    from dlcli.activations import formula as formulas
    from dlcli.activations import user

    act = formulas.define(name, formula, parse_params(param))
    shown = f" ({_params_text(act.resolve())})" if act.params else ""
    render.message(f"defined {act.name}{shown}: {act.formula}; kept in {user.config_path()}")


@app.command()
def undefine(name: Annotated[str, typer.Argument(help="A user activation's name.")]) -> None:
    """Remove a user activation from your config."""
    from dlcli.activations import formula as formulas
    from dlcli.activations import user

    formulas.undefine(name)
    render.message(f"removed {name} from {user.config_path()}")


# --- check ---------------------------------------------------------------------------------------

@app.command()
def check(
    names: Annotated[list[str] | None, typer.Argument(help="Activations to check \\[default: all].",
                                                      autocompletion=complete_activation)] = None,
    param: ParamOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Prove every analytic derivative against torch autograd (and finite differences); exit 1 on a mismatch."""
    acts = [registry.get(n) for n in names] if names else registry.all_activations()
    given = parse_params(param)
    if given and len(acts) != 1:
        raise InputError("--param applies to a single activation; name exactly one")
    for act in acts:
        act.resolve(given)
    from dlcli.extras import missing

    try:
        from dlcli.activations.autograd_check import check as check_one

        results = [check_one(act, given) for act in acts]
    except ImportError as exc:
        if exc.name == "mpmath":
            raise missing("activations check", "mpmath to settle where dlcli and torch disagree", "torch") from None
        raise missing("activations check", "PyTorch", "torch") from None
    fmt = render.resolve_format(fmt)
    if fmt is Format.json:
        render.write_json([r.as_dict() for r in results])
    elif fmt in (Format.plain, Format.csv):
        header = ["name", "reference", "points", "value_rel_err", "grad_abs_err", "grad_rel_err", "fd_rel_err",
                  "passed", "torch_off", "note"]
        rows = [[r.name, r.reference, r.points, r.value_rel_err, r.grad_abs_err, r.grad_rel_err,
                 "" if r.fd_rel_err is None else r.fd_rel_err, "pass" if r.passed else "FAIL", r.torch_off, r.note]
                for r in results]
        if fmt is Format.csv:
            render.write_csv(header, rows)
        else:
            render.write_plain("\t".join(render.fmt_float(v) if isinstance(v, float) else str(v) for v in row)
                               for row in rows)
    else:
        table = render.make_table("activation", "reference", ">points", ">value rel err", ">f' abs err",
                                  ">f' rel err", ">fin. diff", "result")
        for r in results:
            table.add_row(r.name, r.reference, str(r.points), f"{r.value_rel_err:.1e}", f"{r.grad_abs_err:.1e}",
                          f"{r.grad_rel_err:.1e}", "" if r.fd_rel_err is None else f"{r.fd_rel_err:.1e}",
                          "pass" if r.passed else "FAIL")
        render.print_renderable(table)
    off = [r.name for r in results if r.torch_off and r.passed]
    if off and fmt is Format.table:  # plain, CSV and JSON carry the counts and the worst point in their rows
        render.message(f"note: torch's reference is off at some points for {', '.join(off)}; there dlcli agrees "
                       "with mpmath (80 digits), so they pass (--format json gives how many points and the worst)")
    failed = [r.name for r in results if not r.passed]
    if failed:
        raise RunError(f"derivative check failed for: {', '.join(failed)}")
    render.message(f"all {render.count(len(results), 'derivative')} agree with their references"
                   if len(results) > 1 else "the derivative agrees with its reference")
