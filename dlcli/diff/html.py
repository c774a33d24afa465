"""`dlcli diff --html`: the diff of two runs as one self-contained page, built like `dlcli report`'s (its style,
policy and inline SVG from dlcli.runs.html): the headline, the ranked layers, both loss curves and the heat maps
of the difference."""

from __future__ import annotations

from html import escape
from typing import Any

from dlcli.charts.heatmap import positive_span
from dlcli.charts.heatmap import to_svg as heat_svg
from dlcli.charts.svg import to_svg as chart_svg
from dlcli.diff import views
from dlcli.runs.html import CSS, HEAT_COLUMNS, LOSS_POINTS, document, inline_svg
from dlcli.runs.views import short

TABLE_CSS = """
.dlcli-report table.layers{border-collapse:collapse;font-variant-numeric:tabular-nums}
.dlcli-report table.layers th,.dlcli-report table.layers td{padding:.2em .7em;border-bottom:1px solid #d0d7de;
  text-align:right}
.dlcli-report table.layers th:nth-child(2),.dlcli-report table.layers td:nth-child(2),
.dlcli-report table.layers th:nth-child(4),.dlcli-report table.layers td:nth-child(4){text-align:left}
"""


def page(diff: Any) -> str:
    """The whole page, to open offline in any browser."""
    return document(f"dlcli diff: {diff.a.run.path} vs {diff.b.run.path}", fragment(diff))


def fragment(diff: Any) -> str:
    parts = ['<div class="dlcli-report">', f"<style>{CSS}{TABLE_CSS}</style>",
             f"<h1>dlcli diff: <code>{escape(diff.a.run.path)}</code> vs <code>{escape(diff.b.run.path)}</code></h1>",
             _headline(diff), _layers(diff), _loss(diff), "<h2>Difference, layers × steps</h2>"]
    maps = {metric: views.heat_map(diff, metric, HEAT_COLUMNS) for metric in views.HEAT_METRICS}
    span = positive_span(list(maps.values()))   # one colour scale: the maps compare at a glance
    parts += [_heat(metric, hm, span) for metric, hm in maps.items()]
    parts.append(f"<footer>{escape(views.SCORE)}. Every figure is in <code>dlcli diff {escape(diff.a.run.path)} "
                 f"{escape(diff.b.run.path)} --format json</code>.</footer>")
    parts.append("</div>\n")
    return "\n".join(parts)


def _headline(diff: Any) -> str:
    rows = [f'<tr><th>{escape(f.label)}</th><td data-key="{f.key}">{escape(f.text)}</td></tr>'
            for f in views.headline(diff)]
    return '<table class="headline">\n' + "\n".join(rows) + "\n</table>"


def _layers(diff: Any) -> str:
    head = "<h2>Layers that differ most</h2>"
    if not diff.differing:
        return head + '\n<p class="empty">None: the runs agree on every layer and aligned step.</p>'
    rows = ["<tr><th>#</th><th>layer</th><th>score</th><th>metric</th><th>from step</th><th>B/A</th><th>A</th>"
            "<th>B</th><th>at step</th></tr>"]
    for rank, x in enumerate(diff.differing, start=1):
        top = x.top
        rows.append(f'<tr data-layer="{escape(x.name)}"><td>{rank}</td><td><code>{escape(x.name)}</code></td>'
                    f"<td>{short(x.score)}</td><td>{escape(str(x.metric))}</td><td>{top.step:,}</td>"
                    f"<td>{escape(views.factor(top.a, top.b))}</td>"
                    f"<td>{short(top.a)}</td><td>{short(top.b)}</td><td>{top.peak_step:,}</td></tr>")
    return (head + f'\n<p>{escape(views.SCORE)}.</p>\n<table class="layers">\n' + "\n".join(rows) + "\n</table>")


def _loss(diff: Any) -> str:
    head = "<h2>Loss</h2>"
    chart = views.loss_chart(diff, LOSS_POINTS)
    if chart is None:
        return head + f'\n<p class="empty">Loss: {escape(views.loss_text(diff))}.</p>'
    return head + "\n<figure>" + inline_svg(chart_svg(chart, width=900, height=320)) + "</figure>"


def _heat(metric: str, hm: Any, span: tuple[float, float] | None) -> str:
    caption = f"<figcaption><b>{escape(metric)}</b>: {escape(views.MEANING[metric])}, in decades.</figcaption>"
    note = views.empty_note(hm)
    if note is not None:
        return f'<figure class="heat" data-metric="{metric}">{caption}<p class="empty">{escape(note)}.</p></figure>'
    return f'<figure class="heat" data-metric="{metric}">{caption}' + inline_svg(heat_svg(hm, width=900, span=span)) \
        + "</figure>"
