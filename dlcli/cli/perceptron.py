"""`dlcli perceptron ...`: train a perceptron (or an MLP) on a Boolean function; count threshold functions."""

from __future__ import annotations

import secrets
import sys
from fractions import Fraction
from typing import TYPE_CHECKING, Annotated

import typer

from dlcli import boolean
from dlcli.boolean import BooleanFunction
from dlcli.cli import render
from dlcli.cli.render import Format
from dlcli.errors import InputError

if TYPE_CHECKING:
    from dlcli.census import Census
    from dlcli.perceptron import Epoch, TrainResult, Verdict

app = typer.Typer(help="The perceptron: Boolean functions, the learning rule, exact separability, and XOR.",
                  no_args_is_help=True, add_completion=False)

HISTORY_HEAD = 12  # epochs shown at each end of a long training table
MAX_TABLE_ROWS = 32  # truth tables longer than this show only wrong rows
FnOpt = Annotated[str, typer.Option(
    "--fn", help=f"A name ({', '.join(boolean.FUNCTION_NAMES)}) or a truth table such as 0110 "
    "(character i = output for the row spelling i in binary, first input most significant).")]
InputsOpt = Annotated[int | None, typer.Option(
    "--inputs", "-n", help="Inputs for a named n-ary function \\[default: 2].")]
FormatOpt = Annotated[Format | None, typer.Option(
    "--format", "-f", help="Output format \\[default: table on a terminal, plain when piped].")]


