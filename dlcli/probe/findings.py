"""From rows to words: the verdict, alarms (what is wrong and where), findings, and advice offered only where its
check improves the measure that raised the alarm. Gradients are compared per tensor between connected modules."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from dlcli import activations
from dlcli.errors import count
from dlcli.probe.graph import reachable
from dlcli.probe.result import Alarm, Check, ModuleStats
from dlcli.vanish import meanfield
from dlcli.vanish.analysis import EXPLODING_ABOVE, VANISHING_BELOW, _ratio, _short, verdict
from dlcli.vanish.config import DEFAULT_GAIN

NOTABLE = 0.05  # dead or saturated shares from 5% up are findings
DEAD_ALARM = 0.5  # half a layer's units dead is an alarm
NEAR_ZERO = 1e-4  # ‖∂W‖/‖W‖ this far below the median layer's is a near-zero gradient
LIVE = ("ok", "indirect")


@dataclass
class Structure:
    """The pass's structure in module names: who feeds whom, and rows whose path to the loss is scaled to (near)
    zero: name -> (the scale parameters, whether a scale learns, whether a gradient passes around it)."""

    edges: set[tuple[str, str]] = field(default_factory=set)
    scaled: dict[str, tuple[str, bool, bool]] = field(default_factory=dict)
    logits: set[str] = field(default_factory=set)   # rows whose gradient comes only through a softmax (q, k)

    def downstream(self, name: str) -> set[str]:
        return reachable(self.edges, name)

    def to_output(self) -> dict[str, int]:
        """Each connected row's distance (in modules) to the output side: 0 for a row that feeds no other."""
        feeding: dict[str, set[str]] = {}
        names = {n for e in self.edges for n in e}
        sources = {src for src, _ in self.edges}
        for src, dst in self.edges:
            feeding.setdefault(dst, set()).add(src)
        dist = {n: 0 for n in names - sources}
        todo = list(dist)
        while todo:
            n = todo.pop(0)
            for src in feeding.get(n, ()):
                if src not in dist:
                    dist[src] = dist[n] + 1
                    todo.append(src)
        return dist


def small_gradient_rows(rows: list[ModuleStats]) -> list[ModuleStats]:
    """Rows whose weights get a zero gradient, or (dense layers, norms, scales) one NEAR_ZERO below the largest
    dense layer's, per tensor (‖∂W‖/‖W‖)."""
    rel = [
        r.grad_to_weight
        for r in rows
        if r.gradient in LIVE and r.matrix and r.grad_to_weight and math.isfinite(r.grad_to_weight)
    ]
    top = max(rel) if rel else 0.0
    return [
        r
        for r in rows
        if r.gradient in LIVE
        and r.grad_to_weight is not None
        and r.weight_grad_norm is not None
        and math.isfinite(r.weight_grad_norm)
        and (r.weight_grad_norm == 0 or (top > 0 and r.grad_to_weight < NEAR_ZERO * top and "Embedding" not in r.type))
    ]


@dataclass
class Concluded:
    gradient_ratio: float
    grad_rms_ratio: float
    between: tuple[str, str] | None
    verdict: str
    alarms: list[Alarm]
    findings: list[str]

    def advise(
        self, rows: list[ModuleStats], init: str, gain: float | None, check: Callable[[str, float], Check] | None
    ) -> tuple[list[str], list[Check]]:
        """Advice for the alarms a re-initialisation could fix, each checked by re-running: offered only where
        the check improves the measure that raised the alarm."""
        kinds = {a.kind for a in self.alarms}
        if not self.alarms:
            return ["No alarm: nothing to fix here."], []
        if "non_finite" in kinds or not kinds & {"vanishing", "exploding", "dead"} or check is None:
            return [], []
        dead = max((r.dead_frac for r in rows if r.dead_frac is not None), default=0.0)
        checks = []
        for cand_init, cand_gain in _candidates(rows, init, gain):
            c = check(cand_init, cand_gain)
            if kinds & {"vanishing", "exploding"}:
                comparable = c.gradient_ratio > 0 and self.gradient_ratio > 0 and math.isfinite(c.gradient_ratio)
                helped = (
                    comparable
                    and c.verdict == "healthy"
                    and abs(math.log(c.gradient_ratio)) < abs(math.log(self.gradient_ratio))
                )
            else:
                helped = c.dead_max <= 0.5 * dead
            checks.append(Check(c.init, c.gain, c.gradient_ratio, c.grad_rms_ratio, c.verdict, c.dead_max, helped,
                                c.seconds))
        lines = [
            f"Checked: {c.option()} on the same batch and loss measures gradient_ratio {_short(c.gradient_ratio)} "
            f"({c.verdict}), dead units up to {c.dead_max:.0%}: "
            + ("it helps." if c.helped else "tried, did not help.")
            for c in checks
        ]
        good = [c for c in checks if c.helped]
        if good:
            best = min(good, key=lambda c: abs(math.log(c.gradient_ratio)) if c.gradient_ratio > 0 else math.inf)
            lines.append(f"To try: {best.option()} (checked above).")
        else:
            lines.append(
                "No re-initialisation tried here fixes it; what is left changes the model (not checked here): "
                + (
                    "leaky_relu or elu against dead units, a normalisation layer, residual connections."
                    if "dead" in kinds
                    else "relu with kaiming-scaled weights, a normalisation layer, residual connections."
                )
            )
        acts = {r.activation for r in rows if r.activation}
        if acts & {"sigmoid", "tanh", "softsign", "hardtanh", "hardsigmoid"} and not good and "vanishing" in kinds:
            lines.append(
                "Saturating activations (sigmoid, tanh) multiply the gradient by at most max|φ'| per layer: "
                "relu or gelu with kaiming-scaled weights keep it (changes the model: not checked here)."
            )
        return lines, checks


