"""`dlcli vanish --phase`: the order-to-chaos diagram drawn in the terminal, as data, or as SVG (no torch)."""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

from dlcli.cli import render
from dlcli.cli.render import Format

if TYPE_CHECKING:
    from dlcli.vanish.phase import PhaseDiagram

# cell characters by depth scale ξ: ordered (χ1 < 1) then chaotic (χ1 > 1), ξ < 1, 1-3, 3-10, 10-30, ≥ 30
ORDERED = " .:-="
CHAOTIC = "@#*+~"


def show(name: str, params: dict[str, str], init: str, gain: float | None, bias_std: float | None,
         depth: int | None, fmt: Format, svg: str | None) -> None:
    from dlcli import activations
    from dlcli.vanish.config import make_config
    from dlcli.vanish.phase import phase_diagram

    config = make_config(name, params=params, init=init, gain=gain, bias_std=bias_std, depth=depth, seed=0)
    spec = config.layer_specs()[0]
    act = activations.get(config.activation)
    diagram = phase_diagram(act, config.params, point=(spec.sigma_w2, spec.sigma_b2))
    if svg is not None:
        render.write_file(svg, to_svg(diagram), "--svg file")
        if svg == "-":  # the SVG is the data on stdout
            return
        render.message(f"saved {svg}")
    if fmt is Format.json:
        render.write_json(diagram.as_dict())
    elif fmt in (Format.plain, Format.csv):
        rows = [[b, w] for b, w in zip(diagram.sigma_b2, diagram.critical, strict=True)]
        if fmt is Format.csv:
            render.write_csv(["sigma_b2", "critical_sigma_w2"], rows)
        else:
            f = render.fmt_float
            lines = ["sigma_b2\tcritical_sigma_w2"] + [f"{f(b)}\t{'none' if w is None else f(w)}" for b, w in rows]
            p = diagram.point or {}
            lines.append(f"# {diagram.activation}: point sigma_w2 {f(p['sigma_w2'])}, sigma_b2 {f(p['sigma_b2'])}, "
                         f"chi1 {f(p['chi1'])}, depth_scale {f(p['depth_scale'])}, q_star {f(p['q_star'])}")
            render.write_plain(lines)
    else:
        _print_map(diagram, depth or config.depth)


def _cell(chi: float) -> str:
    if not math.isfinite(chi) or chi <= 0:
        return ORDERED[0] if chi <= 0 else CHAOTIC[0]
    xi = math.inf if chi == 1 else 1.0 / abs(math.log(chi))
    band = 0 if xi < 1 else 1 if xi < 3 else 2 if xi < 10 else 3 if xi < 30 else 4
    return (ORDERED if chi < 1 else CHAOTIC)[band]