def _show(value: Fraction | float) -> str:
    """A weight for people: an integer, a short exact decimal, or a fraction a/b."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        rest, places = value.denominator, 0
        while rest % 10 == 0 or rest % 2 == 0 or rest % 5 == 0:  # 2^a·5^b needs max(a, b) places
            rest //= 10 if rest % 10 == 0 else 2 if rest % 2 == 0 else 5
            places += 1
        if rest == 1 and places <= 8:  # a short terminating decimal: print it exactly
            scaled = abs(value.numerator) * 10**places // value.denominator
            sign = "-" if value < 0 else ""
            return f"{sign}{scaled // 10**places}.{scaled % 10**places:0{places}d}".rstrip("0")
        return f"{value.numerator}/{value.denominator}"
    return render.fmt_short(value, 4)


def function_title(fn: BooleanFunction) -> str:
    """'xor (2 inputs, truth table 0110)'; long tables are not repeated in full."""
    plural = "s" if fn.inputs > 1 else ""
    table = f"truth table {fn.table}" if len(fn.table) <= MAX_TABLE_ROWS else f"a {len(fn.table)}-row truth table"
    name = "a function" if fn.name == fn.table and len(fn.table) > MAX_TABLE_ROWS else fn.name
    return f"{name} ({fn.inputs} input{plural}, {table})"


def vector_text(values) -> str:
    return "(" + ", ".join(_show(v) for v in values) + ")"


HiddenOpt = Annotated[int | None, typer.Option(
    "--hidden", help="Train a multi-layer perceptron with this many hidden units (backpropagation).")]
ActOpt = Annotated[str | None, typer.Option(
    "--act", help="Hidden-unit activation from the registry (with --hidden) \\[default: tanh].")]
ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="Activation parameter as key=value (repeatable, with --hidden).")]
EpochsOpt = Annotated[int | None, typer.Option(
    "--epochs", help="Epoch cap \\[default: 1000; with --hidden 5000 per attempt].")]
InitOpt = Annotated[str, typer.Option(
    "--init", help="Initial weights: zero, or random (uniform on [-1, 1] in steps of 0.01).")]
ShuffleOpt = Annotated[bool, typer.Option("--shuffle", help="New random row order each epoch.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed for random choices (shown).")]
PlotOpt = Annotated[bool, typer.Option("--plot/--no-plot", help="Draw the picture or loss curve (tables).")]


@app.command()
def train(
    fn: FnOpt,
    inputs: InputsOpt = None,
    hidden: HiddenOpt = None,
    act: ActOpt = None,
    param: ParamOpt = None,
    lr: Annotated[str, typer.Option("--lr", help="Learning rate (exact: 0.1 means 1/10).")] = "1",
    epochs: EpochsOpt = None,
    init: InitOpt = "zero",
    shuffle: ShuffleOpt = False,
    seed: SeedOpt = None,
    plot: PlotOpt = True,
    fmt: FormatOpt = None,
) -> None:
    """Train on a Boolean function; give the exact verdict: weights that work, or a proof that none do."""
    function = boolean.parse_spec(fn, inputs)
    fmt = render.resolve_format(fmt)
    if hidden is not None:
        if shuffle or init != "zero":
            raise InputError("--shuffle and --init belong to the single-layer perceptron; drop them with --hidden")
        from dlcli.cli.perceptron_mlp import train_network

        train_network(function, hidden, act or "tanh", param, lr, epochs, seed, plot, fmt)
        return
    if act is not None or param:
        raise InputError("--act and --param choose the hidden units' activation; they need --hidden H")
    from dlcli import perceptron

    if (shuffle or init == "random") and seed is None:
        seed = secrets.randbelow(2**31)
        render.message(f"seed: {seed}")
    progress = ProgressLine()
    result = perceptron.train(function, perceptron.parse_rate(lr), epochs or 1000, init, shuffle, seed,
                              progress=progress.epoch)
    progress.clear()
    if fmt is Format.json:
        render.write_json(_single_json(result))
    elif fmt is Format.csv:
        names = [f"w{i + 1}" for i in range(function.inputs)]
        rows = ([e.epoch, e.mistakes, *map(float, e.weights), float(e.bias)] for e in result.history)
        render.write_csv(["epoch", "mistakes", *names, "bias"], rows)
    elif fmt is Format.plain:
        data = _single_json(result)
        data["certificate"] = data["certificate"]["text"]
        render.write_plain(f"{k}\t{plain_value(v)}" for k, v in data.items() if k != "history")
    else:
        _single_story(result, plot)


class ProgressLine:
    """A transient progress line for long runs, on stderr and only when that is a terminal."""

    def __init__(self) -> None:
        self.enabled = render.colour_allowed(sys.stderr)
        self.shown = False

    def update(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r{text}\x1b[K")
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False

    def epoch(self, epoch: Epoch) -> None:
        if epoch.epoch % 200 == 0:
            self.update(f"epoch {epoch.epoch}: {epoch.mistakes} mistakes")


def plain_value(value) -> str:
    if isinstance(value, float):
        return render.fmt_float(value)
    if isinstance(value, list):
        return " ".join(plain_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "-" if value is None else str(value)


def certificate_json(verdict: Verdict, table: str, cycle: tuple[int, int] | None) -> dict:
    """The exact verdict as JSON: integer separating weights, or the hull coefficients (and any cycle)."""
    if verdict.separable:
        terms = " ".join(f"{'+' if w >= 0 else '-'} {abs(w)}·x{i + 1}" for i, w in enumerate(verdict.weights))
        bias = f"{'+' if verdict.bias >= 0 else '-'} {abs(verdict.bias)}"
        return {"kind": "separating_weights", "weights": list(verdict.weights), "bias": verdict.bias,
                "text": f"step({terms.lstrip('+ ')} {bias}) reproduces {table}"}
    hull = verdict.hull
    assert hull is not None
    return {
        "kind": "convex_hulls_meet",
        "ones": [{"row": row, "coefficient": str(c)} for row, c in hull.ones],
        "zeros": [{"row": row, "coefficient": str(c)} for row, c in hull.zeros],
        "point": [str(v) for v in hull.point],
        "cycle": {"epoch": cycle[0], "repeated_after_epoch": cycle[1]} if cycle else None,
        "text": hull.text(),
    }


def _single_json(result: TrainResult) -> dict:
    fn = result.function
    return {
        "function": fn.name, "inputs": fn.inputs, "truth_table": fn.table,
        "separable": result.verdict.separable, "converged": result.converged, "epochs": result.epochs,
        "weights": [float(w) for w in result.weights], "bias": float(result.bias),
        "predictions": result.predictions, "accuracy": result.accuracy,
        "certificate": certificate_json(result.verdict, fn.table, result.cycle),
        "lr": float(result.lr), "init": result.init, "shuffle": result.shuffle, "seed": result.seed,
        "history": [{"epoch": e.epoch, "mistakes": e.mistakes, "weights": [float(w) for w in e.weights],
                     "bias": float(e.bias)} for e in result.history],
    }


def _single_story(result: TrainResult, plot: bool) -> None:
    fn = result.function
    order = f"shuffled rows (seed {result.seed})" if result.shuffle else "rows in fixed order"
    start = "zero" if result.init == "zero" else (
        f"random (seed {result.seed}): w = {vector_text(result.initial[0])}, b = {_show(result.initial[1])}")
    out = render.console()
    out.print(f"perceptron on {function_title(fn)}\n"
              f"O = step(w·x + b), lr {_show(result.lr)}, start {start}, {order}", highlight=False)
    names = [f"w{i + 1}" for i in range(fn.inputs)]
    table = render.make_table(">epoch", ">mistakes", *(">" + n for n in names), ">b", title="training")
    history = result.history
    shown = history if len(history) <= 2 * HISTORY_HEAD + 1 else (*history[:HISTORY_HEAD], None,
                                                                   *history[-HISTORY_HEAD:])
    for epoch in shown:
        if epoch is None:
            table.add_row("…", f"({len(history) - 2 * HISTORY_HEAD} more)", *([""] * (fn.inputs + 1)))
        else:
            table.add_row(str(epoch.epoch), str(epoch.mistakes), *map(_show, epoch.weights),
                          _show(epoch.bias))
    render.print_renderable(table)
    columns = [f"x{i + 1}" for i in range(fn.inputs)]
    wrong = sum(t != p for t, p in zip(fn.table, result.predictions, strict=True))
    brief = len(fn.table) > MAX_TABLE_ROWS  # big tables: only the rows the final weights get wrong
    title = f"truth table: the {min(wrong, MAX_TABLE_ROWS)} rows of {len(fn.table)} shown are wrong" if brief \
        else "truth table"
    rows = render.make_table(*columns, ">target", ">w·x + b", ">output", "", title=title)
    shown = 0
    for row, target, out_bit in zip(fn.rows, fn.table, result.predictions, strict=True):
        if brief and (target == out_bit or shown == MAX_TABLE_ROWS):
            continue
        shown += 1
        z = sum((w * int(x) for w, x in zip(result.weights, row, strict=True)), result.bias)
        rows.add_row(*map(str, row), target, _show(z), out_bit, "" if target == out_bit else "wrong")
    if shown or not brief:
        render.print_renderable(rows)
    if brief:
        out.print(f"{len(fn.table) - wrong} of {len(fn.table)} rows right with the final weights", highlight=False)
    if plot and fn.inputs == 2:
        from dlcli.perceptron import decision_picture

        out.print(f"the final line w·x + b = 0, w = {vector_text(result.weights)}, b = {_show(result.bias)}\n"
                  "('.' = where the unit outputs 1; digits are the targets)", highlight=False)
        render.write_plain(decision_picture(result.weights, result.bias, fn.table))
    for line in _verdict_lines(result):
        out.print(line, highlight=False)


def _verdict_lines(result: TrainResult) -> list[str]:
    verdict, fn = result.verdict, result.function
    if verdict.separable:
        if result.converged:
            return ["linearly separable: yes.",
                    f"The rule converged: epoch {result.epochs} made no mistakes.",
                    f"w = {vector_text(result.weights)}, b = {_show(result.bias)} (θ = {_show(-result.bias)}) "
                    f"reproduce {fn.table} (re-checked)."]
        return [f"linearly separable: yes (exact LP). Training stopped after {result.epochs} epochs without "
                "converging (raise --epochs); integer weights that work: "
                + certificate_json(verdict, fn.table, None)["text"] + "."]
    lines = ["linearly separable: no."]
    if result.cycle:
        first, again = result.cycle
        lines.append(f"Proof 1 (perceptron cycling): the weights after epoch {again} equal those after "
                     f"epoch {first},\nso with the rows in this fixed order the rule repeats forever; "
                     "a separable function\nwould have converged (perceptron convergence theorem).")
    else:
        last = result.history[-1].mistakes
        lines.append(f"Training stopped after {result.epochs} epochs with {last} mistakes in the last.")
    lines.append(f"Proof{' 2' if result.cycle else ''} (convex hulls meet): {verdict.hull.text()}\n"
                 "is a convex combination of 1-rows and also of 0-rows, so any w·x + b would have to be\n"
                 "≥ 0 and < 0 there at once.")
    return lines


# --- census -------------------------------------------------------------------------------------------

@app.command()
def census(
    inputs: Annotated[int, typer.Option("--inputs", "-n", help="Number of inputs N (1 to 6).")],
    list_: Annotated[bool, typer.Option(
        "--list", help="List every threshold function with integer weights (N ≤ 4).")] = False,
    method: Annotated[str, typer.Option(
        "--method", help="auto, direct (all integer weights within Muroga's bound), orbits (non-negative "
        "sorted weights + input symmetries; for N = 5, 6) or lp (exact LP per table; N ≤ 3).")] = "auto",
    fmt: FormatOpt = None,
) -> None:
    """Count the Boolean functions of N inputs one perceptron can represent (exact; OEIS A000609)."""
    from dlcli.census import OEIS_A000609
    from dlcli.census import census as count

    result = count(inputs, method, list_)
    render.message(f"method {result.method}: integer weights |w_i| ≤ {result.weight_bound} (Muroga's bound) "
                   "reach every threshold function")
    fmt = render.resolve_format(fmt)
    facts = {"inputs": result.inputs, "functions": result.functions, "separable": result.separable}
    if fmt is Format.json:
        if list_:
            facts["list"] = [{"table": r.table, "weights": list(r.weights), "bias": r.bias}
                             for r in result.realisations]
        render.write_json(facts)
    elif fmt is Format.csv:
        if list_:
            names = [f"w{i + 1}" for i in range(inputs)]
            render.write_csv(["table", *names, "bias"],
                             ([r.table, *r.weights, r.bias] for r in result.realisations))
        else:
            render.write_csv(list(facts), [list(facts.values())])
    elif fmt is Format.plain:
        if list_:
            render.write_plain(f"{r.table}\t{' '.join(map(str, r.weights))}\t{r.bias}"
                               for r in result.realisations)
        else:
            render.write_plain(f"{k}\t{v}" for k, v in facts.items())
    else:
        _census_story(result, OEIS_A000609[inputs], list_)


def _census_story(result: Census, published: int, list_: bool) -> None:
    if list_:
        title = f"the {result.separable} threshold functions of {result.inputs} inputs"
        table = render.make_table("truth table", "computes", "weights", ">bias", title=title)
        for r in result.realisations:
            table.add_row(r.table, boolean.describe(r.table), vector_text(r.weights), str(r.bias))
        render.print_renderable(table)
    table = render.make_table("inputs N", ">Boolean functions 2^(2^N)", ">one perceptron represents",
                              ">share", ">OEIS A000609", title="threshold functions (exact count)")
    table.add_row(str(result.inputs), f"{result.functions:,}", f"{result.separable:,}",
                  f"{result.separable / result.functions:.3g}", f"{published:,}")
    render.print_renderable(table)
