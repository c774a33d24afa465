"""What `dlcli diff` prints: the headline, the ranked layers, the heat map of the difference and both loss curves
(table and plain), or the JSON and CSV. The figures come from dlcli.diff.views; this module only draws them."""

from __future__ import annotations

from typing import Any

from dlcli.cli import render
from dlcli.cli.render import Format

TABLE_LAYERS = 12   # the table lists the layers that differ most; plain, JSON and CSV list every one


def show_runs(diff: Any, fmt: Format, metric: str, chart: bool) -> None:
    """The diff of two runs in `fmt` on stdout."""
    from dlcli.diff import views

    if fmt is Format.json:
        render.write_json(diff.as_dict())
        return
    if fmt is Format.csv:
        render.write_csv(*diff.csv_rows())
        return
    styled = fmt is Format.table
    out = render.console()
    _headline(out, f"dlcli diff {diff.a.run.path} {diff.b.run.path}", views.headline(diff), styled)
    _layers(out, diff, styled)
    if chart:
        from dlcli.cli.report_output import fitted_heat

        out.file.write("\n")
        whole = views.heat_map(diff, metric)
        fitted_heat(out, whole, views.empty_note(whole), lambda columns: views.heat_map(diff, metric, columns),
                    views.BLANK)
        _loss(out, diff)


def _headline(out: Any, title: str, figures: list[Any], styled: bool) -> None:
    from rich.text import Text

    from dlcli.cli.report_output import wrapped

    out.print(Text(title, style="bold" if styled else ""), crop=False)
    key = max(len(f.label) for f in figures)
    for f in figures:
        if styled:
            label = Text(f"  {f.label:<{key}}  ", style="dim")
            style = "bold" if f.key == "differ" else ""
            wrapped(out, label, Text(f.text, style=style))
        else:
            out.file.write(f"  {f.label:<{key}}  {f.text}\n")
    out.file.flush()


def _layers(out: Any, diff: Any, styled: bool) -> None:
    from dlcli.diff import views
    from dlcli.runs.views import short

    found = diff.differing
    out.file.write("\nlayers that differ most\n")
    if not found:
        out.file.write("  none: the runs agree on every layer and aligned step\n")
        out.file.flush()
        return
    shown = found[:TABLE_LAYERS] if styled and len(found) > TABLE_LAYERS + 1 else found
    cells = [[str(rank), x.name, short(x.score), x.metric, f"{x.top.step:,}", views.factor(x.top.a, x.top.b),
              short(x.top.a), short(x.top.b), f"{x.top.peak_step:,}"] for rank, x in enumerate(shown, start=1)]
    if styled:
        out.file.flush()
        table = render.make_table(">#", "layer", ">score", "metric", ">from step", ">B/A", ">A", ">B", ">at step",
                                  drop=("at step", "A", "B"), fold=("layer",))
        for row in cells:
            table.add_row(*row)
        render.print_renderable(table)
    else:
        columns = ["#", "layer", "score", "metric", "from step", "B/A", "A", "B", "at step"]
        out.file.write("\t".join(columns) + "\n" + "".join("\t".join(row) + "\n" for row in cells))
    if len(shown) < len(found):
        out.file.write(f"  … and {len(found) - len(shown)} more (every one: --format plain or json)\n")
    agree = len(diff.layers) - len(found)
    note = views.SCORE + (f"; the other {agree} of {len(diff.layers)} layers agree" if agree else "")
    if styled:
        render.print_paragraph(out, note, indent=2, hang=2)
    else:
        out.file.write(f"  {note}\n")
    out.file.flush()


def _loss(out: Any, diff: Any) -> None:
    from dlcli.cli.report_output import loss_section
    from dlcli.diff import views

    loss_section(out, views.loss_chart(diff), views.loss_text(diff))


# --- two checkpoints -----------------------------------------------------------------------------

def show_weights(diff: Any, fmt: Format) -> None:
    """The diff of two checkpoints in `fmt` on stdout."""
    from dlcli.runs.views import Figure, short

    if fmt is Format.json:
        render.write_json(diff.as_dict())
        return
    if fmt is Format.csv:
        render.message(f"seed: {diff.a.config.seed}")
        render.write_csv(*diff.csv_rows())
        return
    c = diff.a.config
    figures = [
        Figure("model", "model", f"{c.model}: input {c.data} {'×'.join(map(str, c.input_shape))}, batch {c.batch}, "
                                 f"loss {c.loss}, {c.dtype}/{c.device}, {c.mode} mode, seed {c.seed}"),
        Figure("a", "A", f"{diff.paths[0]}: {diff.a.verdict}, gradient ratio {short(diff.a.gradient_ratio)}"),
        Figure("b", "B", f"{diff.paths[1]}: {diff.b.verdict}, gradient ratio {short(diff.b.gradient_ratio)}"),
        Figure("differ", "differ", f"{len(diff.differing)} of {len(diff.layers)} layers differ"
               + (f"; most: {diff.layers[0].name} ({diff.layers[0].metric})" if diff.differing else
                  f" (tolerance {diff.tolerance:g} decades)")),
    ]
    styled = fmt is Format.table
    out = render.console()
    _headline(out, f"dlcli diff --model {c.model} --weights {diff.paths[0]} --weights {diff.paths[1]}", figures,
              styled)
    columns = ["#", "layer", "score", "metric", "‖ΔW‖/‖W_A‖", "‖∂W‖ A", "‖∂W‖ B", "‖∂W‖ B/A"]
    cells = [[str(rank), x.name, short(x.score), x.metric or "", _opt(x.weight_change), _grad(x.grad_norm_a,
              x.gradient_a), _grad(x.grad_norm_b, x.gradient_b), _opt(x.grad_ratio)]
             for rank, x in enumerate(diff.layers, start=1)]
    out.file.write("\nlayers, the most changed first\n")
    note = ("score: the larger of log10(1 + ‖ΔW‖/‖W_A‖) and |log10(B/A)| of ‖∂W‖, in decades; 0: the checkpoints "
            "agree")
    if not styled:
        out.file.write("\t".join(columns) + "\n" + "".join("\t".join(row) + "\n" for row in cells) + f"  {note}\n")
        out.file.flush()
        return
    out.file.flush()
    table = render.make_table(">#", "layer", ">score", "metric", ">‖ΔW‖/‖W_A‖", ">‖∂W‖ A", ">‖∂W‖ B",
                              ">‖∂W‖ B/A", drop=("metric",), fold=("layer",))
    for row in cells:
        table.add_row(*row)
    render.print_renderable(table)
    render.print_paragraph(out, note, indent=2, hang=2)


def _opt(x: float | None) -> str:
    from dlcli.runs.views import short

    return "–" if x is None else short(x)


def _grad(x: float | None, status: str) -> str:
    return status if x is None else _opt(x)
