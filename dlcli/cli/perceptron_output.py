"""Output pieces shared by the perceptron commands: titles, exact weights, certificates, progress."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING

from dlcli.cli import render
from dlcli.errors import with_article
from dlcli.perceptron.boolean import BooleanFunction

if TYPE_CHECKING:
    from dlcli.perceptron.learning import Epoch

MAX_TABLE_ROWS = 32  # truth tables longer than this show only wrong rows


def weight_text(value: Fraction | float) -> str:
    """A weight for people: an integer, a short exact decimal, or a fraction a/b (as str(Fraction) writes them)."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value)
        rest, places = value.denominator, 0
        while rest % 10 == 0 or rest % 2 == 0 or rest % 5 == 0:  # 2^a·5^b needs max(a, b) places
            rest //= 10 if rest % 10 == 0 else 2 if rest % 2 == 0 else 5
            places += 1
        if rest == 1 and places <= 8:  # a short terminating decimal: print it exactly
            scaled = abs(value.numerator) * 10**places // value.denominator
            sign = "-" if value < 0 else ""
            return f"{sign}{scaled // 10**places}.{scaled % 10**places:0{places}d}".rstrip("0")
        return str(value)
    return render.fmt_short(value, 4)


def function_title(fn: BooleanFunction) -> str:
    """'xor (2 inputs, truth table 0110)'; long tables are not repeated in full."""
    plural = "s" if fn.inputs > 1 else ""
    table = f"truth table {fn.table}" if len(fn.table) <= MAX_TABLE_ROWS else \
        f"{with_article(str(len(fn.table)))}-row truth table"
    name = "a function" if fn.name == fn.table and len(fn.table) > MAX_TABLE_ROWS else fn.name
    return f"{name} ({fn.inputs} input{plural}, {table})"


def vector_text(values) -> str:
    return "(" + ", ".join(weight_text(v) for v in values) + ")"


def epoch_progress(progress: render.Progress) -> Callable[[Epoch], None]:
    """The single-layer rule's per-epoch callback, shown every 200 epochs on `progress`."""

    def show(epoch: Epoch) -> None:
        if epoch.epoch % 200 == 0:
            progress.update(f"epoch {epoch.epoch}: {render.count(epoch.mistakes, 'mistake')}")

    return show


def plain_value(value) -> str:
    if isinstance(value, float):
        return render.fmt_float(value)
    if isinstance(value, list):
        return " ".join(plain_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "-" if value is None else str(value)