def conclude(rows: list[ModuleStats], structure: Structure, output_finite: bool = True,
             loss_finite: bool = True) -> Concluded:
    """The verdict, the alarms and the findings of one pass (`output_finite`, `loss_finite`: whether the output
    the loss was taken of, and the loss, hold no NaN/inf)."""
    alarms: list[Alarm] = []
    lines: list[str] = []
    bad_out = [r for r in rows if r.nonfinite_output]
    bad_grad = [r for r in rows if r.nonfinite_grad]
    if bad_out or bad_grad or not output_finite or not loss_finite:
        called = [r for r in rows if r.calls]
        last = max(called, key=lambda r: r.layer) if called else rows[-1]
        if bad_out:
            first = bad_out[0]
            text = f"NaN or inf first appears in the forward pass at {first.name} ({first.type})."
        elif not output_finite:
            first = last
            text = (f"NaN or inf first appears in the forward pass after {first.name} ({first.type}), the last "
                    "module with weights to run: every such module's output is finite, the model's output is not "
                    "(made outside those modules, e.g. a log, a division or a mask in forward).")
        elif not loss_finite:
            first = last
            text = (f"The model's output is finite, but the loss of it is not (it overflowed): NaN or inf first "
                    f"appears at the loss, after {first.name} ({first.type}).")
        else:
            first = bad_grad[-1]
            text = f"NaN or inf first appears in the backward pass (output side first) at {first.name} ({first.type})."
        _alarm(alarms, lines, Alarm("non_finite", (first.name,), text))
        if bad_grad:
            verb = "gets" if len(bad_grad) == 1 else "get"
            lines.append(f"{count(len(bad_grad), 'module')} {verb} NaN or inf gradients; nothing else can be read "
                         "from them.")
        return Concluded(math.nan, math.nan, None, "non-finite", alarms, lines)
    ratio, rms_ratio, between, flow = _ends(rows, structure)
    v = verdict(ratio) if between else "healthy"
    out_pair = _output_gradients(rows, structure)
    if out_pair is not None and v == "healthy" and verdict(out_pair[0]) != "healthy":
        factor, low, high = out_pair
        kind = verdict(factor)
        text = (f"{kind.capitalize()} gradients: ‖∂loss/∂output‖ at {low} is {_short(factor)} times that at {high}, "
                f"which it feeds through modules of the same size (the weight gradients keep their size only "
                f"because the activations {'grow' if kind == 'exploding' else 'shrink'} as fast).")
        _alarm(alarms, lines, Alarm(kind, (low, high), text))
        v = kind
    if between is None:
        lines.append("No two connected dense layers both get a gradient: no gradient ratio to read.")
    else:
        lines.append(
            f"{between[0]}'s weight gradient is {_short(ratio)} times {between[1]}'s, the output-side "
            f"dense layer it feeds: {v} (below {VANISHING_BELOW:g} counts as vanishing, above "
            f"{EXPLODING_ABOVE:g} as exploding; per tensor, ‖∂W‖)."
        )
        if v != "healthy":
            _alarm(
                alarms,
                lines,
                Alarm(
                    v,
                    tuple(flow),
                    f"{v.capitalize()} gradients: "
                    + ", ".join(flow)
                    + f" get {'under' if v == 'vanishing' else 'over'} "
                    f"{VANISHING_BELOW if v == 'vanishing' else EXPLODING_ABOVE:g}× {between[1]}'s ‖∂W‖.",
                ),
            )
    if structure.logits:
        lines.append(f"{_few(sorted(structure.logits))}: their gradient reaches them only through an attention "
                     "softmax (queries and keys), small while attention is near uniform, as at initialisation; "
                     "not compared with the rest.")
    _small(rows, structure, alarms, lines)
    _units(rows, alarms, lines)
    _status(rows, alarms, lines)
    lines += _drops(rows, structure)
    lines += _theory_lines(rows)
    if v == "healthy" and alarms:
        v = "unhealthy"
    return Concluded(ratio, rms_ratio, between, v, alarms, lines)


