"""`dlcli perceptron train --hidden H`: the multi-layer perceptron's run, rendered (split from perceptron.py)."""

from __future__ import annotations

import time
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

TABLE_BYTES_PER_UNIT = 10_000  # drawing the tables: measured 7.5 KB a hidden unit (100,000 units, xor)


def train_network(function: BooleanFunction, hidden: int, act: str, param: list[str] | None, lr: str,
                  epochs: int | None, seed: int | None, plot: bool, fmt: Format) -> None:
    """`perceptron train --hidden H`: train, announce restarts and the seed, render, exit 1 if unsolved."""
    from dlcli.cli.options import parse_params
    from dlcli.numio import parse_number
    from dlcli.perceptron.learning import decide
    from dlcli.perceptron.mlp import train_mlp

    line = render.Progress()
    shown = [0.0]

    def report(attempt: int, epoch: int, loss: float) -> None:
        now = time.monotonic()  # every epoch, written at most ten times a second (Progress waits its first second)
        if now - shown[0] >= 0.1:
            shown[0] = now
            line.update(f"attempt {attempt}, epoch {epoch}: loss {render.fmt_short(loss, 4)}")

    def announce(restart: Restart) -> None:
        line.clear()
        render.message(f"restart: attempt {restart.attempt} gave up after {render.count(restart.epochs, 'epoch')} "
                       f"at loss "
                       f"{render.fmt_short(restart.loss, 4)} ({restart.reason}); "
                       "trying a fresh initialisation")

    if fmt is Format.table:  # the tables draw a row and a column for every hidden unit
        from dlcli.memory import check_fits

        check_fits(TABLE_BYTES_PER_UNIT * hidden, f"lower --hidden, or use --format json or plain (the tables draw "
                   f"a row and a column for each of the {hidden:,} hidden units)")
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
                       f"in {render.count(result.attempts, 'attempt')} (the best, attempt {result.attempt}, got "
                       f"{_rows_right(result)}); try more --hidden units or --epochs")


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
        attempt = result.attempt
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
              if result.solved else f"not solved: {_rows_right(result)}")
    if result.attempt != result.attempts:
        tried = f" (the best of {result.attempts} attempts: attempt {result.attempt})"
    elif result.restarts:
        tried = f" (attempt {result.attempt}, after {render.count(len(result.restarts), 'restart')})"
    else:
        tried = ""
    single = "is" if verdict.separable else "is not"
    out.print(f"{status}{tried}, final loss {render.fmt_short(result.loss[-1], 6)}.\n"
              f"A single perceptron: {fn.name} {single} linearly separable.", highlight=False)


def _rows_right(result: MLPResult) -> str:
    """'255 of 256 rows right' (a percentage would round 99.6% up to 100%)."""
    right = sum(a == b for a, b in zip(result.predictions, result.function.table, strict=True))
    return f"{right:,} of {len(result.function.table):,} rows right"
