"""What `vanish` concludes from a run: the gradient ratio, a verdict, the theory beside it, and advice in words.

Also the memory check that runs before anything is allocated, and `run`, the one entry point both the CLI
and library users call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlcli import activations
from dlcli.vanish import meanfield
from dlcli.vanish.config import Progress, VanishConfig
from dlcli.vanish.meanfield import Theory
from dlcli.vanish.memory import check_memory
from dlcli.vanish.norm_theory import NormTheory, predict_norm
from dlcli.vanish.numpy_engine import run_numpy
from dlcli.vanish.residual_theory import ResidualTheory, predict_residual
from dlcli.vanish.statistics import MIN_DEAD_EXAMPLES, LayerStats, dead_units_note

if TYPE_CHECKING:
    from dlcli.vanish.spectrum import Spectrum

VANISHING_BELOW = 1e-2   # layer 1 gets less than 1% of layer L's weight gradient
EXPLODING_ABOVE = 1e2    # layer 1 gets more than 100× layer L's


@dataclass(frozen=True)
class VanishResult:
    config: VanishConfig
    layers: tuple[LayerStats, ...]
    gradient_ratio: float      # weight_grad_norm of layer 1 / that of layer L
    grad_rms_ratio: float      # grad_rms of layer 1 / that of layer L (what the theory predicts)
    verdict: str
    theory: Theory
    explanation: tuple[str, ...]
    residual: ResidualTheory | None = None   # --residual: the residual recursions
    norm: NormTheory | None = None           # --norm: the predicted growth per layer
    spectrum: Spectrum | None = None         # --spectrum: the input–output Jacobian's singular values

    @property
    def measured_factor(self) -> float:
        """The geometric mean of the measured grad_rms factor per layer, going down (layer 1 / L)^(1/(L−1))."""
        n = self.config.depth - 1
        r = self.grad_rms_ratio
        return r ** (1.0 / n) if n and 0 < r < math.inf else math.nan

    @property
    def predicted_grad_rms(self) -> tuple[float, ...]:
        """The theory column: the residual recursion, the norm's factor from the measured layer L, or mean field."""
        if self.residual is not None:
            return self.residual.predicted_grad_rms
        if self.norm is not None:
            f = self.norm.predicted_factor
            top = self.layers[-1].grad_rms
            depth = self.config.depth
            return tuple(math.nan if f is None else top * f ** (depth - s.layer) for s in self.layers)
        return self.theory.predicted_grad_rms

    def theory_dict(self) -> dict[str, object]:
        """The JSON's `theory`: the prediction for the network measured (`network`: plain, residual, batch norm
        or layer norm); with --residual or --norm the plain stack's mean field, kept for comparison, under
        `plain_stack`."""
        plain = self.theory.as_dict()
        if self.residual is None and self.norm is None:
            return {"network": "plain", **plain}
        depth = self.config.depth
        factor: float | None
        ratio: float | None
        if self.residual is not None:
            r = self.residual
            network, factor, ratio = "residual", r.per_layer_factor, r.predicted_ratio
            source = "Yang & Schoenholz 2017, the reduced residual network's mean-field recursion"
        else:
            assert self.norm is not None
            network, factor, source = f"{self.norm.norm} norm", self.norm.predicted_factor, self.norm.source
            ratio = None if factor is None else factor ** (depth - 1)
        return {"network": network, "per_layer_factor": factor, "predicted_ratio": ratio,
                "predicted_grad_rms": list(self.predicted_grad_rms), "source": source, "plain_stack": plain}

    def fixes_dict(self) -> dict[str, object]:
        """The keys --residual, --norm and --spectrum add to the JSON."""
        out: dict[str, object] = {}
        if self.residual is not None:
            out["residual"] = {**self.residual.as_dict(), "measured_factor": self.measured_factor}
        if self.norm is not None:
            out["norm"] = {**self.norm.as_dict(), "measured_factor": self.measured_factor}
        if self.spectrum is not None:
            out["spectrum"] = self.spectrum.as_dict()
        return out

    def as_dict(self) -> dict[str, object]:
        """The JSON contract: config, layers, gradient_ratio, verdict, theory (plus a few extra keys)."""
        return {
            "config": self.config.as_dict(),
            "layers": [s.as_dict() for s in self.layers],
            "gradient_ratio": self.gradient_ratio,
            "grad_rms_ratio": self.grad_rms_ratio,
            "verdict": self.verdict,
            "thresholds": {"vanishing_below": VANISHING_BELOW, "exploding_above": EXPLODING_ABOVE},
            "theory": self.theory_dict(),
            "explanation": list(self.explanation),
            **self.fixes_dict(),
        }


