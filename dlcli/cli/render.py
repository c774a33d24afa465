"""The one rendering layer: output formats, consoles, colour rules, and writers for tables, JSON, CSV and plain.

Every command hands its results here. Data goes to stdout, messages to stderr. Colour (any ANSI code at all)
appears only on a terminal, and not under NO_COLOR or TERM=dumb.
"""

from __future__ import annotations

import csv
import errno
import io
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import IO, TYPE_CHECKING, Any

import orjson

from dlcli.errors import InputError, count  # noqa: F401 - render.count: the CLI's name for it
from dlcli.numio import ORJSON_IS_HOUSE_STYLE, format_float

if TYPE_CHECKING:  # Rich's console and table modules cost ~40 ms: imported only when drawing
    from rich.console import Console
    from rich.table import Table


PROG = "dlcli"


class Format(str, Enum):
    table = "table"
    plain = "plain"
    csv = "csv"
    json = "json"


TERMINAL_ENV = "DLCLI_TERMINAL"  # =1: treat stdout/stderr as a terminal (tests, recordings); COLUMNS sets the width


def is_terminal(stream: Any) -> bool:
    """True when `stream` is a terminal (or DLCLI_TERMINAL=1 says to treat stdout/stderr as one)."""
    if os.environ.get(TERMINAL_ENV) == "1" and (stream is sys.stdout or stream is sys.stderr):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def colour_allowed(stream: IO[str]) -> bool:
    """True when `stream` is a terminal and neither NO_COLOR nor TERM=dumb asks for plain text."""
    if "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


def resolve_format(requested: Format | None) -> Format:
    """The requested format, or the default: a Rich table on a terminal, plain text when piped."""
    if requested is not None:
        return requested
    return Format.table if is_terminal(sys.stdout) else Format.plain


def console(stderr: bool = False) -> Console:
    """A Rich console on stdout (or stderr) that emits no ANSI code unless colour is allowed there."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    colour = colour_allowed(stream)
    terminal = is_terminal(stream)
    return Console(
        file=stream,
        color_system="auto" if colour else None,
        force_terminal=True if terminal else None,
        no_color=not colour,
        highlight=False,
        emoji=False,
        width=None if terminal else 120,
        soft_wrap=False,
    )


class ClosedStream(io.TextIOBase):
    """Stands in for a standard stream the shell closed (`>&-`): writing to it fails with EBADF, naming it."""

    def __init__(self, name: str) -> None:
        self.stream_name = name
        self.buffer = self

    def _fail(self, *_: Any) -> Any:
        raise OSError(errno.EBADF, f"{os.strerror(errno.EBADF)} ({self.stream_name} is closed)", self.stream_name)

    write = _fail

    def fileno(self) -> int:
        raise io.UnsupportedOperation("closed")

    def flush(self) -> None:  # nothing is ever buffered; the interpreter's last flush must not complain
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


def guard_standard_streams() -> None:
    """Give a closed stdout a stand-in that fails on the first write; a closed stdin reads as empty and a
    closed stderr goes to /dev/null."""
    if sys.stdout is None:
        sys.stdout = ClosedStream("stdout")
    if sys.stdin is None:  # `<&-`: reading finds no input, which the command reports in its own words
        sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


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
    """Turn numpy arrays/scalars, tuples and dataclass-free structures into JSON values; NaN/±inf become null.
    Floats are written as format_float writes them (so JSON, plain and CSV agree digit for digit)."""
    if hasattr(obj, "tolist"):  # numpy array or scalar
        obj = obj.tolist()
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        return obj if ORJSON_IS_HOUSE_STYLE else orjson.Fragment(format_float(obj))
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, int) and not -(2**63) <= obj < 2**64:  # 2^(2^6) Boolean functions of 6 inputs
        return orjson.Fragment(str(obj))
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
    return orjson.dumps(json_ready(obj)).decode()


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


def write_file(path: str, text: str, what: str = "file") -> None:
    """Write `text` to the file named `path` ('-': stdout), by dlcli.files' rules: nothing is ever damaged."""
    from dlcli import files

    path = os.fspath(path)
    if path != "-":
        files.write_text(path, text, what)
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        raise files.write_error("stdout", exc) from None


