"""Findings over a recorded run, each tied to layers and steps: the first non-finite gradient, probe's alarms on
the sampled steps (dead units among them), layers that stop learning or whose update grows, saturated units, loss
rises.
The rules and thresholds are in docs/watch.md."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dlcli.runs.run import Run

STOPPED_BELOW = 1e-5     # update ratio below which a layer does not learn
FITTED_BELOW = 1e-3      # a final loss below this share of the first: layers that stop have fitted the data
GREW_BY = 10.0           # update ratio per unit of learning rate, over its early median: grew
SATURATED_FROM = 0.9     # share of unit-samples with a near-zero slope (smooth activations)
SPIKE_OVER = 1.5         # a rise: the median of SPIKE_HOLD losses over this many times that of the SPIKE_WINDOW before
SPIKE_WINDOW = 20
SPIKE_HOLD = 5           # one hard minibatch is not a rise
SPIKE_SIZE = 0.05        # and the rise is at least this share of the first recorded loss
ZERO_ONE = {"relu", "relu6", "hardtanh", "threshold", "step"}  # their zero slope is not saturation
SEVERITY = {"watch_error": 0, "nonfinite": 0, "loss_nonfinite": 0, "update_grew": 1, "stopped": 1,
            "never_learned": 1, "saturated": 2, "loss_spike": 3, "converged": 3}  # probe's alarm kinds: 1


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str                 # alarm: something is wrong; note: worth knowing
    modules: tuple[str, ...]
    step: int | None              # from which step it holds
    text: str

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "severity": self.severity, "modules": list(self.modules), "step": self.step,
                "text": self.text}


def _g(x: float) -> str:
    return f"{x:.3g}"


def find(run: Run) -> tuple[str, list[Finding], dict[str, object] | None]:
    """(verdict, findings ranked, the first non-finite gradient or None)."""
    found: list[Finding] = []
    nonfinite: dict[str, object] | None = None
    for step, kind, module, detail in run.events:
        if kind == "watch_error":
            found.append(Finding("watch_error", "note", (), step,
                                 f"dlcli stopped sampling at step {step} ({detail}): a dlcli bug, please report it; "
                                 "the samples after it are missing."))
        if kind == "nonfinite_gradient" and nonfinite is None:
            nonfinite = {"step": step, "module": module}
            where = f" in `{module}`" if module else ""
            found.append(Finding("nonfinite", "alarm", (module,) if module else (), step,
                                 f"first non-finite gradient at step {step}{where} ({detail})."))
    spikes = _loss(run, found)
    if nonfinite is None:
        _alarms(run, found)
    _learning(run, found, spikes)
    _saturation(run, found)
    found.sort(key=lambda f: (SEVERITY.get(f.kind, 1), f.step if f.step is not None else 0))
    last = run.verdicts[max(run.verdicts)] if run.verdicts else "healthy"
    if nonfinite is not None or any(f.kind == "loss_nonfinite" for f in found):
        verdict = "non-finite"
    elif last not in ("healthy", "unhealthy"):
        verdict = last
    else:
        verdict = "unhealthy" if any(f.severity == "alarm" for f in found) else "healthy"
    return verdict, found, nonfinite


def _loss(run: Run, found: list[Finding]) -> list[int]:
    """Loss spikes (steps) and a non-finite loss."""
    curve = run.scalars.get("loss")
    if curve is None or not len(curve[0]):
        return []
    steps, loss = curve
    bad = np.flatnonzero(~np.isfinite(loss))
    if len(bad):
        found.append(Finding("loss_nonfinite", "alarm", (), int(steps[bad[0]]),
                             f"the loss became {loss[bad[0]]} at step {int(steps[bad[0]])}."))
    spikes: list[int] = []
    scale = abs(float(loss[0])) if np.isfinite(loss[0]) else 0.0
    for k in range(SPIKE_WINDOW // 2, len(loss) - SPIKE_HOLD + 1):
        before, after = loss[max(0, k - SPIKE_WINDOW):k], loss[k:k + SPIKE_HOLD]
        before, after = before[np.isfinite(before)], after[np.isfinite(after)]
        if not len(before) or len(after) < SPIKE_HOLD or not np.isfinite(loss[k]):
            continue
        low, high = float(np.median(before)), float(np.median(after))
        if high > SPIKE_OVER * low and high - low > SPIKE_SIZE * scale and loss[k] > SPIKE_OVER * low:
            if not spikes or k > spikes[-1] + SPIKE_WINDOW:  # one spike per rise
                spikes.append(k)
    if spikes:
        first = spikes[0]
        peak = int(np.nanargmax(np.where(np.isfinite(loss), loss, -np.inf)))
        more = f" ({len(spikes)} rises)" if len(spikes) > 1 else ""
        found.append(Finding(
            "loss_spike", "note", (), int(steps[first]),
            f"the loss rose at step {int(steps[first])}: the median of the {SPIKE_HOLD} values from there, "
            f"{_g(float(np.median(loss[first:first + SPIKE_HOLD])))}, is over {SPIKE_OVER:g}× that of the "
            f"{SPIKE_WINDOW} before ({_g(float(np.median(loss[max(0, first - SPIKE_WINDOW):first])))}); the highest "
            f"loss is {_g(float(loss[peak]))} at step {int(steps[peak])}{more}."))
    return [int(steps[k]) for k in spikes]


def _alarms(run: Run, found: list[Finding]) -> None:
    """Probe's alarms on the sampled steps (their kind kept: dead, vanishing, exploding, no_gradient, ...), one
    finding per kind and modules, from the first step raising it."""
    seen: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    text: dict[tuple[str, tuple[str, ...]], str] = {}
    for step, kind, modules, t in run.alarms:
        if kind == "non_finite":
            continue
        seen.setdefault((kind, modules), []).append(step)
        text.setdefault((kind, modules), t)
    total = len(run.steps)
    for key, steps in seen.items():
        span = f"at step {steps[0]}" if len(steps) == 1 else f"from step {steps[0]} ({len(steps)} of {total} samples)"
        found.append(Finding(key[0], "alarm", key[1], steps[0], f"{span}: {text[key]}"))


def _learning(run: Run, found: list[Finding], spikes: list[int]) -> None:
    """Layers that never learn or stop learning, and updates that grow out of proportion to the learning rate."""
    if len(run.steps) < 2 or "update_ratio" not in run.values:
        return
    ratio, known = run.values["update_ratio"], run.known["update_ratio"]
    grads = run.known["grad_norm"]
    lr = _lr_at(run)
    stopped: list[tuple[str, int]] = []
    never: list[str] = []
    for j, m in enumerate(run.modules):
        k = known[:, j] & grads[:, j]
        if k.sum() < 2:
            continue
        steps, r = run.steps[k], ratio[k, j]
        low = r < STOPPED_BELOW
        if low.all():
            never.append(m.name)
        elif low[-1]:
            last_high = int(np.flatnonzero(~low)[-1])
            if low[last_high + 1:].all() and len(r) - last_high - 1 >= 2:
                stopped.append((m.name, int(steps[last_high])))
        scale = lr[k] if lr is not None else np.ones(len(r))
        per_lr = np.where(scale > 0, r / np.where(scale > 0, scale, 1), np.nan)
        early = per_lr[: max(2, len(per_lr) // 4)]
        base = float(np.nanmedian(early)) if np.isfinite(early).any() else math.nan
        if base > 0:
            grew = per_lr / base
            over = np.flatnonzero(grew[1:] > GREW_BY) + 1  # the first sample has nothing to grow from
            if len(over):
                start, peak = int(steps[over[0]]), float(np.nanmax(grew))
                after = [s for s in spikes if s >= start]
                tail = f"; the loss rose at step {after[0]}" if after else ""
                per = " per unit of learning rate" if lr is not None else ""
                found.append(Finding("update_grew", "alarm", (m.name,), start,
                                     f"from step {start} `{m.name}`'s update ratio{per} grew ×{_g(peak)} over its "
                                     f"early median{tail}."))
    schedule = lr is not None and bool(np.any(lr > 0)) and lr[-1] < 1e-3 * np.nanmax(lr)
    if never and not schedule:
        found.append(Finding("never_learned", "alarm", tuple(never), int(run.steps[0]),
                             f"{_names(never)} never learned: update ratio below {STOPPED_BELOW:g} at every sampled "
                             "step."))
    if not stopped or (schedule and len(stopped) + len(never) == len(run.modules)):
        return
    fitted = _fitted(run)
    if fitted is not None and 2 * len(stopped) >= len(run.modules):
        names = [n for n, _ in stopped]
        found.append(Finding("converged", "note", tuple(names), min(s for _, s in stopped),
                             f"the loss fell to {_g(fitted[1])} of {_g(fitted[0])} at the start: {_names(names)} "
                             f"then stopped moving (update ratio below {STOPPED_BELOW:g}), as a fitted model does."))
    elif len(stopped) > 3:
        names = [n for n, _ in stopped]
        first, last = min(s for _, s in stopped), max(s for _, s in stopped)
        when = f"step {first}" if first == last else f"steps {first} to {last}"
        found.append(Finding("stopped", "alarm", tuple(names), first,
                             f"{_names(names)} stopped learning after {when}: update ratio below "
                             f"{STOPPED_BELOW:g} at every sample since."))
    else:
        for name, step in stopped:
            found.append(Finding("stopped", "alarm", (name,), step,
                                 f"`{name}` stopped learning after step {step}: update ratio below {STOPPED_BELOW:g} "
                                 "at every sample since."))


def _fitted(run: Run) -> tuple[float, float] | None:
    """(first, last) recorded loss where the last is below FITTED_BELOW of the first (a fitted model), else None."""
    curve = run.scalars.get("loss")
    if curve is None or len(curve[1]) < 2:
        return None
    first, last = float(curve[1][0]), float(curve[1][-1])
    ok = math.isfinite(first) and math.isfinite(last) and first > 0 and 0 <= last < FITTED_BELOW * first
    return (first, last) if ok else None


def _saturation(run: Run, found: list[Finding]) -> None:
    """Saturated units of smooth activations, from the step since which they stay past the line (dead units are
    probe's own alarm on each sample)."""
    values, known = run.values["saturated_frac"], run.known["saturated_frac"]
    for j, m in enumerate(run.modules):
        k = known[:, j]
        if m.activation is None or m.activation in ZERO_ONE or not k.any():
            continue
        steps, v = run.steps[k], values[k, j]
        over = v >= SATURATED_FROM
        if not over[-1]:
            continue
        start = len(v) - 1
        while start > 0 and over[start - 1]:
            start -= 1
        found.append(Finding("saturated", "alarm", (m.name,), int(steps[start]),
                             f"`{m.name}`: {v[-1]:.0%} of its {m.activation} outputs saturated (slope under 1% of its "
                             f"largest) from step {int(steps[start])}."))


def _lr_at(run: Run) -> np.ndarray | None:
    """The first group's learning rate at each sampled step, where recorded."""
    if "lr" not in run.scalars:
        return None
    steps, lr = run.scalars["lr"]
    at = dict(zip(steps.tolist(), lr.tolist(), strict=True))
    return np.array([at.get(int(s), math.nan) for s in run.steps])


def _names(names: list[str], shown: int = 4) -> str:
    quoted = [f"`{n}`" for n in names[:shown]]
    return ", ".join(quoted) + (f" and {len(names) - shown} more" if len(names) > shown else "")