def run(config: VanishConfig, progress: Progress | None = None) -> VanishResult:
    """Check memory, run the chosen engine, and set theory beside the measurement."""
    spectrum = None
    net = None
    if config.engine == "numpy":
        check_memory(config)
    if config.spectrum_samples:
        from dlcli.vanish.numpy_engine import build_numpy
        from dlcli.vanish.spectrum import check_spectrum_memory, jacobian_spectrum

        check_spectrum_memory(config)
        net = build_numpy(config) if config.engine == "numpy" else None  # one set of weights for both
    if config.engine == "torch":
        from dlcli.vanish.torch_engine import run_torch

        stats = run_torch(config, progress)
    else:
        stats = run_numpy(config, progress, net)
    if config.spectrum_samples:
        spectrum = jacobian_spectrum(config, net, progress)
    return analyse(config, stats, spectrum)


def analyse(config: VanishConfig, stats: list[LayerStats], spectrum: Spectrum | None = None) -> VanishResult:
    act = activations.get(config.activation)
    theory = meanfield.predict(act, config.params, config.layer_specs(), loss=config.loss,
                               critical_bias_var=(config.bias_std or 0.0) ** 2)
    ratio = _ratio(stats[0].weight_grad_norm, stats[-1].weight_grad_norm)
    rms_ratio = _ratio(stats[0].grad_rms, stats[-1].grad_rms)
    judged = verdict(ratio)
    residual, norm = fix_theories(config)
    bad = non_finite(config, stats)
    if bad is not None:  # NaN/inf is its own finding: no ratio, verdict or theory can be read from such a run
        return VanishResult(config, tuple(stats), ratio, rms_ratio, "non-finite", theory, bad, residual, norm,
                            spectrum)
    words = explain(config, stats, ratio, rms_ratio, judged, theory)
    if residual is not None or norm is not None or spectrum is not None:
        words = explain_fixes(config, words, rms_ratio, residual, norm, spectrum)
    return VanishResult(config, tuple(stats), ratio, rms_ratio, judged, theory, words, residual, norm, spectrum)


def fix_theories(config: VanishConfig) -> tuple[ResidualTheory | None, NormTheory | None]:
    """The residual recursions (--residual without --norm) and the norm's growth (--norm), where asked for."""
    act = activations.get(config.activation)
    specs = config.layer_specs()
    residual = norm = None
    if config.residual and config.norm == "none":
        residual = predict_residual(act, config.params, specs, [config.is_residual(i + 1) for i in range(config.depth)],
                                    config.residual_scale, loss=config.loss)
    if config.norm != "none":
        norm = predict_norm(act, config.params, config.norm, config.batch, specs[-1],
                            residual=any(config.is_residual(i + 1) for i in range(config.depth)))
    return residual, norm


def non_finite(config: VanishConfig, stats: list[LayerStats]) -> tuple[str, ...] | None:
    """The explanation of a run with NaN/inf activations or gradients, naming the layer where it first appears
    (going forward, else going backward from the top); None where every statistic is finite."""
    forward = next((s.layer for s in stats if not math.isfinite(s.act_mean)), None)
    backward = [s.layer for s in stats if not (math.isfinite(s.weight_grad_norm) and math.isfinite(s.grad_rms))]
    if forward is None and not backward:
        return None
    name = config.activation
    if forward is not None:
        below = " (the layers below it are finite)" if forward > 1 else ""
        first = (f"NaN or inf first appears in the forward pass at layer {forward}{below}: a_{forward} = "
                 f"φ(z_{forward}) is not finite ({name} undefined or overflowing for some z_{forward}, or "
                 f"z_{forward} itself overflowed), and every layer above inherits it.")
    else:
        first = (f"The forward pass is finite, but NaN or inf first appears in the backward pass at layer "
                 f"{backward[-1]} (from the top): φ'(z_{backward[-1]}) or the gradient it multiplies is not finite.")
    return (f"{len(backward)} of {config.depth} layers get a NaN or inf gradient: no gradient ratio can be read "
            "from this run (non-finite).",
            first,
            f"To try: an activation finite on the whole real line (and its derivative), or a smaller --gain "
            f"({config.gain:g} now).")


def _ratio(bottom: float, top: float) -> float:
    if top == 0.0:
        return math.nan if bottom == 0.0 else math.inf
    return bottom / top