def check_dash(option: str, path: str | None, fmt: Format | None) -> None:
    """`OPTION -` writes that file on stdout instead of the data: refused beside an explicit --format."""
    if path == "-" and fmt is not None:
        raise InputError(f"{option} - writes on stdout instead of the data: leave out --format, or give {option} "
                         "a file name")


def make_table(*columns: str, title: str | None = None, justify_numbers: bool = True,
               drop: Sequence[str] = (), fold: Sequence[str] = ()) -> Table:
    """A Rich table in the house style; columns named with a leading '>' are right-aligned.

    Cells are taken literally: "[min_val, max_val]" is text, not Rich markup. On a narrow terminal no word or
    number is ever cut: columns get at least their longest word (`fold` columns may break long words), the
    `drop` columns are left out in that order (a caption says so), and a table that still cannot fit is stacked.
    """
    from rich.table import Table
    from rich.text import Text

    class FittedTable(Table):
        fitted = False

        def add_row(self, *cells: Any, **kwargs: Any) -> None:
            super().add_row(*(Text(c) if isinstance(c, str) else c for c in cells), **kwargs)

        def __rich_console__(self, console: Any, options: Any) -> Any:
            if self.fitted:
                yield from super().__rich_console__(console, options)
            else:
                yield _fit_table(self, options.max_width, list(drop), set(fold))

    table = FittedTable(title=title, title_justify="left", header_style="bold", show_edge=True, expand=False,
                        caption_justify="left")
    for name in columns:
        right = name.startswith(">")
        table.add_column(name.lstrip(">"), justify="right" if right and justify_numbers else "left")
    return table


FOLD_WIDTH = 8  # the narrowest a `fold` column gets


def _cell_text(cell: Any) -> str:
    return cell.plain if hasattr(cell, "plain") else str(cell)


def _extent(texts: list[str], fold: bool, no_wrap: bool) -> tuple[int, int]:
    """(narrowest, natural) content width: the longest word (or FOLD_WIDTH) and the longest line."""
    from rich.cells import cell_len

    lines = [line for t in texts for line in t.splitlines()] or [""]
    hi = max(cell_len(line) for line in lines)
    if no_wrap:
        return hi, hi
    lo = max([cell_len(word) for line in lines for word in line.split()] or [0])
    return max(1, min(lo, FOLD_WIDTH) if fold else lo), max(hi, 1)


