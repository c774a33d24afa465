"""What a training run concludes: how fast layer 1 learned beside the last layer, and why, in the notes' terms,
tied to `vanish`'s mean-field theory of the same stack at its initial weights."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from dlcli import activations
from dlcli.errors import count
from dlcli.train.config import TrainConfig
from dlcli.train.result import Divergence, EpochRecord
from dlcli.vanish import meanfield
from dlcli.vanish.statistics import MIN_DEAD_EXAMPLES, dead_units_note

SLOW_BELOW = 1e-2     # layer 1 moves less than 1% as fast as the last layer: the layers near the input barely train
FAST_ABOVE = 1e2
NEAR_CHANCE = 0.1     # test accuracy less than a tenth of the way from chance to 1: it learned next to nothing


def speed_rows(config: TrainConfig, rows: int) -> tuple[int, int]:
    """The two rows (1-based) whose learning speeds are compared: layer 1 and the last layer with the activation
    for a built stack of two or more hidden layers (the linear head's speed follows the loss, not the gradient's
    way down: it stops once the outputs sit at chance); else the first and the last row."""
    hidden = len(config.widths) - 2
    if config.built and hidden >= 2:
        return 1, hidden
    return 1, rows


def learning_speed_ratio(epochs: Sequence[EpochRecord], first: int = 1, last: int | None = None) -> float:
    """Row `first`'s update_ratio over row `last`'s (default: the last row), geometric mean over the epochs
    (nan without epochs; an epoch where either row started at zero weights, so has no ratio, is left out)."""
    logs = []
    for e in epochs:
        a = e.layers[first - 1].update_ratio
        b = e.layers[(len(e.layers) if last is None else last) - 1].update_ratio
        if a is None or b is None:
            continue
        if a == 0.0 and b == 0.0:
            continue
        if b == 0.0:
            return math.inf
        if a == 0.0:
            return 0.0
        logs.append(math.log(a) - math.log(b))
    if not logs:
        return math.nan
    return math.exp(sum(logs) / len(logs))


def _g(x: float | None, digits: int = 3) -> str:
    if x is None or math.isnan(x):
        return "undefined"
    if math.isinf(x):
        return "∞"
    if x != 0 and not 1e-3 <= abs(x) < 1e4:
        mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{x:.{digits}g}"


def at_chance(epochs: Sequence[EpochRecord], classes: int | None) -> bool:
    """Whether the last epoch's test accuracy stays within a tenth of the way from chance (1/classes) to 1: it
    learned next to nothing (10 classes: below 0.19; 2 classes: below 0.55)."""
    if not epochs or not classes or classes < 2 or math.isnan(epochs[-1].test_accuracy):
        return False
    chance = 1.0 / classes
    return epochs[-1].test_accuracy < chance + NEAR_CHANCE * (1.0 - chance)


def verdict(ratio: float, rows: Sequence[str], pair: tuple[int, int], epochs: Sequence[EpochRecord] = (),
            classes: int | None = None, divergence: Divergence | None = None) -> str:
    """One sentence: how fast layer 1 learned beside the compared top layer, in the notes' terms; never "every
    layer learns" for a run whose test accuracy stayed near chance (`epochs`, `classes`) or that stopped on
    NaN/inf before its first epoch ended (`divergence`)."""
    if divergence is not None and not epochs:
        cause = "the model's" if divergence.before_update else "training diverged"
        return f"not trained: NaN/inf in the first epoch ({cause}; see the error)"
    first, last = pair
    if first == last:
        return "one layer: nothing to compare its learning speed with"
    head = f"layer {first} learned {_g(ratio)} times as fast as layer {last} ({rows[last - 1]})"
    if math.isnan(ratio):
        return f"no layer moved: {head}"
    if at_chance(epochs, classes):
        assert classes
        chance = (f"it learned next to nothing (test accuracy {_g(epochs[-1].test_accuracy)}, chance "
                  f"{_g(1.0 / classes)}): layer {first}'s weights moved {_g(ratio)} times as fast as layer {last}'s "
                  f"({rows[last - 1]})")
        if ratio < SLOW_BELOW:
            return f"{chance}, the layers near the input barely train"
        return f"{chance}, the layers near the input move the most" if ratio > FAST_ABOVE else chance
    if ratio < SLOW_BELOW:
        return f"{head}: the layers near the input barely train"
    if ratio > FAST_ABOVE:
        return f"{head}: the layers near the input move the most (exploding gradients)"
    return f"{head}: every layer learns"


def theory(config: TrainConfig, input_var: float) -> dict[str, Any] | None:
    """vanish's mean-field theory for the stack's hidden layers (the ones with the activation), at the
    initial weights; None for the user's model or a stack of fewer than two hidden layers."""
    hidden = len(config.widths) - 2
    if not config.built or hidden < 2 or config.activation is None:
        return None
    vc = config.vanish_config()
    t = meanfield.predict(activations.get(config.activation), config.params, vc.layer_specs()[:hidden],
                          input_var=input_var)
    return {"hidden_layers": hidden, "q_star": t.q_star, "chi1": t.chi1, "per_layer_factor": t.per_layer_factor,
            "predicted_ratio": t.predicted_ratio, "predicted_ratio_layerwise": t.predicted_ratio_layerwise,
            "naive_bound": t.naive_bound, "sigma_w2": t.sigma_w2, "critical_gain": t.critical_gain,
            "input_var": input_var}