def verdict(ratio: float) -> str:
    """vanishing below 1e-2, exploding above 1e2, healthy between; no gradient anywhere counts as vanishing."""
    if math.isnan(ratio) or ratio < VANISHING_BELOW:
        return "vanishing"
    if ratio > EXPLODING_ABOVE:
        return "exploding"
    return "healthy"


def _short(x: float | None, digits: int = 3) -> str:
    """A number in the explanation: `digits` significant digits, 'undefined' for None or NaN."""
    if x is None or math.isnan(x):
        return "undefined"
    if math.isinf(x):
        return "∞"
    return f"{x:.{digits}g}"


def explain(config: VanishConfig, stats: list[LayerStats], ratio: float, rms_ratio: float, judged: str, t: Theory,
            ) -> tuple[str, ...]:
    """A few sentences in plain language: what happened, why, and what to try (`judged`: the verdict on
    `ratio`, of ‖∂W‖ layer 1 over layer L; `rms_ratio`: the same of grad_rms)."""
    depth = config.depth
    lines = []
    if math.isnan(ratio):
        lines.append(f"No gradient reaches any layer: φ'(z) is 0 for every unit of the top layer ({judged}).")
    else:
        lines.append(
            f"Layer 1's weight gradient is {_short(ratio)} times layer {depth}'s: {judged} "
            f"(below {VANISHING_BELOW:g} counts as vanishing, above {EXPLODING_ABOVE:g} as exploding)."
        )
    per_unit = verdict(rms_ratio)  # the same thresholds on grad_rms, the gradient per unit
    if judged == "healthy" != per_unit:
        lines.append(
            f"But grad_rms, the gradient per unit, is {_short(rms_ratio)} times as large at layer 1 as at layer "
            f"{depth} ({per_unit}): ‖∂W_l‖ = ‖δ_lᵀa_(l−1)‖ stays level only because the activations change the "
            f"other way (act_std {_short(stats[0].act_std)} at layer 1, {_short(stats[-1].act_std)} at layer "
            f"{depth})."
        )
    if depth > 1:
        e_dphi2 = t.chi1 / t.sigma_w2 if t.sigma_w2 else math.nan
        lines.append(
            f"Why: going down one layer multiplies the gradient by φ'(z) and by Wᵀ; on average that scales "
            f"grad_rms by √χ1 = √(σ_w²·E[φ'(z)²]) = √({_short(t.sigma_w2)} × {_short(e_dphi2)}) = "
            f"{_short(t.per_layer_factor)} (mean-field theory at the fixed point q* = {_short(t.q_star)}), so "
            f"{_short(t.per_layer_factor)}^{depth - 1} = {_short(t.predicted_ratio)} over {depth - 1} layers; "
            f"measured grad_rms ratio {_short(rms_ratio)}, layer by layer theory {_short(t.predicted_ratio_layerwise)}."
        )
        lines.append(_notes_argument(t, depth))
    sat = max(s.saturated_frac for s in stats)
    dead = max((s.dead_frac for s in stats if not math.isnan(s.dead_frac)), default=0.0)
    if config.batch < MIN_DEAD_EXAMPLES:
        lines.append(dead_units_note(config.batch))
    if sat >= 0.05:
        lines.append(f"Up to {sat:.0%} of a layer's unit-samples sit where |φ'| < 1% of its maximum (saturated).")
    if dead >= 0.05:
        lines.append(f"Up to {dead:.0%} of a layer's units have φ' = 0 on the whole batch (dead).")
    lines.append(_advice(config, per_unit if judged == "healthy" else judged, t))
    return tuple(lines)


def _notes_argument(t: Theory, depth: int) -> str:
    """Set the notes' bound max|φ'|^(L−1) beside the theory's per-layer factor."""
    bound = t.naive_bound ** (1.0 / (depth - 1)) if t.naive_bound > 0 else 0.0
    text = (f"The notes' argument multiplies max|φ'| = {_short(bound)} per layer ({_short(bound)}^{depth - 1} = "
            f"{_short(t.naive_bound)}); it leaves out the weights")
    if t.per_layer_factor < 0.8 * bound:
        return text + (f": their scale σ_w = {_short(math.sqrt(t.sigma_w2))}, and E[φ'²] below max|φ'|², "
                       f"make each layer's factor smaller still, {_short(t.per_layer_factor)}.")
    if t.per_layer_factor > 1.25 * bound:
        return text + (f", whose scale σ_w = {_short(math.sqrt(t.sigma_w2))} lifts the factor to "
                       f"{_short(t.per_layer_factor)}.")
    return text + (", and with these weights the theory's per-layer factor is about the same, "
                   f"{_short(t.per_layer_factor)}.")


