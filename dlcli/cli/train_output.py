"""What `dlcli train` prints: tables, curves and heat maps of each run, and the verdict; JSON, CSV, plain."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.cli import render
from dlcli.cli.render import Format
from dlcli.train.result import TrainResult

EPOCH_COLUMNS = ["epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy"]
LAYER_COLUMNS = ["layer", "name", "weight_grad_norm", "update_ratio", "update_norm", "dead_frac", "act_std"]
TABLE_EPOCHS = 12   # longer runs show evenly spaced epochs in the table (all of them in other formats)


def label(r: TrainResult) -> str:
    return r.config.activation or str(r.config.model)


def show(results: list[TrainResult], fmt: Format, chart: bool, svg: str | None) -> None:
    if svg is not None:
        _write_svg(results, svg)
        if svg == "-":  # the SVG is the data on stdout
            return
    if fmt is Format.json:
        docs = [r.as_dict() for r in results]
        render.write_json(docs[0] if len(docs) == 1 else docs)
        return
    if fmt in (Format.csv, Format.plain):
        header = ["run", *EPOCH_COLUMNS, *LAYER_COLUMNS]
        rows = ([label(r), *_epoch_values(e), *_layer_values(layer)] for r in results for e in r.epochs
                for layer in e.layers)
        if fmt is Format.csv:
            render.message(f"seed: {results[0].config.seed}")
            render.write_csv(header, rows)
            for r in results:
                render.message(f"{label(r)}: {r.verdict}")
            return
        f = render.fmt_float
        lines = ["\t".join(header)]
        lines += ["\t".join(f(v) if isinstance(v, float) else "n/a" if v is None else str(v) for v in row)
                  for row in rows]
        for r in results:
            last = r.epochs[-1] if r.epochs else r.initial
            lines.append(f"# {label(r)}: learning_speed_ratio {f(r.learning_speed_ratio)}, test_accuracy "
                         f"{f(last.test_accuracy)}, seed {r.config.seed}: {r.verdict}")
        render.write_plain(lines)
        return
    _show_table(results, chart)


def _epoch_values(e: Any) -> list[Any]:
    return [e.epoch, e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy]


def _layer_values(layer: Any) -> list[Any]:
    return [layer.layer, layer.name, layer.weight_grad_norm, layer.update_ratio, layer.update_norm, layer.dead_frac,
            layer.act_std]


def _ratio(value: float | None) -> str:
    """An update ratio for the table; 'n/a' where the weights started at zero (no ratio; see update_norm)."""
    return "n/a" if value is None else render.fmt_short(value, 3)


def config_lines(r: TrainResult) -> list[str]:
    """The network, the data and the training, one line each."""
    c = r.config
    d = r.data
    if c.built:
        hidden = len(c.widths) - 2
        inner = set(c.widths[1:-1])
        plural = "s" if hidden > 1 else ""
        shape = (f"{hidden} hidden layer{plural} × {c.widths[1]}" if len(inner) == 1 else
                 f"layers {','.join(map(str, c.widths))}") if hidden else "no hidden layer"
        gain = f" (gain {c.gain:.4g})" if c.init != "default" or c.gain != 1 else ""
        net = f"network: {shape} + linear head, init {c.init}{gain}"
    else:
        net = f"network: {c.model}"
    batch = "full batch" if c.batch is None else f"batch {c.batch}"
    scaled = "standardized" if d["standardized"] else "as given"
    data = (f"data: {c.data}, {d['train']} train / {d['test']} test ({d['split']}), {d['features']} features "
            f"{scaled}, {d['classes']} classes")
    training = (f"training: {c.optimizer} lr {c.lr:g}, {batch}, {render.count(c.epochs, 'epoch')}, {c.loss}, "
                f"{c.dtype}/{c.device}, seed {c.seed}")
    return [net, data, training]


def _shown_epochs(n: int) -> list[int]:
    if n <= TABLE_EPOCHS:
        return list(range(n))
    return sorted({round(i * (n - 1) / (TABLE_EPOCHS - 1)) for i in range(TABLE_EPOCHS)})


def _show_table(results: list[TrainResult], chart: bool) -> None:
    from rich.text import Text

    s = render.fmt_short
    out = render.console()
    for line in config_lines(results[0]):
        out.print(Text(line, style="bold"))
    table = render.make_table("run", ">epoch", ">train loss", ">train acc", ">test loss", ">test acc",
                              ">layer 1 update", ">last update")
    for r in results:
        for n, i in enumerate(_shown_epochs(len(r.epochs))):
            e = r.epochs[i]
            table.add_row(label(r) if n == 0 else "", str(e.epoch), s(e.train_loss, 4), f"{e.train_accuracy:.3f}",
                          s(e.test_loss, 4), f"{e.test_accuracy:.3f}", _ratio(e.layers[0].update_ratio),
                          _ratio(e.layers[-1].update_ratio))
    render.print_renderable(table)
    if chart and any(r.epochs for r in results):
        from dlcli.cli.plot import print_chart

        print_chart(_curves(results, "loss"), 60, 10)
        print_chart(_curves(results, "accuracy"), 60, 8)
        _print_heatmaps(results)
    for r in results:
        _print_summary(out, r)


def _curves(results: list[TrainResult], what: str) -> Any:
    from dlcli.charts import canvas

    series = []
    for r in results:
        x = np.array([e.epoch for e in r.epochs], dtype=float)
        for side in ("train", "test"):
            y = np.array([getattr(e, f"{side}_{what}") for e in r.epochs])
            series.append(canvas.Series(f"{label(r)} {side}", x, y))
    epochs = max(len(r.epochs) for r in results)
    if what == "loss":
        return canvas.Chart(series, title="loss per epoch (log scale)", x_label="epoch",
                            x_range=(1.0, float(max(epochs, 2))), log_y=True)
    return canvas.Chart(series, title="accuracy per epoch", x_label="epoch", x_range=(1.0, float(max(epochs, 2))),
                        y_range=(0.0, 1.0))


def heatmap(r: TrainResult) -> Any:
    from dlcli.charts.heatmap import HeatMap

    values = np.array([[np.nan if layer.update_ratio is None else layer.update_ratio  # n/a: blank cell
                        for e in r.epochs for layer in e.layers if layer.layer == row + 1]
                       for row in range(len(r.rows))])
    names = [f"{i + 1} {name}" for i, name in enumerate(r.rows)]
    return HeatMap(values, names, [str(e.epoch) for e in r.epochs],
                   title=f"{label(r)}: update ratio ‖ΔW‖/‖W‖ per epoch (log scale; layer 1 = input side)",
                   x_label="epoch")


def _print_heatmaps(results: list[TrainResult]) -> None:
    from dlcli.charts import heatmap as hm
    from dlcli.cli.plot import print_heat

    runs = [r for r in results if r.epochs]
    span = hm.positive_span([heatmap(r) for r in runs])  # one scale for every run: characters compare across
    for r in runs:
        cell = max(1, min(4, 60 // len(r.epochs)))
        print_heat(hm.draw(heatmap(r), cell=cell, span=span))


def _print_summary(out: Any, r: TrainResult) -> None:
    from rich.text import Text

    head = Text()
    head.append(f"{label(r)}: ", style="bold")
    slow = r.learning_speed_ratio < 1e-2
    head.append(r.verdict, style="bold yellow" if slow else "bold green")
    out.print(head)
    for line in r.explanation:
        out.print(f"  {line}")


def _write_svg(results: list[TrainResult], path: str) -> None:

    from dlcli.charts.heatmap import positive_span, stack_svgs
    from dlcli.charts.heatmap import to_svg as heat_svg
    from dlcli.charts.svg import to_svg

    with_epochs = [r for r in results if r.epochs]
    docs = [to_svg(_curves(with_epochs, "loss")), to_svg(_curves(with_epochs, "accuracy"))] if with_epochs else []
    span = positive_span([heatmap(r) for r in with_epochs])
    docs += [heat_svg(heatmap(r), span=span) for r in with_epochs]
    text = stack_svgs(docs)
    render.write_file(path, text, "--svg file")
    if path != "-":
        render.message(f"saved {path}")
