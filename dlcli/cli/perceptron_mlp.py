"""`dlcli perceptron train --hidden H`: the multi-layer perceptron's run, rendered (split from perceptron.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlcli.cli import render
from dlcli.cli.perceptron_output import (
    MAX_TABLE_ROWS,
    function_title,
    plain_value,
    vector_text,
)
from dlcli.cli.render import Format
from dlcli.errors import RunError
from dlcli.perceptron.boolean import BooleanFunction

if TYPE_CHECKING:
    from dlcli.perceptron.mlp import MLPResult, Restart


def train_network(function: BooleanFunction, hidden: int, act: str, param: list[str] | None, lr: str,
                  epochs: int | None, seed: int | None, plot: bool, fmt: Format) -> None:
    """`perceptron train --hidden H`: train, announce restarts and the seed, render, exit 1 if unsolved."""
    from dlcli.cli.options import parse_params
    from dlcli.numio import parse_number
    from dlcli.perceptron.learning import decide
    from dlcli.perceptron.mlp import train_mlp

    line = render.Progress()

    def report(attempt: int, epoch: int, loss: float) -> None:
        if epoch % 250 == 0:
            line.update(f"attempt {attempt}, epoch {epoch}: loss {render.fmt_short(loss, 4)}")

    def announce(restart: Restart) -> None:
        line.clear()
        render.message(f"restart: attempt {restart.attempt} gave up after {render.count(restart.epochs, 'epoch')} "
                       f"at loss "
                       f"{render.fmt_short(restart.loss, 4)} ({restart.reason}); "
                       "trying a fresh initialisation")

    result = train_mlp(function, hidden, act, parse_number(lr, "--lr"), 5000 if epochs is None else epochs, seed,
                       parse_params(param), on_restart=announce, progress=report)
    line.clear()
    if seed is None:
        render.message(f"seed: {result.seed}")
    verdict = decide(function)
    if fmt is Format.json:
        render.write_json(result.as_dict(verdict))
    elif fmt is Format.csv:
        render.write_csv(["epoch", "loss"], ([i + 1, v] for i, v in enumerate(result.loss)))
    elif fmt is Format.plain:
        data = result.as_dict(verdict)
        data.pop("loss")
        data["certificate"] = data["certificate"]["text"]
        units = data.pop("hidden_units")
        render.write_plain([*(f"{k}\t{plain_value(v)}" for k, v in data.items() if k != "restarts"),
                            *(f"h{i + 1}\t{u['table']}\t{u['computes']}" for i, u in enumerate(units))])
    else:
        _mlp_story(result, verdict, plot)
    if not result.solved:
        raise RunError(f"did not solve {function.name} with {hidden} hidden unit{'s' if hidden > 1 else ''} "
                       f"in {render.count(len(result.restarts) + 1, 'attempt')}; try more --hidden units or --epochs")


def _mlp_story(result: MLPResult, verdict, plot: bool) -> None:
    import numpy as np

    fn = result.function
    out = render.console()
    out.print(f"multi-layer perceptron on {function_title(fn)}\n"
              f"{render.count(fn.inputs, 'input')} → {result.hidden} {result.act} hidden "
              f"unit{'s' if result.hidden != 1 else ''} → sigmoid output, "
              f"cross-entropy loss, lr {render.fmt_short(result.lr)}, seed {result.seed}", highlight=False)
    if plot:
        from dlcli.charts import canvas
        from dlcli.cli.plot import print_chart

        epochs = np.arange(1, len(result.loss) + 1, dtype=float)
        attempt = len(result.restarts) + 1
        chart = canvas.Chart([canvas.Series("loss", epochs, np.array(result.loss))], log_y=True,
                             title=f"loss per epoch (attempt {attempt}, log scale)", x_label="epoch")
        print_chart(chart, 60, 10)
    names = [f"x{i + 1}" for i in range(fn.inputs)]
    units = [f"h{j + 1}" for j in range(result.hidden)]
    brief = len(fn.table) > MAX_TABLE_ROWS  # big tables: only the rows the network gets wrong
    rows = render.make_table(*names, ">target", ">output", ">prediction", *units,
                             title="truth table: wrong rows only" if brief else "truth table")
    shown = 0
    for i, row in enumerate(fn.rows):
        if brief and (fn.table[i] == result.predictions[i] or shown == MAX_TABLE_ROWS):
            continue
        shown += 1
        rows.add_row(*map(str, row), fn.table[i], render.fmt_short(result.outputs[i], 3),
                     result.predictions[i], *(u.table[i] for u in result.units))
    if shown or not brief:
        render.print_renderable(rows)
    table = render.make_table("unit", "weights", ">bias", ">→ output", "fires on", "computes",
                              title="what each hidden unit computes (read as step(w·x + b))")
    for j, unit in enumerate(result.units):
        table.add_row(units[j], vector_text(unit.weights), render.fmt_short(unit.bias, 4),
                      render.fmt_short(unit.output_weight, 4), unit.table, unit.meaning)
    render.print_renderable(table)
    status = (f"solved: all {len(fn.table)} rows right after {render.count(result.epochs, 'epoch')}"
              if result.solved else f"not solved: {result.accuracy:.0%} of rows right")
    tried = f" (attempt {len(result.restarts) + 1}, after {len(result.restarts)} restart" \
            f"{'s' if len(result.restarts) != 1 else ''})" if result.restarts else ""
    single = "is" if verdict.separable else "is not"
    out.print(f"{status}{tried}, final loss {render.fmt_short(result.loss[-1], 6)}.\n"
              f"A single perceptron: {fn.name} {single} linearly separable.", highlight=False)