def _advice(config: VanishConfig, judged: str, t: Theory) -> str:
    name = config.activation
    bias = f" --bias-std {config.bias_std:g}" if config.bias_std else ""
    if t.critical_gain is None:
        fix = f"no gain puts {name} at χ1 = 1; try relu with --init kaiming, or tanh with --init normal --gain 1"
    else:
        fix = (f"--init normal --gain {t.critical_gain:.4g}{bias} puts {name} at χ1 = 1 "
               f"(σ_w² = {t.critical_gain**2:.4g}, the edge of chaos)")
    if abs(t.chi1 - 1.0) < 0.01:
        return ("This stack already sits at χ1 ≈ 1 (the edge of chaos): on average gradients keep their size "
                "however deep it is; what is left is the layer-to-layer scatter of a finite width, ~1/√(2·width).")
    if judged == "healthy":
        return f"Gradients keep their size through {config.depth} layers; for much deeper stacks, {fix}."
    if name in ("sigmoid", "tanh", "softsign", "hardtanh", "hardsigmoid"):
        alt = "; or use relu with --init kaiming"
    else:
        alt = ""
    return f"To try: {fix}{alt}."


def explain_fixes(config: VanishConfig, words: tuple[str, ...], rms_ratio: float, residual: ResidualTheory | None,
                  norm: NormTheory | None, spectrum: Spectrum | None) -> tuple[str, ...]:
    """The explanation with --residual, --norm and --spectrum: their theory in place of the plain stack's."""
    lines = list(words)
    advice = lines.pop()
    depth = config.depth
    measured = rms_ratio ** (1.0 / (depth - 1)) if depth > 1 and 0 < rms_ratio < math.inf else math.nan
    if residual is not None or norm is not None:
        lines = [w for w in lines if not w.startswith(("Why:", "The notes' argument"))]
    if residual is not None:
        lines += _residual_lines(config, residual, rms_ratio, measured)
    if norm is not None and norm.norm == "batch" and config.activation == "identity" and config.loss == "projection":
        lines.append("With --norm batch and identity the projection loss Σ v·a_L is constant (batch norm makes the "
                     "batch sum of a_L zero): every gradient here is rounding noise.")
        advice = "To try: --loss mse, whose gradient batch norm does not remove."
    elif norm is not None:
        lines += _norm_lines(config, norm, measured)
        advice = _norm_advice(config, norm, measured, advice)
    elif residual is not None:
        if verdict(rms_ratio) == "exploding" or residual.predicted_ratio > EXPLODING_ABOVE:
            advice = (f"To try: a smaller --residual-scale (α = {config.residual_scale:g}; each layer's growth is "
                      f"1 + α²χ), or fewer layers.")
        else:
            advice = (f"Gradients keep their size through {depth} layers with --residual "
                      f"(α = {config.residual_scale:g}).")
    if spectrum is not None:
        lines += _spectrum_lines(config, spectrum)
    return (*lines, advice)


def _residual_lines(config: VanishConfig, r: ResidualTheory, rms_ratio: float, measured: float) -> list[str]:
    depth = config.depth
    lines = [
        f"With --residual (α = {r.scale:g}) each layer adds its input back: going down one residual layer "
        f"multiplies the gradient's mean square by 1 + α²χ(q_l) ≥ 1 (Yang & Schoenholz 2017), so it cannot "
        f"vanish. Predicted per layer ×{_short(r.factor_top, 4)} at layer {depth}, "
        f"×{_short(r.factor_bottom, 4)} at layer 2 "
        f"(geometric mean ×{_short(r.per_layer_factor, 4)}); measured ×{_short(measured, 4)}; grad_rms ratio predicted "
        f"{_short(r.predicted_ratio)}, measured {_short(rms_ratio)}."
    ]
    if r.layer_q:
        q_lo, q_hi = r.layer_q[0], r.layer_q[-1]
        if r.factor_top < 0.98 * r.factor_bottom:
            shape = ("so χ(q_l) falls going up the stack and each layer added on top multiplies the gradient "
                     "less: it grows more slowly than exponentially in depth")
        elif r.factor_top > 1.02 * r.factor_bottom:
            shape = "and each layer added on top multiplies the gradient more: faster than exponential"
        else:
            shape = "and the factor stays level: exponential growth at that rate"
        lines.append(f"The residual sums' variance adds up (q_1 = {_short(q_lo)}, q_{depth} = {_short(q_hi)}), "
                     f"{shape}.")
    miss = rms_ratio / r.predicted_ratio if r.predicted_ratio > 0 else math.nan
    if not 0.5 <= miss <= 2.0 and math.isfinite(miss):
        lines.append(f"Measured and predicted differ ×{_short(miss)}: the recursion takes the backward gradient as "
                     f"independent of the forward pass, which holds for odd activations (tanh within 3%) but not "
                     f"for relu, gelu or softplus, whose residual sums gain a common mean (docs/vanish.md).")
    if r.plain_layers:
        shown = ", ".join(map(str, r.plain_layers[:8])) + (", …" if len(r.plain_layers) > 8 else "")
        lines.append(f"Layer{'s' if len(r.plain_layers) > 1 else ''} {shown} change width and stay plain "
                     f"(no skip connection).")
    return lines


