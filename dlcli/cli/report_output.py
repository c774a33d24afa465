"""What `dlcli report` prints: the headline, the findings, a heat map of layers × steps and the loss curve (table
and plain), or the report's JSON and CSV. The figures come from dlcli.runs.views; this module only draws them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dlcli.cli import render
from dlcli.cli.render import Format
from dlcli.runs import views

LOSS_HEIGHT = 12
LOSS_WIDTH = 64      # at most; less on a narrow terminal
HEAT_CELL = 4        # characters per sampled step at most
SEVERITY_STYLES = {"alarm": "bold red", "note": "cyan"}
TABLE_FINDINGS = 12  # the table lists the most serious; plain, JSON and CSV list every one


def show(report: Any, fmt: Format, metric: str, by: str, chart: bool, idle: float | None = None) -> None:
    """The report in `fmt` on stdout (a note on stderr for JSON and CSV of a run that did not finish)."""
    if fmt in (Format.json, Format.csv):
        if report.run.status != "finished":
            render.message(f"{report.run.path}: {views.status_text(report, idle)}")
        if fmt is Format.json:
            render.write_json(report.as_dict())
        else:
            render.write_csv(*report.csv_rows())
        return
    styled = fmt is Format.table
    out = render.console()
    _headline(out, report, styled, idle)
    _findings(out, report, styled)
    if chart:
        heat(out, report, metric, by)
        loss(out, report)


def _headline(out: Any, report: Any, styled: bool, idle: float | None) -> None:
    from rich.text import Text

    out.print(Text(f"dlcli report {report.run.path}", style="bold" if styled else ""), crop=False)
    figures = views.headline(report, idle)
    if report.nonfinite is not None:
        nf = report.nonfinite
        figures.append(views.Figure("nonfinite", "non-finite", f"first non-finite gradient at step {nf['step']:,}"
                                    + (f" in {nf['module']}" if nf.get("module") else "")))
    key = max(len(f.label) for f in figures)
    for f in figures:
        style = ""
        if styled and f.key == "verdict":
            style = "bold green" if report.verdict == "healthy" else "bold red"
        elif styled and f.key == "status" and report.run.status != "finished":
            style = "bold yellow"
        if styled:
            label = Text()
            label.append(f"  {f.label:<{key}}  ", style="dim")
            value = Text()
            value.append(f.text, style=style)
            wrapped(out, label, value)
        else:
            out.file.write(f"  {f.label:<{key}}  {f.text}\n")
    out.file.flush()


def _findings(out: Any, report: Any, styled: bool) -> None:
    from rich.text import Text

    found = report.findings
    if styled:
        out.print()
        out.print(Text("findings" + (" (most serious first)" if len(found) > 1 else ""), style="bold"))
    else:
        out.file.write("\nfindings" + (" (most serious first)" if len(found) > 1 else "") + "\n")
    if not found:
        out.file.write("  none: no alarm or note on the recorded steps\n")
    shown = found[:TABLE_FINDINGS] if styled and len(found) > TABLE_FINDINGS + 1 else found
    digits = len(str(len(shown)))
    for n, f in enumerate(shown, start=1):
        where = views.where(f)
        head = f"  {n:>{digits}}. "
        if styled:
            line = Text()
            line.append(f.severity, style=SEVERITY_STYLES.get(f.severity, ""))
            line.append(f" · {where}:" if where else ":", style="dim")
            line.append(" " + f.text)
            wrapped(out, Text(head), line)
        else:
            out.file.write(f"{head}{f.severity}{f' · {where}' if where else ''}: {f.text}\n")
    if len(shown) < len(found):
        out.print(Text(f"  … and {len(found) - len(shown)} more (every one: --format plain or json)", style="dim"))
    out.file.flush()


def wrapped(out: Any, prefix: Any, text: Any) -> None:
    """`prefix` then `text` (Rich texts) wrapped between words to the console's width, under itself."""
    from rich.text import Text

    width = max(out.width - len(prefix.plain), 20)
    at = 0
    for n, line in enumerate(render.wrap_paragraph(text.plain, width, 0, 0)):
        start = text.plain.find(line, at)
        piece = prefix.copy() if n == 0 else Text(" " * len(prefix.plain))
        piece.append_text(text[start:start + len(line)] if start >= 0 else Text(line))
        at = start + len(line) if start >= 0 else at
        out.print(piece, no_wrap=True, overflow="ignore", crop=False)


def heat(out: Any, report: Any, metric: str, by: str) -> None:
    """The heat map of `metric`, its columns fitted to the console's width (neighbouring samples share one)."""
    out.file.write("\n")
    whole = views.heat_map(report, metric, by)
    note = views.empty_note(whole, metric)
    fitted_heat(out, whole, note, lambda columns: views.heat_map(report, metric, by, columns))


def fitted_heat(out: Any, whole: Any, note: str | None, refit: Callable[[int], Any], blank: str = views.BLANK
                ) -> None:
    """The heat map `whole` (or its title and `note`), its columns fitted to the console's width: `refit(n)` is
    the same map in at most n columns; `blank` says what a blank cell means."""
    from dlcli.charts import heatmap as hm
    from dlcli.cli.plot import print_heat

    if note is not None:
        out.file.write(f"{whole.title}\n  {note}\n")
        out.file.flush()
        return
    labels = _fit_labels(whole.row_labels, out.width // 2)
    room = max(out.width - max(len(s) for s in labels) - 3, 8)
    columns = len(whole.column_labels)
    figure = whole if columns <= room else refit(room)
    figure.row_labels = labels
    out.file.flush()
    print_heat(hm.draw(figure, cell=max(1, min(HEAT_CELL, room // len(figure.column_labels)))))
    out.file.write(f"  {blank}\n")
    out.file.flush()


def _fit_labels(labels: list[str], width: int) -> list[str]:
    """Row labels of at most `width` characters: a longer one keeps its end (the most specific part)."""
    return [s if len(s) <= width else "…" + s[len(s) - width + 1:] for s in labels]


def loss(out: Any, report: Any) -> None:
    loss_section(out, views.loss_chart(report), views.no_loss(report))


def loss_section(out: Any, chart: Any, missing: str) -> None:
    """The loss chart under a blank line, or one line saying why there is none (`dlcli report`, `dlcli diff`)."""
    from dlcli.cli.plot import print_chart

    out.file.write("\n")
    if chart is None:
        out.file.write(f"loss: {missing}\n")
        out.file.flush()
        return
    out.file.flush()
    print_chart(chart, max(16, min(LOSS_WIDTH, out.width - 16)), LOSS_HEIGHT)
