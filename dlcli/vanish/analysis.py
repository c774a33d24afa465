"""What `vanish` concludes from a run: the gradient ratio, a verdict, the theory beside it, and advice in words.

Also the memory check that runs before anything is allocated, and `run`, the one entry point both the CLI
and library users call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlcli import activations
from dlcli.vanish import meanfield
from dlcli.vanish.config import Progress, VanishConfig
from dlcli.vanish.meanfield import Theory
from dlcli.vanish.memory import check_memory
from dlcli.vanish.numpy_engine import run_numpy
from dlcli.vanish.statistics import LayerStats

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

    def as_dict(self) -> dict[str, object]:
        """The JSON contract: config, layers, gradient_ratio, verdict, theory (plus a few extra keys)."""
        return {
            "config": self.config.as_dict(),
            "layers": [s.as_dict() for s in self.layers],
            "gradient_ratio": self.gradient_ratio,
            "grad_rms_ratio": self.grad_rms_ratio,
            "verdict": self.verdict,
            "thresholds": {"vanishing_below": VANISHING_BELOW, "exploding_above": EXPLODING_ABOVE},
            "theory": self.theory.as_dict(),
            "explanation": list(self.explanation),
        }


def run(config: VanishConfig, progress: Progress | None = None) -> VanishResult:
    """Check memory, run the chosen engine, and set theory beside the measurement."""
    if config.engine == "torch":
        from dlcli.vanish.torch_engine import run_torch

        stats = run_torch(config, progress)
    else:
        check_memory(config)
        stats = run_numpy(config, progress)
    return analyse(config, stats)


def analyse(config: VanishConfig, stats: list[LayerStats]) -> VanishResult:
    act = activations.get(config.activation)
    theory = meanfield.predict(act, config.params, config.layer_specs(), loss=config.loss,
                               critical_bias_var=(config.bias_std or 0.0) ** 2)
    ratio = _ratio(stats[0].weight_grad_norm, stats[-1].weight_grad_norm)
    rms_ratio = _ratio(stats[0].grad_rms, stats[-1].grad_rms)
    judged = verdict(ratio)
    words = explain(config, stats, ratio, rms_ratio, judged, theory)
    return VanishResult(config, tuple(stats), ratio, rms_ratio, judged, theory, words)


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
    dead = max(s.dead_frac for s in stats)
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