def _norm_lines(config: VanishConfig, n: NormTheory, measured: float) -> list[str]:
    pred = "no prediction" if n.predicted_factor is None else f"predicted ×{_short(n.predicted_factor, 4)}"
    if n.norm == "batch":
        limit = "" if n.limit_factor is None else f"; as B → ∞, ×{_short(n.limit_factor, 4)}"
        return [f"With --norm batch at batch {n.batch} the gradient grows ×{_short(measured, 4)} a layer going down "
                f"(measured, geometric mean); {pred}{limit} ({n.source}). Batch norm makes gradients explode at "
                f"any initialisation (Yang et al. 2019): the gain does not change this rate."]
    return [f"With --norm layer every layer's ẑ has unit variance per example, so the weights' scale drops out: "
            f"the gradient changes ×{_short(measured, 4)} a layer going down (measured), {pred} ({n.source})."]


def _norm_advice(config: VanishConfig, n: NormTheory, measured: float, advice: str) -> str:
    v = verdict(measured ** (config.depth - 1)) if math.isfinite(measured) else "vanishing"
    if v == "healthy":
        return f"Gradients keep their size through {config.depth} layers with --norm {n.norm}."
    if n.norm == "batch":
        limit = "" if n.limit_factor is None else f" (towards ×{_short(n.limit_factor, 4)} a layer)"
        return (f"To try: a larger --batch{limit}, --norm layer, or fewer layers: at ×{_short(measured, 3)} a layer "
                f"the gradient grows ×{_short(measured ** (config.depth - 1))} over {config.depth} layers.")
    return ("To try: an activation with E[φ'(Z)²] ≈ E[φ(Z)²] (relu: ×1 a layer under layer norm), "
            "or --residual.")


def _spectrum_lines(config: VanishConfig, s: Spectrum) -> list[str]:
    weights = "orthogonal" if config.init == "orthogonal" else "i.i.d."
    if s.predicted_mean_sq is None:
        theory = "free probability makes no prediction here (residual or normalised layers, or non-square orthogonal)"
    else:
        theory = (f"free probability at q* = {_short(s.q_star)}: mean χ1^L = {_short(s.predicted_mean_sq)}, variance "
                  f"{_short(s.predicted_var_sq)} for {weights} weights (layer by layer from the input: "
                  f"{_short(s.predicted_mean_sq_layerwise)}, {_short(s.predicted_var_sq_layerwise)})")
    lines = [f"Jacobian spectrum of {s.samples} example{'s' if s.samples > 1 else ''}: mean σ² = {_short(s.mean_sq)}, "
             f"variance {_short(s.var_sq)}, largest σ {_short(s.max)}, "
             f"condition number {_short(s.condition)}; {theory}."]
    spread = s.var_sq / s.mean_sq**2 if s.mean_sq > 0 else math.inf
    if s.isometric:
        why = (f"σ² stays within a relative spread of {_short(spread, 2)} of its mean {_short(s.mean_sq)}: "
               f"every direction "
               f"keeps its size")
        if s.spread_per_layer is not None:
            why += f" (each layer adds μ2/μ1² − 1 − s1 = {_short(s.spread_per_layer, 2)} to the relative variance)"
        lines.append(f"Dynamically isometric: {why}.")
    else:
        why = f"relative spread var/mean² = {_short(spread)}, mean σ² {_short(s.mean_sq)}"
        if s.spread_per_layer is not None:
            why += (f"; each layer adds μ2/μ1² − 1 − s1 = {_short(s.spread_per_layer, 3)} to the relative variance "
                    f"(s1 = {s.s1:g} for {weights} weights)")
            if config.init != "orthogonal":
                why += ", so orthogonal weights (s1 = 0) would remove 1 a layer"
        lines.append(f"Not isometric: {why}.")
    return lines
