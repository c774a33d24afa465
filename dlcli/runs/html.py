"""The report as HTML: one self-contained page (inline SVG and CSS; no script, font or picture fetched, and a
Content-Security-Policy that forbids fetching any) with the headline, the findings, a heat map per main metric
and the loss curve. `fragment` is the same report without the page around it (a notebook's `_repr_html_`)."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from dlcli.charts.heatmap import to_svg as heat_svg
from dlcli.charts.svg import to_svg as chart_svg
from dlcli.runs import views

HEAT_COLUMNS = 180     # samples beyond this many share columns (the page stays small for long runs)
LOSS_POINTS = 2000     # the loss curve's points at most (each bin's lowest and highest kept)
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
.dlcli-report{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  color:#1f2328;background:#fff;max-width:980px;margin:0 auto;padding:16px 20px;line-height:1.45}
.dlcli-report h1{font-size:1.45em;margin:0 0 .5em}
.dlcli-report h2{font-size:1.15em;margin:1.6em 0 .5em;padding-bottom:.2em;border-bottom:1px solid #d0d7de}
.dlcli-report code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;
  background:#f3f4f6;padding:0 .25em;border-radius:3px}
.dlcli-report table.headline{border-collapse:collapse}
.dlcli-report table.headline th{text-align:left;font-weight:600;color:#57606a;padding:.15em 1.2em .15em 0;
  vertical-align:top}
.dlcli-report table.headline td{padding:.15em 0}
.dlcli-report .verdict{font-weight:700}
.dlcli-report .verdict-healthy{color:#1a7f37}
.dlcli-report .verdict-bad{color:#cf222e}
.dlcli-report .banner{margin:.8em 0;padding:.5em .8em;border-left:4px solid #bf8700;background:#fff8c5}
.dlcli-report ol.findings{padding-left:1.6em}
.dlcli-report ol.findings li{margin:.35em 0}
.dlcli-report .severity{display:inline-block;min-width:3.6em;margin-right:.4em;padding:0 .3em;border-radius:3px;
  font-size:.78em;font-weight:700;text-align:center;text-transform:uppercase}
.dlcli-report .severity-alarm{background:#ffebe9;color:#cf222e}
.dlcli-report .severity-note{background:#ddf4ff;color:#0969da}
.dlcli-report .where{color:#57606a;font-size:.9em;margin-right:.4em}
.dlcli-report figure{margin:1em 0 1.6em}
.dlcli-report figcaption{color:#57606a;font-size:.9em;margin-bottom:.3em}
.dlcli-report svg{display:block;max-width:100%;height:auto}
.dlcli-report .empty{color:#57606a;font-style:italic}
.dlcli-report footer{margin-top:2.5em;color:#6e7781;font-size:.8em}
"""


def page(report: Any) -> str:
    """The whole page, to open offline in any browser."""
    return document(f"dlcli report: {report.run.path}", fragment(report))


def document(title: str, body: str) -> str:
    """A self-contained page around `body`: its Content-Security-Policy forbids every fetch and script."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(title)}</title>\n<style>body{{margin:0;background:#fff}}</style>\n</head>\n<body>\n"
            + body + "</body>\n</html>\n")


def fragment(report: Any) -> str:
    """The report as one <div> holding its own (scoped) style: for a page, or a notebook cell's output."""
    run = report.run
    parts = ['<div class="dlcli-report">', f"<style>{CSS}</style>",
             f"<h1>dlcli report: <code>{escape(run.path)}</code></h1>"]
    if run.status != "finished":
        parts.append(f'<p class="banner">This run {escape(views.status_text(report))}.</p>')
    parts.append(_headline(report))
    parts.append(_findings(report))
    parts.append(_loss(report))
    parts.append("<h2>Layers × steps</h2>")
    for metric in views.MAIN_METRICS:
        parts.append(_heat(report, metric))
    parts.append(_footer(report))
    parts.append("</div>\n")
    return "\n".join(parts)


def _headline(report: Any) -> str:
    rows = []
    for f in views.headline(report):
        attrs = f' data-key="{f.key}"'
        if f.key == "verdict":
            good = report.verdict == "healthy"
            attrs += f' class="verdict {"verdict-healthy" if good else "verdict-bad"}"'
        rows.append(f"<tr><th>{escape(f.label)}</th><td{attrs}>{escape(f.text)}</td></tr>")
    if report.nonfinite is not None:
        nf = report.nonfinite
        module = f" in <code>{escape(str(nf['module']))}</code>" if nf.get("module") else ""
        rows.append(f'<tr><th>non-finite</th><td data-key="nonfinite">first non-finite gradient at step '
                    f"{int(nf['step']):,}{module}</td></tr>")
    return '<table class="headline">\n' + "\n".join(rows) + "\n</table>"


def _findings(report: Any) -> str:
    head = "<h2>Findings</h2>"
    if not report.findings:
        return head + '\n<p class="empty">Nothing found: no alarm or note on the recorded steps.</p>'
    items = []
    for f in report.findings:
        where = views.where(f)
        items.append(f'<li class="finding-{escape(f.kind)}"><span class="severity severity-{escape(f.severity)}">'
                     f"{escape(f.severity)}</span>"
                     + (f'<span class="where">{escape(where)}:</span>' if where else "") + _text(f.text) + "</li>")
    return head + '\n<ol class="findings">\n' + "\n".join(items) + "\n</ol>"


def _text(text: str) -> str:
    """A finding's text, escaped, with its `quoted` module names as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def _loss(report: Any) -> str:
    head = "<h2>Loss</h2>"
    chart = views.loss_chart(report, LOSS_POINTS)
    if chart is None:
        return head + f'\n<p class="empty">Loss: {escape(views.no_loss(report))}.</p>'
    return head + "\n<figure>" + inline_svg(chart_svg(chart, width=900, height=320)) + "</figure>"


def _heat(report: Any, metric: str) -> str:
    hm = views.heat_map(report, metric, "auto", HEAT_COLUMNS)
    caption = (f"<figcaption><b>{escape(metric)}</b>: {escape(views.MEANING[metric])} at each sampled step "
               f"({views.BLANK}).</figcaption>")
    note = views.empty_note(hm, metric)
    if note is not None:
        return f'<figure class="heat" data-metric="{metric}">{caption}<p class="empty">{escape(note)}.</p></figure>'
    return f'<figure class="heat" data-metric="{metric}">{caption}' + inline_svg(heat_svg(hm, width=900)) + "</figure>"


def inline_svg(svg: str) -> str:
    """A standalone SVG document as inline SVG in HTML (which needs no namespace declaration)."""
    return svg.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1).strip()


def _footer(report: Any) -> str:
    cfg = report.run.config
    bits = [f"dlcli {cfg['dlcli']}" if cfg.get("dlcli") else "dlcli"]
    bits += [f"{k} {cfg[k]}" for k in ("torch", "python", "device", "dtype") if cfg.get(k)]
    if cfg.get("started"):
        bits.append(f"started {cfg['started']}")
    return f"<footer>Recorded with {escape(' · '.join(bits))}. Every figure is in " \
           f"<code>dlcli report {escape(report.run.path)} --format json</code>.</footer>"