def _ends(rows: list[ModuleStats], structure: Structure) -> tuple[float, float, tuple[str, str] | None, list[str]]:
    """‖∂W‖ of the input-side dense layer over that of the output-side dense layer it feeds (tied, zero and
    scaled-down rows left out), and the layers past the thresholds against the latter."""
    dense = [
        r for r in rows if r.matrix and r.gradient in LIVE and r.weight_grad_norm and r.name not in structure.scaled
    ]
    if not dense:
        return math.nan, math.nan, None, []
    dist = structure.to_output()
    connected = [r for r in dense if r.name in dist]
    if len(connected) >= 2:
        first = max(connected, key=lambda r: (dist[r.name], r.weight_grad_norm or 0.0))
        reach = structure.downstream(first.name)
        tops = [r for r in connected if r.name in reach]
        alike = [r for r in tops if _size(r) is not None and _size(r) == _size(first)]  # like with like
        last = min(alike or tops, key=lambda r: (dist[r.name], -r.layer)) if tops else first
        chain = [r for r in connected if r is first or r.name in reach]
    else:
        first, last, chain = dense[0], dense[-1], dense
    if first is last:
        return math.nan, math.nan, None, []
    ratio = _ratio(first.weight_grad_norm or 0.0, last.weight_grad_norm or 0.0)
    rms_ratio = _ratio(first.grad_rms or 0.0, last.grad_rms or 0.0) if first.grad_rms and last.grad_rms else math.nan
    top = last.weight_grad_norm or 0.0
    flow = [
        r.name
        for r in chain
        if top
        and ((r.weight_grad_norm or 0.0) < VANISHING_BELOW * top or (r.weight_grad_norm or 0.0) > EXPLODING_ABOVE * top)
    ]
    return ratio, rms_ratio, (first.name, last.name), flow or [first.name]


def _size(r: ModuleStats) -> int | None:
    """The number of elements of a row's output (from its gradient's norm and RMS)."""
    return round((r.grad_norm / r.grad_rms) ** 2) if r.grad_norm and r.grad_rms else None


def _output_gradients(rows: list[ModuleStats], structure: Structure) -> tuple[float, str, str] | None:
    """The most extreme ‖∂loss/∂output‖ ratio between a dense layer and one it feeds whose output has the same size
    (like with like), or None."""
    dense = [r for r in rows if r.matrix and r.grad_norm and r.grad_rms and r.name not in structure.scaled
             and r.name not in structure.logits and math.isfinite(r.grad_norm)]
    best: tuple[float, str, str] | None = None
    for a in dense:
        reach = structure.downstream(a.name)
        for b in dense:
            if b.name not in reach or _size(a) != _size(b) or not a.grad_norm or not b.grad_norm:
                continue
            factor = a.grad_norm / b.grad_norm
            if best is None or abs(math.log(factor)) > abs(math.log(best[0])):
                best = (factor, a.name, b.name)
    return best


