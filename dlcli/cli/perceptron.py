"""`dlcli perceptron ...`: train a perceptron (or an MLP) on a Boolean function; count threshold functions."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Annotated

import typer

from dlcli.cli import render
from dlcli.cli.options import FormatOpt, SeedOpt, complete_activation_list, complete_choices, complete_from
from dlcli.cli.perceptron_output import (
    MAX_TABLE_ROWS,
    epoch_progress,
    function_title,
    plain_value,
    vector_text,
    weight_text,
)
from dlcli.cli.render import Format
from dlcli.errors import InputError
from dlcli.perceptron import boolean

if TYPE_CHECKING:
    from dlcli.perceptron.census import Census
    from dlcli.perceptron.learning import TrainResult

app = typer.Typer(help="The perceptron: Boolean functions, the learning rule, exact separability, and XOR.",
                  no_args_is_help=True, add_completion=False)

HISTORY_HEAD = 12  # epochs shown at each end of a long training table
FnOpt = Annotated[str, typer.Option(
    "--fn", autocompletion=complete_from("dlcli.perceptron.boolean", "FUNCTION_NAMES"),
    help=f"A name ({', '.join(boolean.FUNCTION_NAMES)}) or a truth table such as 0110 "
    "(character i = output for the row spelling i in binary, first input most significant).")]
InputsOpt = Annotated[int | None, typer.Option(
    "--inputs", "-n", help="Inputs for a named n-ary function \\[default: 2].")]



HiddenOpt = Annotated[int | None, typer.Option(
    "--hidden", help="Train a multi-layer perceptron with this many hidden units (backpropagation).")]
ActOpt = Annotated[str | None, typer.Option(
    "--act", autocompletion=complete_activation_list,
    help="Hidden-unit activation from the registry (with --hidden) \\[default: tanh].")]
ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="Activation parameter as key=value (repeatable, with --hidden).")]
EpochsOpt = Annotated[int | None, typer.Option(
    "--epochs", help="Epoch cap \\[default: 1000; with --hidden 5000 per attempt].")]
InitOpt = Annotated[str, typer.Option(
    "--init", autocompletion=complete_choices("zero", "random"),
    help="Initial weights: zero, or random (uniform on [-1, 1] in steps of 0.01).")]
ShuffleOpt = Annotated[bool, typer.Option("--shuffle", help="New random row order each epoch.")]
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
    lr = _check_rate(lr)
    fmt = render.resolve_format(fmt)
    if hidden is not None:
        if shuffle or init != "zero":
            raise InputError("--shuffle and --init belong to the single-layer perceptron; drop them with --hidden")
        from dlcli.cli.perceptron_mlp import train_network

        train_network(function, hidden, act or "tanh", param, lr, epochs, seed, plot, fmt)
        return
    if act is not None or param:
        raise InputError("--act and --param choose the hidden units' activation; they need --hidden H")
    from dlcli.perceptron import learning as perceptron

    if (shuffle or init == "random") and seed is None:
        seed = secrets.randbelow(2**31)
        render.message(f"seed: {seed}")
    progress = render.Progress()
    result = perceptron.train(function, perceptron.parse_rate(lr), 1000 if epochs is None else epochs, init,
                              shuffle, seed, progress=epoch_progress(progress))
    progress.clear()
    if fmt is Format.json:
        render.write_json(result.as_dict())
    elif fmt is Format.csv:
        names = [f"w{i + 1}" for i in range(function.inputs)]
        rows = ([e.epoch, e.mistakes, *map(float, e.weights), float(e.bias)] for e in result.history)
        render.write_csv(["epoch", "mistakes", *names, "bias"], rows)
    elif fmt is Format.plain:
        data = result.as_dict()
        data["certificate"] = data["certificate"]["text"]
        render.write_plain(f"{k}\t{plain_value(v)}" for k, v in data.items() if k != "history")
    else:
        _single_story(result, plot)


def _check_rate(text: str) -> str:
    """--lr as given, once it is known to be a finite positive number a float can hold."""
    import math

    from dlcli.numio import parse_number

    text = text.strip()
    value = parse_number(text, where="--lr")
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"--lr must be a finite positive number (got {text})")
    return text


def _single_story(result: TrainResult, plot: bool) -> None:
    fn = result.function
    order = f"shuffled rows (seed {result.seed})" if result.shuffle else "rows in fixed order"
    start = "zero" if result.init == "zero" else (
        f"random (seed {result.seed}): w = {vector_text(result.initial[0])}, b = {weight_text(result.initial[1])}")
    out = render.console()
    out.print(f"perceptron on {function_title(fn)}\n"
              f"O = step(w·x + b), lr {weight_text(result.lr)}, start {start}, {order}", highlight=False)
    names = [f"w{i + 1}" for i in range(fn.inputs)]
    table = render.make_table(">epoch", ">mistakes", *(">" + n for n in names), ">b", title="training")
    history = result.history
    shown = history if len(history) <= 2 * HISTORY_HEAD + 1 else (*history[:HISTORY_HEAD], None,
                                                                   *history[-HISTORY_HEAD:])
    for epoch in shown:
        if epoch is None:
            table.add_row("…", f"({len(history) - 2 * HISTORY_HEAD} more)", *([""] * (fn.inputs + 1)))
        else:
            table.add_row(str(epoch.epoch), str(epoch.mistakes), *map(weight_text, epoch.weights),
                          weight_text(epoch.bias))
    render.print_renderable(table)
    columns = [f"x{i + 1}" for i in range(fn.inputs)]
    wrong = sum(t != p for t, p in zip(fn.table, result.predictions, strict=True))
    brief = len(fn.table) > MAX_TABLE_ROWS  # big tables: only the rows the final weights get wrong
    title = (f"truth table: the {render.count(min(wrong, MAX_TABLE_ROWS), 'row')} of {len(fn.table)} shown "
             "are wrong") if brief else "truth table"
    rows = render.make_table(*columns, ">target", ">w·x + b", ">output", "", title=title)
    shown = 0
    for row, target, out_bit in zip(fn.rows, fn.table, result.predictions, strict=True):
        if brief and (target == out_bit or shown == MAX_TABLE_ROWS):
            continue
        shown += 1
        z = sum((w * int(x) for w, x in zip(result.weights, row, strict=True)), result.bias)
        rows.add_row(*map(str, row), target, weight_text(z), out_bit, "" if target == out_bit else "wrong")
    if shown or not brief:
        render.print_renderable(rows)
    if brief:
        out.print(f"{len(fn.table) - wrong} of {render.count(len(fn.table), 'row')} right with the final weights",
                  highlight=False)
    if plot and fn.inputs == 2:
        from dlcli.perceptron.learning import decision_picture

        out.print(f"the final line w·x + b = 0, w = {vector_text(result.weights)}, b = {weight_text(result.bias)}\n"
                  "('.' = where the unit outputs 1; digits are the targets)", highlight=False)
        render.write_plain(decision_picture(result.weights, result.bias, fn.table))
    for line in _verdict_lines(result):
        render.print_paragraph(out, line)


def _verdict_lines(result: TrainResult) -> list[str]:
    verdict, fn = result.verdict, result.function
    if verdict.separable:
        if result.converged:
            return ["linearly separable: yes.",
                    f"The rule converged: epoch {result.epochs} made no mistakes.",
                    f"w = {vector_text(result.weights)}, b = {weight_text(result.bias)} "
                    f"(θ = {weight_text(-result.bias)}) "
                    f"reproduce {fn.table} (re-checked)."]
        return ["linearly separable: yes (exact LP). Training stopped after "
                f"{render.count(result.epochs, 'epoch')} without "
                "converging (raise --epochs); integer weights that work: "
                + verdict.as_dict(fn.table)["text"] + "."]
    lines = ["linearly separable: no."]
    if result.cycle:
        first, again = result.cycle
        lines.append(f"Proof 1 (perceptron cycling): the weights after epoch {again} equal those after "
                     f"epoch {first}, so with the rows in this fixed order the rule repeats forever; "
                     "a separable function would have converged (perceptron convergence theorem).")
    else:
        last = result.history[-1].mistakes
        lines.append(f"Training stopped after {render.count(result.epochs, 'epoch')} with "
                     f"{render.count(last, 'mistake')} in the last.")
    lines.append(f"Proof{' 2' if result.cycle else ''} (convex hulls meet): {verdict.hull.text()} "
                 "is a convex combination of 1-rows and also of 0-rows, so any w·x + b would have to be "
                 "≥ 0 and < 0 there at once.")
    return lines


# --- census -------------------------------------------------------------------------------------------

@app.command()
def census(
    inputs: Annotated[int, typer.Option("--inputs", "-n", help="Number of inputs N (1 to 6).")],
    list_: Annotated[bool, typer.Option(
        "--list", help="List every threshold function with integer weights (N ≤ 4).")] = False,
    method: Annotated[str, typer.Option(
        "--method", autocompletion=complete_from("dlcli.perceptron.census", "METHODS"),
        help="auto, direct (all integer weights within Muroga's bound), orbits (non-negative "
        "sorted weights + input symmetries; for N = 5, 6) or lp (exact LP per table; N ≤ 3).")] = "auto",
    fmt: FormatOpt = None,
) -> None:
    """Count the Boolean functions of N inputs one perceptron can represent (exact; OEIS A000609)."""
    from dlcli.perceptron.census import OEIS_A000609
    from dlcli.perceptron.census import census as count

    progress = render.Progress("census")
    result = count(inputs, method, list_,
                   progress=lambda done, total: progress("direct", done, total, unit="weight vectors"))
    progress.clear()
    render.message(f"method {result.method}: integer weights |w_i| ≤ {result.weight_bound} (Muroga's bound) "
                   "reach every threshold function")
    fmt = render.resolve_format(fmt)
    facts = result.as_dict()
    if fmt is Format.json:
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
        title = f"the {result.separable} threshold functions of {render.count(result.inputs, 'input')}"
        table = render.make_table("truth table", "computes", "weights", ">bias", title=title)
        for r in result.realisations:
            table.add_row(r.table, boolean.describe(r.table), vector_text(r.weights), str(r.bias))
        render.print_renderable(table)
    table = render.make_table("inputs N", ">Boolean functions 2^(2^N)", ">one perceptron represents",
                              ">share", ">OEIS A000609", title="threshold functions (exact count)")
    table.add_row(str(result.inputs), f"{result.functions:,}", f"{result.separable:,}",
                  f"{result.separable / result.functions:.3g}", f"{published:,}")
    render.print_renderable(table)