def explain(config: TrainConfig, rows: Sequence[str], initial: EpochRecord, epochs: Sequence[EpochRecord],
            ratio: float, th: dict[str, Any] | None, classes: int, tested: int | None = None) -> tuple[str, ...]:
    """A few sentences: did it learn, why layer 1 moved as it did, dead units (`tested`: the test examples
    they are counted on), what to try."""
    lines = []
    if epochs:
        last = epochs[-1]
        chance = 1.0 / classes
        learned = "it learned next to nothing" if at_chance(epochs, classes) else \
            f"{last.test_accuracy / chance:.3g}× chance"
        lines.append(f"After {count(len(epochs), 'epoch')} test accuracy is {last.test_accuracy:.3g}, chance is "
                     f"{chance:.2g}: {learned}.")
        first = epochs[0].layers
        if th is not None:
            hidden = th["hidden_layers"]
            measured = first[0].weight_grad_norm / first[hidden - 1].weight_grad_norm \
                if first[hidden - 1].weight_grad_norm > 0 else math.nan
            e_dphi2 = th["chi1"] / th["sigma_w2"] if th["sigma_w2"] else math.nan
            lines.append(f"Why: at the initial weights each layer down scales the gradient by √χ1 = √(σ_w² E[φ'²]) = "
                         f"√({_g(th['sigma_w2'])} × {_g(e_dphi2)}) = {_g(th['per_layer_factor'])}")
            lines.append(f"(vanish's theory): {_g(th['per_layer_factor'])}^{hidden - 1} = "
                         f"{_g(th['predicted_ratio'])} from layer {hidden} to layer 1; measured (epoch 1): "
                         f"‖∂W_1‖/‖∂W_{hidden}‖ = {_g(measured)}.")
        if config.optimizer == "adam":
            lines.append("adam divides each step by the gradient's running size, so a small gradient alone does not "
                         "slow a layer down (below adam's ε = 1e-8 it does).")
        else:
            step = "its gradient" if config.optimizer == "sgd" else "a running sum of its gradients"
            lines.append(f"{config.optimizer} moves each weight by lr × {step}, so a layer learns as fast as its "
                         "gradient is large beside its weights.")
        zero = [i for i, name in enumerate(rows) if any(e.layers[i].update_ratio is None for e in epochs)]
        if zero:
            firsts = [next(e.layers[i] for e in epochs if e.layers[i].update_ratio is None) for i in zero[:6]]
            moved = ", ".join(f"{layer.layer} ({layer.name}) {_g(layer.update_norm)}" for layer in firsts)
            more = f" and {len(zero) - 6} more" if len(zero) > 6 else ""
            lines.append(f"{len(zero)} layer{'s' if len(zero) > 1 else ''} started an epoch with all-zero weights "
                         "(‖W‖ = 0, e.g. a residual block's last BatchNorm γ under zero_init_last): ‖ΔW‖/‖W‖ does "
                         "not apply there, so update_ratio is empty and update_norm gives the absolute move ‖ΔW‖ "
                         f"(layer, first such epoch): {moved}{more}.")
        if tested is not None and tested < MIN_DEAD_EXAMPLES:
            lines.append(dead_units_note(tested, "test examples: --test-split or the data's x_test"))
        for i, name in enumerate(rows):
            before, after = initial.layers[i].dead_frac, last.layers[i].dead_frac
            if after >= 0.05 and after > before + 0.02:
                lines.append(f"Layer {i + 1} ({name}): {after:.0%} of its units are dead after training "
                             f"({before:.0%} before): no gradient reaches their weights.")
    if config.built and ratio < SLOW_BELOW and config.activation in ("sigmoid", "tanh", "softsign", "hardtanh",
                                                                       "hardsigmoid"):
        lines.append("To try: relu with --init kaiming, --optimizer adam, or fewer layers.")
    elif at_chance(epochs, classes):
        lines.append(_chance_hint(config, th))
    return tuple(lines)


def _chance_hint(config: TrainConfig, th: dict[str, Any] | None) -> str:
    """What to change when the run stayed at chance: the initial scale where the theory says the gradient
    shrinks or grows a layer going down, else the optimizer's step and the depth."""
    tries = []
    factor = th["per_layer_factor"] if th is not None else math.nan
    if th is not None and 0 < factor < math.inf and abs(math.log(factor)) > math.log(1.25):
        way = "shrinks" if th["per_layer_factor"] < 1 else "grows"
        gain = th["critical_gain"]
        fix = f"--init normal --gain {gain:.4g} (χ1 = 1)" if gain is not None else "another --init"
        if config.activation in ("relu", "leaky_relu", "prelu") and config.init != "kaiming":
            fix = f"--init kaiming or {fix}"
        tries.append(f"at the initial weights the gradient {way} ×{_g(th['per_layer_factor'])} a layer going down "
                     f"(σ_w² = {_g(th['sigma_w2'])}): {fix}")
    tries.append(f"a larger --lr than {config.lr:g}" if config.optimizer != "adam" else "--optimizer sgd or momentum")
    if config.optimizer != "adam":
        tries.append("--optimizer adam")
    tries.append("more --epochs")
    if config.built and len(config.widths) > 4:
        tries.append("fewer layers (--depth)")
    return "To try: " + "; ".join(tries) + "."
