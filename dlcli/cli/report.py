"""`dlcli report RUN.db`: what a run recorded by `dlcli.watch` says: its headline, the findings tied to layers and
steps, a heat map of layers × steps, the loss curve; --follow redraws it while the run writes; --html writes the
same report as one self-contained page."""

from __future__ import annotations

import os
import sys
import time
from enum import Enum
from typing import Annotated, Any

import typer

from dlcli.cli import render
from dlcli.cli.options import FormatOpt, complete_from
from dlcli.cli.render import Format
from dlcli.errors import InputError, RunError

app = typer.Typer(help="The report of a training run recorded by dlcli.watch.", add_completion=False)

POLL = 1.0           # --follow: seconds between looks at the store
READ_TRIES = 5       # --follow: reads in a row that may fail (a store being created) before giving up
FRESH = 10.0         # --follow: seconds since a file was written within which it may still become a run store
COMPLETE_METRIC = complete_from("dlcli.runs.store", "METRICS")

HELP = ("The report of a training run recorded by dlcli.watch(model, optimizer, log=RUN.db): the headline (steps, "
        "loss, verdict), the findings ranked and tied to layers and steps, a heat map of layers × steps and the "
        "loss curve. The store is readable while the run writes it; --follow redraws as it grows.")


class By(str, Enum):
    auto = "auto"
    module = "module"
    block = "block"


@app.command(help=HELP)
def report(
    run: Annotated[str, typer.Argument(metavar="RUN.db", help="The run store dlcli.watch wrote (log=...).",
                                       show_default=False)],
    metric: Annotated[str, typer.Option(
        "--metric", "-m", autocompletion=COMPLETE_METRIC, help="The heat map's metric: grad_norm, weight_norm, "
        "update_ratio, grad_rms, act_mean, act_std, act_absmax, dead_frac or saturated_frac.")] = "grad_norm",
    by: Annotated[By, typer.Option("--by", help="The heat map's rows: module, block (residual block or "
                                   "transformer layer), or auto: blocks above 16 modules.")] = By.auto,
    follow: Annotated[bool, typer.Option("--follow", help="Redraw while the run writes (every second), until it "
                                         "ends or Ctrl-C.")] = False,
    html: Annotated[str | None, typer.Option("--html", metavar="FILE", help="Also write the report as one "
                                             "self-contained HTML page (inline SVG and CSS, opens offline); - for "
                                             "stdout (then nothing else is printed there).")] = None,
    fmt: FormatOpt = None,
    chart: Annotated[bool, typer.Option(help="Draw the heat map and the loss curve (table and plain).")] = True,
) -> None:
    """Read the run store and show its report."""
    from dlcli.runs import views

    views.check_metric(metric)
    if html == "-" and fmt is not None:
        raise InputError("--html - writes the page on stdout: leave out --format, or give --html a file name")
    if html == "-" and follow:
        raise InputError("--follow rewrites the page as the run goes: give --html a file name, not -")
    if follow:
        _follow(run, fmt, metric, by.value, chart, html)
        return
    rep = _load(run)
    if html is not None:
        _write_html(rep, html)
        if html == "-":
            return
    from dlcli.cli.report_output import show

    show(rep, render.resolve_format(fmt), metric, by.value, chart, _idle(run, rep))


def _load(path: str) -> Any:
    """The report of the store at `path`: bad input (not a run store) exits 2; a failed read exits 1."""
    import sqlite3

    from dlcli.runs.report import load_report

    try:
        return load_report(path)
    except sqlite3.Error as exc:
        raise RunError(f"cannot read the run store {path}: {exc}") from None


def _write_html(rep: Any, path: str, quiet: bool = False) -> None:
    render.write_file(path, rep.html(), "--html file")
    if path != "-" and not quiet:
        render.message(f"saved {path}")


def _signature(path: str) -> tuple[Any, ...]:
    """What changes whenever the store is written: the size and time of the file and of its write-ahead log."""
    out: list[Any] = []
    for name in (path, path + "-wal"):
        try:
            info = os.stat(name)
            out += [info.st_size, info.st_mtime_ns]
        except OSError:
            out += [None, None]
    return tuple(out)


def _written_within(path: str, seconds: float) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime < seconds
    except OSError:
        return False


def _idle(path: str, rep: Any) -> float | None:
    """Seconds since a run still marked running last wrote its store (None for a run that ended)."""
    if rep.run.status != "running":
        return None
    times = []
    for name in (path, path + "-wal"):
        try:
            times.append(os.stat(name).st_mtime)
        except OSError:
            pass
    return max(0.0, time.time() - max(times)) if times else None


def _follow(path: str, fmt: Format | None, metric: str, by: str, chart: bool, html: str | None) -> None:
    """Redraw the report whenever the store changes, until the run's status is no longer running (or Ctrl-C)."""
    import sqlite3

    from dlcli.cli.report_output import show
    from dlcli.runs.report import load_report

    fmt = render.resolve_format(fmt)
    live = fmt is Format.table and render.colour_allowed(sys.stdout)  # the screen is cleared and drawn again
    seen: tuple[Any, ...] | None = None
    failures, last_step, drawn = 0, None, 0
    while True:
        signature = _signature(path)  # taken before reading: a write after it is seen on the next look
        if signature != seen:
            try:
                rep = load_report(path)
            except (sqlite3.Error, InputError) as exc:
                # a store caught between its creation and its schema's commit reads as no run store: a file
                # written in the last seconds is looked at again; a foreign file fails at once
                failures += 1
                fresh = isinstance(exc, sqlite3.Error) or _written_within(path, FRESH)
                if failures >= READ_TRIES or not fresh:
                    if isinstance(exc, InputError):
                        raise
                    raise RunError(f"cannot read the run store {path}: {exc}") from None
                time.sleep(POLL)
                continue
            failures, seen = 0, signature
            running = rep.run.status == "running"
            if html is not None:
                _write_html(rep, html, quiet=drawn > 0)
            if fmt is Format.csv:
                header, rows = rep.csv_rows()
                fresh = [r for r in rows if last_step is None or r[0] > last_step]
                if drawn == 0:
                    render.write_csv(header, fresh)
                elif fresh:
                    _csv_rows(fresh)
                if rows:
                    last_step = rows[-1][0]
            elif fmt is Format.json:
                render.write_json(rep.as_dict())
            else:
                if live:
                    sys.stdout.write("\x1b[H\x1b[2J")
                elif drawn:
                    sys.stdout.write("\n")
                show(rep, fmt, metric, by, chart, _idle(path, rep))
                if live and running:
                    render.message(f"following {path}: redrawn at {time.strftime('%H:%M:%S')}; Ctrl-C stops")
            drawn += 1
            if not running:
                return
        time.sleep(POLL)


def _csv_rows(rows: list[list[Any]]) -> None:
    """More CSV rows under those written (no header)."""
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    for row in rows:
        writer.writerow([render.fmt_float(v) if isinstance(v, float) else v for v in row])
    sys.stdout.flush()