def _small(rows: list[ModuleStats], structure: Structure, alarms: list[Alarm], lines: list[str]) -> None:
    """Zero and near-zero gradients, each with its reason where one can be seen."""
    deliberate: list[tuple[str, str]] = []
    cut: dict[str, list[str]] = {}
    feeders: dict[str, set[str]] = {}
    for src, dst in structure.edges:
        feeders.setdefault(dst, set()).add(src)
    dead_rows = {r.name for r in rows if r.dead_frac is not None and r.dead_frac >= 1.0}
    unexplained: list[ModuleStats] = []
    for r in small_gradient_rows(rows):
        if r.name in structure.logits:
            continue
        scaled = structure.scaled.get(r.name)
        if scaled is not None:
            scale, learns, around = scaled
            if learns and around:
                deliberate.append((scale, r.name))
            else:
                cut.setdefault(scale, []).append(r.name)
        elif (structure.downstream(r.name) | {r.name}) & dead_rows:
            dead = sorted((structure.downstream(r.name) | {r.name}) & dead_rows)
            _alarm(
                alarms,
                lines,
                Alarm(
                    "no_gradient",
                    tuple(dict.fromkeys((r.name, *dead))),
                    f"{r.name} gets no gradient: every unit of {', '.join(dead)} is dead (φ' = 0 on the whole batch).",
                ),
            )
        elif feeders.get(r.name, set()) & dead_rows:
            dead = sorted(feeders[r.name] & dead_rows)
            _alarm(
                alarms,
                lines,
                Alarm(
                    "no_gradient",
                    (r.name, *dead),
                    f"{r.name} gets no gradient: its input is zero, every unit of {', '.join(dead)} being dead.",
                ),
            )
        else:
            unexplained.append(r)
    if deliberate:
        names, scales = [n for _, n in deliberate], sorted({s for s, _ in deliberate})
        lines.append(
            f"{_few(names)} get a gradient far below the rest (zero or near zero): their residual branches "
            f"are scaled by {_few(scales, 2)} ≈ 0, deliberate zero-initialised scales (each gets a gradient "
            "itself and the trunk passes around it), so each block starts as the identity and its branch "
            "grows as the scale learns. Healthy."
        )
    for scale, names in cut.items():
        text = (
            f"{_few(names)} {'gets' if len(names) == 1 else 'get'} no gradient: every path to the loss passes "
            f"{scale} ≈ 0 with nothing around it (not a residual branch); set that scale to 1 or add the skip "
            "connection."
        )
        _alarm(alarms, lines, Alarm("no_gradient", (scale.rpartition(".")[0], *names), text))
    zero = [r.name for r in unexplained if r.weight_grad_norm == 0]
    tiny = [r.name for r in unexplained if r.weight_grad_norm]
    if zero:
        _alarm(
            alarms,
            lines,
            Alarm(
                "no_gradient",
                tuple(zero),
                f"{_few(zero)}: weight gradient exactly 0, though the "
                "module runs and its output reaches the loss (a zero weight or input downstream?).",
            ),
        )
    if tiny:
        text = (
            f"{_few(tiny)}: ‖∂W‖/‖W‖ over {1 / NEAR_ZERO:g} times below the median layer's, with no scale or "
            "dead layer to explain it."
        )
        _alarm(alarms, lines, Alarm("vanishing", tuple(tiny), text))


def _units(rows: list[ModuleStats], alarms: list[Alarm], lines: list[str]) -> None:
    dead = [r for r in rows if r.dead_frac is not None and r.dead_frac >= NOTABLE]
    if dead:
        lines.append(
            "Dead units (φ' = 0 on the whole batch): "
            + ", ".join(f"{r.name} → {r.activation} {r.dead_frac:.0%} of {r.width}" for r in dead)
            + "."
        )
    mostly = [r.name for r in dead if (r.dead_frac or 0.0) >= DEAD_ALARM]
    if mostly:
        _alarm(
            alarms,
            lines,
            Alarm(
                "dead",
                tuple(mostly),
                f"Half or more of the units are dead at {_few(mostly)}: they pass no gradient and do not learn.",
            ),
        )
    sat = [
        r
        for r in rows
        if r.saturated_frac is not None
        and r.saturated_frac >= NOTABLE
        and r.activation not in ("relu", "relu6", "threshold")
    ]
    if sat:
        acts = sorted({r.activation or "" for r in sat})
        lines.append(
            f"Saturated ({'/'.join(acts)} where |φ'| < 1% of its maximum), share of unit-samples: "
            + ", ".join(f"{r.name} {r.saturated_frac:.0%}" for r in sat)
            + "."
        )


def _status(rows: list[ModuleStats], alarms: list[Alarm], lines: list[str]) -> None:
    detached = [r.name for r in rows if r.gradient == "detached"]
    if detached:
        text = (
            f"No gradient for {_few(detached)}: detached (they run, but their output does not reach the loss: "
            ".detach(), torch.no_grad() or an unused result)."
        )
        _alarm(alarms, lines, Alarm("no_gradient", tuple(detached), text))
    for status, words in (
        ("frozen", "frozen (requires_grad is False)"),
        ("unused", "unused (the forward pass never calls them)"),
    ):
        names = [r.name for r in rows if r.gradient == status]
        if names:
            lines.append(f"No gradient for {_few(names)}: {words}.")
    for r in rows:
        if r.gradient == "tied":
            lines.append(
                f"{r.name} shares its weight with {', '.join(r.shared_with)} (tied): one tensor, counted "
                f"once, under {r.shared_with[0]}; never compared with itself."
            )
    indirect = [r.name for r in rows if r.gradient == "indirect"]
    if indirect:
        lines.append(
            f"{_few(indirect)}: weight used by its parent (e.g. attention's out_proj through F.linear), "
            "never called as a module: gradient measured, no output statistics."
        )


