"""The one rendering layer: output formats, consoles, colour rules, and writers for tables, JSON, CSV and plain.

Every command hands its results here. Data goes to stdout, messages to stderr. Colour (any ANSI code at all)
appears only on a terminal, and not under NO_COLOR or TERM=dumb.
"""

from __future__ import annotations

import csv
import math
import os
import sys
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import IO, TYPE_CHECKING, Any

import orjson

from dlcli.numio import format_float

if TYPE_CHECKING:  # Rich's console and table modules cost ~40 ms: imported only when drawing
    from rich.console import Console
    from rich.table import Table


class Format(str, Enum):
    table = "table"
    plain = "plain"
    csv = "csv"
    json = "json"


def colour_allowed(stream: IO[str]) -> bool:
    """True when `stream` is a terminal and neither NO_COLOR nor TERM=dumb asks for plain text."""
    if "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def resolve_format(requested: Format | None) -> Format:
    """The requested format, or the default: a Rich table on a terminal, plain text when piped."""
    if requested is not None:
        return requested
    return Format.table if _isatty(sys.stdout) else Format.plain


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def console(stderr: bool = False) -> Console:
    """A Rich console on stdout (or stderr) that emits no ANSI code unless colour is allowed there."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    colour = colour_allowed(stream)
    width = None if _isatty(stream) else 120
    return Console(
        file=stream,
        color_system="auto" if colour else None,
        force_terminal=colour or None,
        no_color=not colour,
        highlight=False,
        emoji=False,
        width=width,
        soft_wrap=False,
    )


# --- numbers -------------------------------------------------------------------------------------

def fmt_float(value: float) -> str:
    """Shortest round-trip decimal, 'inf', '-inf' or 'nan' (the same digits plain, CSV and JSON print)."""
    return format_float(value)


def fmt_short(value: float, digits: int = 6) -> str:
    """A compact human-readable number for tables and labels (not round-trip)."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    text = f"{value:.{digits}g}"
    return "0" if text in ("-0", "0") else text


def json_ready(obj: Any) -> Any:
    """Turn numpy arrays/scalars, tuples and dataclass-free structures into JSON values; NaN/±inf become null."""
    if hasattr(obj, "tolist"):  # numpy array or scalar
        obj = obj.tolist()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    return obj


# --- writers -------------------------------------------------------------------------------------

def write_json(obj: Any) -> None:
    """One JSON document on stdout; floats as shortest round-trip decimals, NaN and ±inf as null."""
    sys.stdout.write(json_text(obj) + "\n")
    sys.stdout.flush()


def json_text(obj: Any) -> str:
    ready = json_ready(obj)
    try:
        return orjson.dumps(ready).decode()
    except TypeError:  # an integer past 64 bits (2^(2^6) Boolean functions of 6 inputs): the stdlib has no limit
        import json

        return json.dumps(ready, separators=(",", ":"), ensure_ascii=False)


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([fmt_float(v) if isinstance(v, float) else v for v in row])
    sys.stdout.flush()


def write_plain(lines: Iterable[str]) -> None:
    out = sys.stdout
    for line in lines:
        out.write(line)
        out.write("\n")
    out.flush()


def make_table(*columns: str, title: str | None = None, justify_numbers: bool = True) -> Table:
    """A Rich table in the house style; columns named with a leading '>' are right-aligned.

    Cells are taken literally: "[min_val, max_val]" is text, not Rich markup.
    """
    from rich.table import Table
    from rich.text import Text

    class LiteralTable(Table):
        def add_row(self, *cells: Any, **kwargs: Any) -> None:
            super().add_row(*(Text(c) if isinstance(c, str) else c for c in cells), **kwargs)

    table = LiteralTable(title=title, title_justify="left", header_style="bold", show_edge=True, expand=False)
    for name in columns:
        right = name.startswith(">")
        table.add_column(name.lstrip(">"), justify="right" if right and justify_numbers else "left")
    return table


def print_renderable(renderable: Any, stderr: bool = False) -> None:
    console(stderr=stderr).print(renderable)


# --- messages ------------------------------------------------------------------------------------

def message(text: str) -> None:
    """A note for the user on stderr (progress, the seed used, caveats); never mixed into data."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def error_line(text: str) -> None:
    """The single line every failure prints on stderr."""
    line = " ".join(str(text).split("\n"))
    if colour_allowed(sys.stderr):
        sys.stderr.write(f"\x1b[1;31mdlcli: error:\x1b[0m {line}\n")
    else:
        sys.stderr.write(f"dlcli: error: {line}\n")
    sys.stderr.flush()