def _water_fill(lo: list[int], hi: list[int], room: int, weights: list[int]) -> list[int]:
    """Widths from `lo` towards `hi`, sharing `room` extra columns by `weights` (short columns filled first)."""
    widths = list(lo)
    order = sorted(range(len(lo)), key=lambda i: (hi[i] - lo[i]) / weights[i])
    left = sum(weights)
    for i in order:
        grant = min(hi[i] - lo[i], room * weights[i] // left)
        widths[i] += grant
        room -= grant
        left -= weights[i]
    return widths


def _fit_table(table: Any, max_width: int, drop: list[str], fold: set[str]) -> Any:
    """`table` itself when it fits, else a copy with fixed column widths, fewer columns, or stacked rows."""
    from rich.table import Table

    columns = list(table.columns)
    cells = {id(c): [_cell_text(x) for x in c._cells] for c in columns}
    left_out: list[str] = []
    while True:
        names = [_cell_text(c.header) for c in columns]
        extents = [_extent([names[i], *cells[id(c)]], names[i] in fold, bool(c.no_wrap))
                   for i, c in enumerate(columns)]
        room = max_width - (3 * len(columns) + 1)  # borders and one space of padding either side of a cell
        lo, hi = [e[0] for e in extents], [e[1] for e in extents]
        if sum(hi) <= room and not table.expand and not left_out:
            table.fitted = True
            return table
        if sum(lo) <= room:
            widths = _water_fill(lo, hi, room - sum(lo), [c.ratio or 1 for c in columns])
            if table.expand:  # what is left goes to the columns with a ratio (or the last one)
                spare = room - sum(widths)
                ratios = [c.ratio or 0 for c in columns] if any(c.ratio for c in columns) else \
                    [0] * (len(columns) - 1) + [1]
                for i, r in enumerate(ratios):
                    widths[i] += spare * r // sum(ratios)
            break
        candidates = [c for c in columns if _cell_text(c.header) in drop]
        if not candidates:
            return _stacked(table, columns, cells, max_width)
        victim = min(candidates, key=lambda c: drop.index(_cell_text(c.header)))
        columns.remove(victim)
        left_out.append(_cell_text(victim.header))
    out = Table(title=table.title, title_justify=table.title_justify, header_style=table.header_style,
                show_edge=table.show_edge, expand=False, caption_justify="left", caption_style="",
                caption=_left_out_caption(left_out, max_width) if left_out else table.caption)
    for column, width in zip(columns, widths, strict=True):
        out.add_column(column.header, justify=column.justify, width=width, no_wrap=column.no_wrap,
                       overflow="fold")
    for row in zip(*(column._cells for column in columns), strict=True):
        out.add_row(*row)
    return out


def _left_out_caption(names: list[str], width: int) -> str:
    return f"(at {width} columns without: {', '.join(names)}; --format plain has every column)"


def _stacked(table: Any, columns: list[Any], cells: dict[int, list[str]], max_width: int) -> Any:
    """Each row as a block of 'header  value' lines: the last resort for a table too wide to fit."""
    from rich.console import Group
    from rich.text import Text

    names = [_cell_text(c.header) for c in columns]
    key = max(len(n) for n in names)
    parts: list[Any] = []
    if table.title:
        parts.append(Text(str(table.title), style="bold"))
    rows = list(zip(*(cells[id(c)] for c in columns), strict=True))
    for n, row in enumerate(rows):
        if n:
            parts.append(Text(""))
        for name, value in zip(names, row, strict=True):
            parts.append(Text(f"{name:<{key}}  " + value.replace("\n", "\n" + " " * (key + 2))))
    parts.append(Text(f"({max_width} columns: too narrow for the table; one block per row)"))
    return Group(*parts)


_GLUE = ((" = ", "\u00a0=\u00a0"), (" × ", "\u00a0×\u00a0"), (" / ", "\u00a0/\u00a0"), (" ≈ ", "\u00a0≈\u00a0"))


def wrap_paragraph(text: str, width: int, indent: int = 0, hang: int = 2) -> list[str]:
    """`text` as lines of at most `width`: the first indented by `indent`, the rest by `hang`; breaks fall
    between words, at a clause end (, ; :) where one is near, and never inside 'name = value'."""
    for plain, glued in _GLUE:
        text = text.replace(plain, glued)
    text = re.sub(r"\([^()]{0,24}\)", lambda m: m.group(0).replace(" ", "\u00a0"), text)  # "(1/2, 1/2)"
    words = [part for word in text.split(" ")
             for part in (word.split("\u00a0") if len(word) > width - hang else [word])]
    lines: list[str] = []
    current: list[str] = []
    used = indent
    for word in words:
        if not word:
            continue
        margin = indent if not lines else hang
        if current and used + 1 + len(word) > width:
            cut = len(current)
            for k in range(len(current) - 1, 0, -1):  # back up to a clause end in the last third of the line
                if current[k - 1][-1] in ",;:" and margin + len(" ".join(current[:k])) >= width * 2 // 3:
                    cut = k
                    break
            lines.append(" " * margin + " ".join(current[:cut]))
            current = current[cut:]
            used = hang + len(" ".join(current))
        current.append(word)
        used += len(word) + (1 if len(current) > 1 else 0)
    if current:
        lines.append(" " * (indent if not lines else hang) + " ".join(current))
    return [line.replace("\u00a0", " ") for line in lines]


def print_paragraph(out: Console, text: str, indent: int = 0, hang: int = 2, style: str = "") -> None:
    """Print `text` on `out` wrapped to its width as a paragraph with a hanging indent."""
    from rich.text import Text

    for line in wrap_paragraph(text, out.width, indent, hang):
        out.print(Text(line, style=style), no_wrap=True, overflow="ignore", crop=False)


def print_renderable(renderable: Any, stderr: bool = False) -> None:
    console(stderr=stderr).print(renderable)


# --- progress ----------------------------------------------------------------------------------

class Progress:
    """Progress of a long run on stderr, never on stdout: a live line on a terminal once a run has taken DELAY
    seconds; elsewhere (a log file, CI, a pipe) a line every PLAIN_EVERY seconds once it has taken PLAIN_DELAY,
    so that the output of ordinary runs does not depend on the machine's speed."""

    DELAY = 1.0
    PLAIN_DELAY = 10.0
    PLAIN_EVERY = 5.0

    def __init__(self, label: str = "") -> None:
        self.start = time.monotonic()
        self.label = label
        self.terminal = is_terminal(sys.stderr)
        self.escapes = colour_allowed(sys.stderr)  # no ANSI code at all under NO_COLOR or TERM=dumb
        self.last_line: float | None = None
        self.shown = 0

    def __call__(self, stage: str, done: int, total: int, unit: str = "layers") -> None:
        """The core's callback: `done` of `total` `unit` of `stage` (vanish: per layer)."""
        percent = f" ({100 * done // total}%)" if total else ""
        self.update(f"{self.label} {stage} {done}/{total} {unit}{percent}".strip())

    def update(self, text: str) -> None:
        now = time.monotonic()
        if now - self.start < (self.DELAY if self.terminal else self.PLAIN_DELAY):
            return
        if self.terminal:
            if self.last_line is not None and now - self.last_line < 0.1:  # redraw at most ten times a second
                return
            self.last_line = now
            self.clear()
            sys.stderr.write(f"\r{text}")
            sys.stderr.flush()
            self.shown = len(text)
            if self not in _ACTIVE:
                _ACTIVE.append(self)
        elif self.last_line is None or now - self.last_line >= self.PLAIN_EVERY:
            self.last_line = now
            message(f"{PROG}: {text}")

    def clear(self) -> None:
        """Remove the live line (before other output, and at the end)."""
        if self.shown:
            sys.stderr.write("\r\x1b[K" if self.escapes else "\r" + " " * self.shown + "\r")
            sys.stderr.flush()
            self.shown = 0
        if self in _ACTIVE:
            _ACTIVE.remove(self)

    close = clear


_ACTIVE: list[Progress] = []  # those with a live line on the terminal now


def clear_progress() -> None:
    """Remove any live progress line (before an error line)."""
    for progress in list(_ACTIVE):
        progress.clear()


# --- messages ------------------------------------------------------------------------------------

def message(text: str) -> None:
    """A note for the user on stderr (progress, the seed used, caveats); never mixed into data. On a terminal
    a long note wraps as a paragraph. Control characters from the input are shown escaped."""
    text = "\n".join(escape_controls(line) for line in text.split("\n"))
    if is_terminal(sys.stderr) and len(text) > 60:
        import shutil

        text = "\n".join(wrap_paragraph(text, shutil.get_terminal_size().columns))
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def escape_controls(text: str) -> str:
    """`text` with every control or invisible formatting character (an escape sequence, a bidi override, a
    tab) written as a Python escape such as \\x1b, so input can never drive the terminal."""
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


def error_line(text: str) -> None:
    """The single line every failure prints on stderr (with the input's control characters escaped)."""
    line = escape_controls(" ".join(str(text).split("\n")))
    if colour_allowed(sys.stderr):
        sys.stderr.write(f"\x1b[1;31mdlcli: error:\x1b[0m {line}\n")
    else:
        sys.stderr.write(f"dlcli: error: {line}\n")
    sys.stderr.flush()