def _print_map(d: PhaseDiagram, depth: int) -> None:
    from rich.text import Text

    out = render.console()
    s = render.fmt_short
    out.print(Text(f"{d.activation}: χ1 over (σ_w², σ_b²), order (χ1 < 1) to chaos (χ1 > 1); "
                   f"| the critical line χ1 = 1, X your point", style="bold"))
    w = d.sigma_w2
    step = w[1] - w[0]
    point = d.point
    px = None if point is None else int(round((point["sigma_w2"] - w[0]) / step))
    py = None if point is None else int(round(point["sigma_b2"] / (d.sigma_b2[1] - d.sigma_b2[0])))
    for i in range(len(d.sigma_b2) - 1, -1, -1):
        chars = [_cell(float(c)) for c in d.chi1[i]]
        styles = ["blue" if c < 1 else "red" for c in d.chi1[i]]
        crit = d.critical[i]
        if crit is not None and w[0] - step / 2 <= crit <= w[-1] + step / 2:
            j = int(round((crit - w[0]) / step))
            chars[j], styles[j] = "|", "bold"
        if py == i and px is not None and 0 <= px < len(chars):
            chars[px], styles[px] = "X", "bold green"
        label = f"{d.sigma_b2[i]:.2f} " if i % 5 == 0 else "     "
        line = Text(label)
        for ch, st in zip(chars, styles, strict=True):
            line.append(ch, style=st)
        out.print(line)
    axis = [" "] * len(w)
    ticks = ""
    for value in range(0, int(w[-1]) + 1, max(1, int(w[-1]) // 5)):
        j = int(round((value - w[0]) / step))
        if 0 <= j < len(w):
            axis[j] = "+"
    out.print("     " + "".join(axis))
    positions = [(int(round((v - w[0]) / step)), str(v)) for v in range(0, int(w[-1]) + 1, max(1, int(w[-1]) // 5))]
    for j, text in positions:
        if j >= len(ticks) and 0 <= j < len(w):
            ticks += " " * (j - len(ticks)) + text
    out.print("     " + ticks + "  σ_w² →   (rows: σ_b²)")
    out.print("  contours of ξ = 1/|ln χ1|, the depth scale (trainable depth ≈ 6ξ):")
    out.print(f"  ordered  ' ' ξ < 1, '{ORDERED[1]}' 1–3, '{ORDERED[2]}' 3–10, '{ORDERED[3]}' 10–30, "
              f"'{ORDERED[4]}' ≥ 30 (6ξ ≥ 180 layers)")
    out.print(f"  chaotic  '{CHAOTIC[0]}' ξ < 1, '{CHAOTIC[1]}' 1–3, '{CHAOTIC[2]}' 3–10, '{CHAOTIC[3]}' 10–30, "
              f"'{CHAOTIC[4]}' ≥ 30")
    crit0, crit1 = d.critical[0], d.critical[-1]
    out.print(f"  critical σ_w²: {'none' if crit0 is None else s(crit0, 5)} at σ_b² = 0, "
              f"{'none' if crit1 is None else s(crit1, 5)} at σ_b² = {d.sigma_b2[-1]:g}")
    if point is not None:
        xi = point["depth_scale"]
        side = "ordered: gradients vanish" if point["chi1"] < 1 else "chaotic: gradients explode" \
            if point["chi1"] > 1 else "critical"
        out.print(f"  X: σ_w² = {s(point['sigma_w2'], 4)}, σ_b² = {s(point['sigma_b2'], 4)}: χ1 = "
                  f"{s(point['chi1'], 4)} ({side}), ξ = {s(xi, 3)} layers, trainable to about {s(6 * xi, 3)} "
                  f"layers{'' if 6 * xi >= depth else f' (fewer than --depth {depth})'}.")


def to_svg(d: PhaseDiagram, width: int = 720, height: int = 440) -> str:
    """χ1 as coloured cells (blue ordered, red chaotic, by ln χ1), the critical line, ξ contours, the point."""
    left, right, top, bottom = 60, 20, 30, 50
    pw, ph = width - left - right, height - top - bottom
    w, b = d.sigma_w2, d.sigma_b2
    w_lo, w_hi = 0.0, float(w[-1])
    b_lo, b_hi = 0.0, float(b[-1])

    def sx(x: float) -> float:
        return left + (x - w_lo) / (w_hi - w_lo) * pw

    def sy(y: float) -> float:
        return top + (b_hi - y) / (b_hi - b_lo) * ph

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{left}" y="18" font-size="14">{escape(d.activation)}: χ1 over (σ_w², σ_b²); '
             f'black: χ1 = 1; grey: ξ = {", ".join(f"{x:g}" for x in d.contours)} (depth ≈ 6ξ)</text>']
    cw, chh = pw / len(w), ph / max(len(b) - 1, 1)
    for i, row in enumerate(d.chi1):
        for j, c in enumerate(row):
            level = max(-1.0, min(1.0, math.log(c) / 2.0)) if c > 0 and math.isfinite(c) else \
                (-1.0 if c <= 0 else 1.0)
            shade = int(255 * (1 - abs(level)))
            colour = f"rgb({shade},{shade},255)" if level < 0 else f"rgb(255,{shade},{shade})"
            parts.append(f'<rect x="{sx(float(w[j])) - cw:.1f}" y="{sy(float(b[i])) - chh / 2:.1f}" '
                         f'width="{cw + 0.5:.1f}" height="{chh + 0.5:.1f}" fill="{colour}"/>')

    def polyline(points: list[tuple[float, float]], style: str) -> None:
        if len(points) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" {style}/>')

    polyline([(c, float(y)) for c, y in zip(d.critical, b, strict=True) if c is not None and c <= w_hi],
             'stroke="black" stroke-width="2"')
    for xi, line in d.contours.items():
        for side in (0, 1):
            points = [(pair[side], float(y)) for pair, y in zip(line, b, strict=True) if pair[side] is not None]
            polyline(points, 'stroke="#555" stroke-dasharray="4 3"')
            if points:
                x, y = points[-1]
                parts.append(f'<text x="{sx(x):.1f}" y="{sy(y) - 3:.1f}" font-size="10" fill="#333" '
                             f'text-anchor="middle">ξ={xi:g} (≈{6 * xi:g} layers)</text>')
    if d.point is not None:
        parts.append(f'<circle cx="{sx(d.point["sigma_w2"]):.1f}" cy="{sy(d.point["sigma_b2"]):.1f}" r="5" '
                     f'fill="#2ca02c" stroke="black"/>')
    for k in range(6):
        x = w_lo + k * (w_hi - w_lo) / 5
        parts.append(f'<text x="{sx(x):.1f}" y="{top + ph + 18}" text-anchor="middle">{x:.3g}</text>')
        y = b_lo + k * (b_hi - b_lo) / 5
        parts.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.3g}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 10}" text-anchor="middle">σ_w²</text>')
    parts.append(f'<text x="14" y="{top + ph / 2}" transform="rotate(-90 14 {top + ph / 2})" '
                 f'text-anchor="middle">σ_b²</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
