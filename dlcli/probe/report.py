"""Gradient flow through any nn.Module (`vanish --model`): rows per weighted module, findings in words, theory
beside the measurement, and re-initialisations tried."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dlcli import activations
from dlcli.errors import InputError
from dlcli.probe.hooks import Pass, measure, moments, value
from dlcli.probe.inputs import model_batch, reinitialise
from dlcli.probe.kinds import weighted_modules
from dlcli.probe.theory import LayerTheory, layer_theory
from dlcli.vanish import meanfield
from dlcli.vanish.analysis import EXPLODING_ABOVE, VANISHING_BELOW, _ratio, _short, verdict
from dlcli.vanish.config import DEFAULT_GAIN, Progress

NOTABLE = 0.05  # dead or saturated shares from 5% up are findings


@dataclass(frozen=True)
class ModuleStats:
    layer: int                        # position in the order the forward pass first ran the modules
    name: str
    type: str
    width: int | None                 # units: features (Linear) or channels (Conv, norms)
    weight_grad_norm: float | None    # ‖∂loss/∂weight‖ (Frobenius); None where the weight gets no gradient
    weight_norm: float
    grad_rms: float | None            # root mean square of ∂loss/∂(module output)
    act_mean: float | None            # of a = φ(output) where an activation module follows, else of the output
    act_std: float | None
    saturated_frac: float | None      # share of unit-samples with |φ'| < 1% of max|φ'| (None: no activation seen)
    dead_frac: float | None           # share of units with φ' = 0 for every sample and position
    activation: str | None = None
    gradient: str = "ok"              # ok, frozen, unused, detached, indirect (weight used outside the module's call)
    calls: int = 0
    nonfinite_output: bool = False
    nonfinite_grad: bool = False
    theory: LayerTheory = field(default_factory=lambda: LayerTheory(False, "not computed"))

    def as_dict(self) -> dict[str, object]:
        d = {k: v for k, v in self.__dict__.items() if k != "theory"}
        d["theory"] = self.theory.as_dict()
        return d


@dataclass(frozen=True)
class Check:
    """A re-initialisation tried on the same architecture, batch and loss, and what it measured."""

    init: str
    gain: float
    gradient_ratio: float
    grad_rms_ratio: float
    verdict: str
    dead_max: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    def option(self) -> str:
        return f"--init {self.init}" + ("" if self.gain == DEFAULT_GAIN[self.init] else f" --gain {self.gain:.4g}")


@dataclass(frozen=True)
class ModuleConfig:
    model: str
    input_shape: tuple[int, ...]
    batch: int
    data: str
    loss: str
    output: str
    dtype: str
    device: str
    seed: int
    init: str
    gain: float | None
    mode: str

    def as_dict(self) -> dict[str, object]:
        d = dict(self.__dict__)
        d["input_shape"] = list(self.input_shape)
        return d


@dataclass(frozen=True)
class ModuleResult:
    config: ModuleConfig
    layers: tuple[ModuleStats, ...]
    gradient_ratio: float     # ‖∂W‖ of the first row with a gradient / that of the last
    grad_rms_ratio: float
    ratio_between: tuple[str, str] | None
    verdict: str
    findings: tuple[str, ...]
    advice: tuple[str, ...]
    checks: tuple[Check, ...]
    notes: tuple[str, ...]

    @property
    def explanation(self) -> tuple[str, ...]:
        return self.findings + self.advice

    def as_dict(self) -> dict[str, object]:
        """The JSON of `vanish --model`: config, layers, gradient_ratio, verdict, findings, advice, checks."""
        return {
            "config": self.config.as_dict(),
            "layers": [s.as_dict() for s in self.layers],
            "gradient_ratio": self.gradient_ratio,
            "grad_rms_ratio": self.grad_rms_ratio,
            "ratio_between": list(self.ratio_between) if self.ratio_between else None,
            "verdict": self.verdict,
            "thresholds": {"vanishing_below": VANISHING_BELOW, "exploding_above": EXPLODING_ABOVE},
            "findings": list(self.findings),
            "advice": list(self.advice),
            "checks": [c.as_dict() for c in self.checks],
            "notes": list(self.notes),
            "explanation": list(self.explanation),
        }


def _rows(run: Pass, host: np.ndarray, grads: list[Any]) -> list[ModuleStats]:
    order = run.order + [i for i in range(len(run.rows)) if i not in run.order]
    out = []
    for layer, i in enumerate(order, start=1):
        name, m = run.rows[i]
        v = lambda key, i=i: value(run, host, i, key)  # noqa: E731
        numel = run.slots[i].get("_numel")
        width = run.slots[i].get("_width")
        grad_norm = v("grad_norm")
        act = run.act[i]
        if not m.weight.requires_grad:
            status = "frozen"
        elif grads[i] is None:
            status = "unused" if run.calls[i] == 0 else "detached"
        else:
            status = "ok" if run.calls[i] else "indirect"
        sat, dead = v("saturated"), v("dead")
        out_sum, out_norm = v("out_sum"), v("out_norm")
        mean, std = moments(v("act_sum"), v("act_norm"), numel) if act else moments(out_sum, out_norm, numel)
        finite_out = out_sum is None or (math.isfinite(out_sum) and math.isfinite(out_norm or 0.0))
        weight_grad = v("weight_grad_norm")
        out.append(ModuleStats(
            layer=layer, name=name, type=type(m).__name__, width=width,
            weight_grad_norm=weight_grad, weight_norm=v("weight_norm") or 0.0,
            grad_rms=grad_norm / math.sqrt(numel) if grad_norm is not None and numel else None,
            act_mean=mean, act_std=std,
            saturated_frac=sat / numel if sat is not None and numel else None,
            dead_frac=dead / width if dead is not None and width else None,
            activation=act[0] if act else None, gradient=status, calls=run.calls[i],
            nonfinite_output=not finite_out,
            nonfinite_grad=(grad_norm is not None and not math.isfinite(grad_norm)) or (
                weight_grad is not None and not math.isfinite(weight_grad)),
        ))
    return out


def _theory(run: Pass, host: np.ndarray, rows: list[ModuleStats]) -> list[ModuleStats]:
    """Each row's LayerTheory: mean-field's local factor where a dense layer → activation → dense layer chain runs."""
    import torch

    row_of = {name: i for i, (name, _) in enumerate(run.rows)}
    grad_rms: list[float | None] = [None] * len(run.rows)
    for r in rows:
        grad_rms[row_of[r.name]] = r.grad_rms
    nxt = {src: dst for dst, src in run.chain.items()}
    return [replace(r, theory=layer_theory(torch, run, host, row_of[r.name], grad_rms, nxt)) for r in rows]


# --- conclusions -----------------------------------------------------------------------------------

def _summary(rows: list[ModuleStats]) -> tuple[float, float, tuple[str, str] | None]:
    with_grad = [r for r in rows if r.weight_grad_norm is not None and r.calls]
    if not with_grad:
        return math.nan, math.nan, None
    first, last = with_grad[0], with_grad[-1]
    ratio = _ratio(first.weight_grad_norm or 0.0, last.weight_grad_norm or 0.0)
    rms = [r for r in with_grad if r.grad_rms is not None]
    rms_ratio = _ratio(rms[0].grad_rms or 0.0, rms[-1].grad_rms or 0.0) if rms else math.nan
    return ratio, rms_ratio, (first.name, last.name)


def _findings(rows: list[ModuleStats], ratio: float, rms_ratio: float, between: tuple[str, str] | None,
              v: str) -> list[str]:
    lines = []
    if between is None:
        lines.append(f"No weight gets a gradient: nothing to compare ({v}).")
    else:
        lines.append(f"{between[0]}'s weight gradient is {_short(ratio)} times {between[1]}'s: {v} (below "
                     f"{VANISHING_BELOW:g} counts as vanishing, above {EXPLODING_ABOVE:g} as exploding).")
        per_unit = verdict(rms_ratio)
        if v == "healthy" != per_unit:
            lines.append(f"But grad_rms, the gradient per unit of output, is {_short(rms_ratio)} times as large at "
                         f"{between[0]} as at {between[1]} ({per_unit}).")
    bad_out = [r for r in rows if r.nonfinite_output]
    if bad_out:
        lines.append(f"NaN or inf first appears in the forward pass at {bad_out[0].name} ({bad_out[0].type}).")
    bad_grad = [r for r in rows if r.nonfinite_grad]
    if bad_grad:
        lines.append(f"NaN or inf gradients first appear (backward pass, output side first) at "
                     f"{bad_grad[-1].name} ({bad_grad[-1].type}); {len(bad_grad)} module(s) affected.")
    dead = [r for r in rows if r.dead_frac is not None and r.dead_frac >= NOTABLE]
    if dead:
        lines.append("Dead units (φ' = 0 on the whole batch): " + ", ".join(
            f"{r.name} → {r.activation} {r.dead_frac:.0%} of {r.width}" for r in dead) + ".")
    sat = [r for r in rows if r.saturated_frac is not None and r.saturated_frac >= NOTABLE and r.activation
           not in ("relu", "relu6", "threshold")]
    if sat:
        acts = sorted({r.activation or "" for r in sat})
        lines.append(f"Saturated ({'/'.join(acts)} where |φ'| < 1% of its maximum), share of unit-samples: " +
                     ", ".join(f"{r.name} {r.saturated_frac:.0%}" for r in sat) + ".")
    chained = [r for r in rows if r.grad_rms is not None and r.grad_rms > 0 and r.calls]
    drops = [(a.grad_rms / b.grad_rms, a, b) for a, b in zip(chained, chained[1:], strict=False)
             if a.grad_rms is not None and b.grad_rms]
    if drops:
        factor, a, b = min(drops, key=lambda d: d[0])
        if factor < 0.5:
            lines.append(f"The gradient drops most from {b.name} down to {a.name}: grad_rms × {_short(factor)}.")
        grow, a, b = max(drops, key=lambda d: d[0])
        if grow > 2.0:
            lines.append(f"The gradient grows most from {b.name} down to {a.name}: grad_rms × {_short(grow)}.")
    if between is not None:
        top = next(r for r in rows if r.name == between[1])
        exploding = [r.name for r in rows if r.weight_grad_norm is not None and top.weight_grad_norm
                     and r.weight_grad_norm > EXPLODING_ABOVE * top.weight_grad_norm]
        if exploding:
            lines.append(f"Exploding: ‖∂W‖ over {EXPLODING_ABOVE:g}× {between[1]}'s at " + ", ".join(exploding) + ".")
    for status, words in (("frozen", "frozen (requires_grad is False)"),
                          ("unused", "unused (the forward pass never calls them)"),
                          ("detached", "detached (they run, but their output does not reach the loss: .detach(), "
                                       "torch.no_grad() or an unused result)")):
        names = [r.name for r in rows if r.gradient == status]
        if names:
            lines.append(f"No gradient for {', '.join(names)}: {words}.")
    indirect = [r.name for r in rows if r.gradient == "indirect"]
    if indirect:
        lines.append(f"{', '.join(indirect)}: weight used by its parent (e.g. attention's out_proj through "
                     "F.linear), never called as a module: gradient measured, no output statistics.")
    return lines


def _theory_lines(rows: list[ModuleStats]) -> list[str]:
    applied = [r for r in rows if r.theory.applies]
    if not applied:
        return []
    worst = max(applied, key=lambda r: abs(math.log((r.theory.measured_factor or 1e-300) /
                                                    (r.theory.predicted_factor or 1e-300))))
    t = worst.theory
    parts = ", ".join(f"{r.name} {_short(r.theory.predicted_factor)} vs {_short(r.theory.measured_factor)}"
                      for r in applied[:4])
    more = f" (+{len(applied) - 4} more)" if len(applied) > 4 else ""
    return [f"Theory: going down from the next layer, mean-field predicts grad_rms × √(Var(W)·fan_out·E[φ'(z)²]) "
            f"per layer, predicted vs measured: {parts}{more}; e.g. {worst.name}: σ_w² = {_short(t.sigma_w2)} "
            f"({t.next}), q = E[z²] = {_short(t.q)}, E[φ'²] {_short(t.e_dphi2_predicted)} predicted (Gaussian z), "
            f"{_short(t.e_dphi2_measured)} measured."]


def _candidates(rows: list[ModuleStats], init: str, gain: float | None) -> list[tuple[str, float]]:
    acts = [r.activation for r in rows if r.activation]
    relu_like = {"relu", "leaky_relu", "elu", "celu", "selu", "relu6", "gelu", "gelu_tanh", "silu", "mish",
                 "softplus", "hardswish", "threshold"}
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


def _advice(rows: list[ModuleStats], v: str, rms_v: str, checks: list[Check]) -> list[str]:
    dead = max((r.dead_frac for r in rows if r.dead_frac is not None), default=0.0)
    if v == "healthy" and rms_v == "healthy" and dead < NOTABLE:
        return ["Gradients keep their size from the output to the first layer; nothing to fix here."]
    lines = []
    for c in checks:
        lines.append(f"Checked: {c.option()} on the same batch and loss measures gradient_ratio "
                     f"{_short(c.gradient_ratio)} ({c.verdict}), grad_rms ratio {_short(c.grad_rms_ratio)}, "
                     f"dead units up to {c.dead_max:.0%}.")

    def better(c: Check) -> bool:
        if v != "healthy" or rms_v != "healthy":
            return c.verdict == "healthy" and verdict(c.grad_rms_ratio) != "exploding"
        return c.dead_max <= 0.5 * dead

    good = [c for c in checks if better(c)]
    if good:
        best = min(good, key=lambda c: abs(math.log(c.gradient_ratio)) if c.gradient_ratio > 0 else math.inf)
        lines.append(f"To try: {best.option()} (checked above).")
    elif checks:
        lines.append("No re-initialisation tried here fixes it; what is left changes the model (not checked here): "
                     + ("leaky_relu or elu against dead units, a normalisation layer, residual connections."
                        if dead >= NOTABLE else "relu with kaiming-scaled weights, a normalisation layer, residual "
                        "connections."))
    acts = {r.activation for r in rows if r.activation}
    if acts & {"sigmoid", "tanh", "softsign", "hardtanh", "hardsigmoid"} and not good:
        lines.append("Saturating activations (sigmoid, tanh) multiply the gradient by at most max|φ'| per layer: "
                     "relu or gelu with kaiming-scaled weights keep it (changes the model: not checked here).")
    return lines


# --- the entry point -------------------------------------------------------------------------------

def analyse_module(model: Any, x: Any, y: Any = None, loss: str | None = None, *, seed: int = 0, init: str = "keep",
                   gain: float | None = None, eval_mode: bool = False, output: str | None = None,
                   check_advice: bool = True, progress: Progress | None = None, label: str | None = None,
                   data: str = "given") -> ModuleResult:
    """One forward and backward pass of `model` on batch `x` (targets `y`) under hooks: the report `vanish` gives
    for its own stacks, per weighted module. `init` other than keep re-initialises a copy of the model."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise InputError(f"analyse_module needs an nn.Module, got {type(model).__name__}")
    first = next(iter(model.parameters()), None)
    dtype = first.dtype if first is not None else torch.float32
    device = first.device if first is not None else torch.device("cpu")
    batch, loss = model_batch(torch, model, x, y, loss, device, dtype)
    if not weighted_modules(model):
        raise InputError("the model has no module with a weight: nothing to report")
    original = model
    if init != "keep":
        model = copy.deepcopy(model)
        reinitialise(model, init, gain, seed)
    model.train(not eval_mode)
    run, host, where, grads = measure(model, batch, loss, seed, output, progress)
    rows = _theory(run, host, _rows(run, host, grads))
    ratio, rms_ratio, between = _summary(rows)
    v = verdict(ratio)
    findings = _findings(rows, ratio, rms_ratio, between, v) + _theory_lines(rows)
    checks: list[Check] = []
    dead = max((r.dead_frac for r in rows if r.dead_frac is not None), default=0.0)
    rms_v = verdict(rms_ratio)
    if check_advice and (v != "healthy" or rms_v != "healthy" or dead >= NOTABLE):
        for cand_init, cand_gain in _candidates(rows, init, gain):
            other = analyse_module(original, batch, None, loss, seed=seed, init=cand_init, gain=cand_gain,
                                   eval_mode=eval_mode, output=output, check_advice=False)
            dead_other = max((r.dead_frac for r in other.layers if r.dead_frac is not None), default=0.0)
            checks.append(Check(cand_init, cand_gain, other.gradient_ratio, other.grad_rms_ratio, other.verdict,
                                dead_other))
    advice = _advice(rows, v, rms_v, checks)
    notes = ["Activations are seen as modules (nn.ReLU, nn.Sigmoid, ...); functional calls inside forward "
             "(F.relu, torch.sigmoid) are not: those rows show the module's own output and no saturated/dead share."]
    config = ModuleConfig(
        model=label or type(original).__name__, input_shape=batch.example_shape, batch=batch.size,
        data=data, loss=loss, output=where, dtype=str(dtype).removeprefix("torch."), device=str(device),
        seed=seed, init=init, gain=None if init == "keep" else (DEFAULT_GAIN[init] if gain is None else gain),
        mode="eval" if eval_mode else "train")
    return ModuleResult(config, tuple(rows), ratio, rms_ratio, between, v, tuple(findings), tuple(advice),
                        tuple(checks), tuple(notes))