def _drops(rows: list[ModuleStats], structure: Structure) -> list[str]:
    """Where ‖∂loss/∂output‖ changes most between connected modules of the same output size."""
    by_name = {r.name: r for r in rows}
    pairs = []
    fan_out: dict[str, int] = {}
    for src, _ in structure.edges:
        fan_out[src] = fan_out.get(src, 0) + 1
    for src, dst in structure.edges:
        if fan_out[src] > 1:  # its gradient is the sum of several consumers': no single pair explains it
            continue
        a, b = by_name.get(src), by_name.get(dst)
        if (
            a is None
            or b is None
            or not a.grad_norm
            or not b.grad_norm
            or src in structure.scaled
            or dst in structure.scaled
        ):
            continue
        if _size(a) is None or _size(a) != _size(b):
            continue
        pairs.append((a.grad_norm / b.grad_norm, a, b))
    out = []
    if pairs:
        factor, a, b = min(pairs, key=lambda d: d[0])
        if factor < 0.5:
            out.append(
                f"The gradient drops most from {b.name} down to {a.name}, which feeds it: "
                f"‖∂loss/∂output‖ × {_short(factor)}."
            )
        grow, a, b = max(pairs, key=lambda d: d[0])
        if grow > 2.0:
            out.append(
                f"The gradient grows most from {b.name} down to {a.name}, which feeds it: "
                f"‖∂loss/∂output‖ × {_short(grow)}."
            )
    return out


def _theory_gap(r: ModuleStats) -> float:
    """|log(measured / predicted)|; infinite where either is zero, missing or not finite."""
    m, p = r.theory.measured_factor, r.theory.predicted_factor
    if not m or not p or not (math.isfinite(m) and math.isfinite(p)) or m <= 0 or p <= 0:
        return math.inf
    return abs(math.log(m) - math.log(p))


def _theory_lines(rows: list[ModuleStats]) -> list[str]:
    applied = [r for r in rows if r.theory.applies]
    if not applied:
        return []
    worst = max(applied, key=_theory_gap)
    t = worst.theory
    parts = ", ".join(
        f"{r.name} {_short(r.theory.predicted_factor)} vs {_short(r.theory.measured_factor)}" for r in applied[:4]
    )
    more = f" (+{len(applied) - 4} more)" if len(applied) > 4 else ""
    return [
        f"Theory: going down from the next layer, mean-field predicts grad_rms × √(Var(W)·fan_out·E[φ'(z)²]) "
        f"per layer, predicted vs measured: {parts}{more}; e.g. {worst.name}: σ_w² = {_short(t.sigma_w2)} "
        f"({t.next}), q = E[z²] = {_short(t.q)}, E[φ'²] {_short(t.e_dphi2_predicted)} predicted (Gaussian z), "
        f"{_short(t.e_dphi2_measured)} measured."
    ]


def _alarm(alarms: list[Alarm], lines: list[str], alarm: Alarm) -> None:
    """An alarm, its sentence among the findings too."""
    alarms.append(alarm)
    lines.append(alarm.text)


def _few(names: list[str], shown: int = 4) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _candidates(rows: list[ModuleStats], init: str, gain: float | None) -> list[tuple[str, float]]:
    acts = [r.activation for r in rows if r.activation]
    relu_like = {
        "relu",
        "leaky_relu",
        "elu",
        "celu",
        "selu",
        "relu6",
        "gelu",
        "gelu_tanh",
        "silu",
        "mish",
        "softplus",
        "hardswish",
        "threshold",
    }
    out: list[tuple[str, float]] = []
    if not acts or any(a in relu_like for a in acts):
        out.append(("kaiming", DEFAULT_GAIN["kaiming"]))
    names = sorted(set(acts))
    if len(names) == 1:
        spec = activations.get(names[0])
        t = meanfield.tabulate(spec, spec.resolve({}))
        g = meanfield.critical_gain(t, 0.0)
        if g is not None and not (names[0] in relu_like and abs(g - math.sqrt(2)) < 1e-6):
            out.append(("normal", float(g)))
    if not out:
        out.append(("kaiming", DEFAULT_GAIN["kaiming"]))
    current = (init, DEFAULT_GAIN.get(init, 1.0) if gain is None else gain)
    return [c for c in out if not (c[0] == current[0] and abs(c[1] - current[1]) < 1e-9)][:2]
