"""A one-hidden-layer perceptron trained by backpropagation: the notes' answer to XOR.

Hidden units use any element-wise activation from the registry (its analytic `fn` and `grad`);
the output is a sigmoid unit with binary cross-entropy, trained by full-batch gradient descent on
all 2^n rows. Training is seeded; an attempt that stalls (loss no longer falling) is restarted
from a fresh initialisation drawn from the same seeded stream, and every restart is recorded.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from dlcli import activations
from dlcli.errors import InputError
from dlcli.memory import check_fits, human_bytes
from dlcli.perceptron.boolean import BooleanFunction, describe, table_from_outputs
from dlcli.perceptron.census import MAX_LIST_INPUTS, census
from dlcli.perceptron.learning import Verdict, decide, threshold_text

TARGET_LOSS = 0.05  # mean cross-entropy at which a fully correct network counts as solved
STALL_WINDOW = 500  # epochs over which the loss must fall by STALL_DROP (relative) to keep going
STALL_DROP = 0.01
MAX_ATTEMPTS = 20


@dataclass
class Network:
    """Weights of x → act(x·W1 + b1) → sigmoid(h·W2 + b2)."""

    w1: np.ndarray  # (n, H)
    b1: np.ndarray  # (H,)
    w2: np.ndarray  # (H,)
    b2: float


@dataclass(frozen=True)
class Restart:
    """An attempt given up: which one, after how many epochs, at what loss and share of rows right, and why."""

    attempt: int
    epochs: int
    loss: float
    reason: str
    accuracy: float = float("nan")


@dataclass(frozen=True)
class HiddenUnit:
    """What one hidden unit computes, read as a threshold unit: step(w·x + b) over the rows."""

    weights: tuple[float, ...]
    bias: float
    output_weight: float
    table: str
    meaning: str


@dataclass(frozen=True)
class MLPResult:
    function: BooleanFunction
    hidden: int
    act: str
    lr: float
    seed: int
    solved: bool
    epochs: int  # epochs of the attempt reported (the best)
    loss: tuple[float, ...]  # per-epoch loss of the attempt reported
    restarts: tuple[Restart, ...]
    network: Network
    outputs: tuple[float, ...]  # the network's probability for each row
    predictions: str
    units: tuple[HiddenUnit, ...]
    attempt: int = 1  # the attempt reported: the solved one, else the one with most rows right, then least loss
    attempts: int = 1  # attempts made

    @property
    def accuracy(self) -> float:
        return self.function.accuracy(self.predictions)

    def as_dict(self, verdict: Verdict) -> dict:
        """The JSON contract: the single perceptron's keys (with `verdict`, the exact one), then the network's."""
        fn, net = self.function, self.network
        return {
            "function": fn.name, "inputs": fn.inputs, "truth_table": fn.table, "separable": verdict.separable,
            "converged": self.solved, "epochs": self.epochs, "weights": [float(w) for w in net.w2],
            "bias": float(net.b2), "predictions": self.predictions, "accuracy": self.accuracy,
            "certificate": verdict.as_dict(fn.table),
            "hidden": self.hidden, "loss": list(self.loss),
            "act": self.act, "lr": self.lr, "seed": self.seed, "attempt": self.attempt, "attempts": self.attempts,
            "restarts": [{"attempt": r.attempt, "epochs": r.epochs, "loss": r.loss, "accuracy": r.accuracy,
                          "reason": r.reason} for r in self.restarts],
            "hidden_units": [{"weights": list(u.weights), "bias": u.bias, "output_weight": u.output_weight,
                              "table": u.table, "computes": u.meaning} for u in self.units],
            "outputs": list(self.outputs),
        }


def hidden_activation(name: str) -> activations.Activation:
    """The registry activation `name`, if backpropagation can train it (element-wise, non-zero f')."""
    act = activations.get(name)
    if act.vector:
        raise InputError(f"--act {act.name} maps whole vectors; hidden units need an element-wise activation")
    probe = np.linspace(-3.0, 3.0, 61)
    if not np.any(act.grad(probe, **act.resolve()) != 0):
        raise InputError(f"--act {act.name} has zero derivative almost everywhere, so backpropagation "
                         "cannot train it; try sigmoid or tanh")
    return act


def init_network(rng: np.random.Generator, inputs: int, hidden: int) -> Network:
    """Fresh weights: N(0, 1) into the hidden layer, N(0, 1/H) into the output."""
    return Network(
        w1=rng.normal(0.0, 1.0, size=(inputs, hidden)),
        b1=rng.normal(0.0, 1.0, size=hidden),
        w2=rng.normal(0.0, 1.0 / np.sqrt(hidden), size=hidden),
        b2=0.0,
    )


def forward(net: Network, x: np.ndarray, act: activations.Activation, params: dict[str, float]):
    """Pre-activations z1, hidden outputs h, output logits z2 and probabilities p."""
    z1 = x @ net.w1 + net.b1
    h = act.fn(z1, **params)
    z2 = h @ net.w2 + net.b2
    p = activations.get("sigmoid").fn(z2)
    return z1, h, z2, p


def loss_and_gradients(net: Network, x: np.ndarray, t: np.ndarray, act: activations.Activation,
                       params: dict[str, float]) -> tuple[float, Network]:
    """Mean binary cross-entropy and its gradient with respect to every weight (backpropagation)."""
    z1, h, z2, p = forward(net, x, act, params)
    loss = float(np.mean(np.logaddexp(0.0, z2) - t * z2))  # −[t log p + (1−t) log(1−p)], stably
    d_z2 = (p - t) / len(t)  # ∂loss/∂z2 for sigmoid + cross-entropy
    d_h = np.outer(d_z2, net.w2)
    d_z1 = d_h * act.grad(z1, **params)  # the registry's analytic derivative
    grads = Network(w1=x.T @ d_z1, b1=d_z1.sum(axis=0), w2=h.T @ d_z2, b2=float(d_z2.sum()))
    return loss, grads


def mlp_bytes(inputs: int, hidden: int) -> int:
    """Peak bytes of train_mlp on all 2^inputs rows: seven (rows, hidden) float64 arrays in a step (z1, h, its
    gradient, f', ∂z1 and the activation's scratch), the weights three times over (the best attempt's, the
    current one's, their gradients), and each hidden unit's report (its weights, truth table and meaning)."""
    rows = 2**inputs
    weights = hidden * (inputs + 2)
    return 8 * (7 * rows * hidden + 3 * weights) + hidden * (1000 + 40 * inputs + rows)


def train_mlp(fn: BooleanFunction, hidden: int, act_name: str = "tanh", lr: float = 1.0,
              max_epochs: int = 5000, seed: int | None = None,
              act_params: dict[str, float | str] | None = None,
              on_restart: Callable[[Restart], None] | None = None,
              progress: Callable[[int, int, float], None] | None = None) -> MLPResult:
    """Train until every row is right and the loss is below TARGET_LOSS, restarting stalled attempts; report the
    best attempt (solved, else most rows right, then least loss). `progress` is called every epoch."""
    if hidden < 1:
        raise InputError(f"--hidden must be at least 1 (got {hidden})")
    if not lr > 0:
        raise InputError(f"learning rate must be positive (got {lr})")
    if max_epochs < 1:
        raise InputError(f"--epochs must be at least 1 (got {max_epochs})")
    act = hidden_activation(act_name)
    params = act.resolve(act_params)
    check_fits(mlp_bytes(fn.inputs, hidden), f"lower --hidden (each hidden unit takes about "
               f"{human_bytes(mlp_bytes(fn.inputs, hidden) / hidden)} over the {2**fn.inputs:,} rows)")
    seed = secrets.randbelow(2**31) if seed is None else seed
    rng = np.random.default_rng(seed)
    x = fn.rows.astype(np.float64)
    t = fn.targets.astype(np.float64)
    restarts: list[Restart] = []
    best: tuple[tuple[bool, int, float], int, Network, list[float]] | None = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        net = init_network(rng, fn.inputs, hidden)
        losses: list[float] = []
        outcome = "epochs"
        for epoch in range(1, max_epochs + 1):
            loss, grads = loss_and_gradients(net, x, t, act, params)
            losses.append(loss)
            if progress is not None:
                progress(attempt, epoch, loss)
            if loss < TARGET_LOSS and _predictions(net, x, act, params) == fn.table:
                outcome = "solved"
                break
            if not np.isfinite(loss):
                outcome = "diverged"
                break
            earlier = losses[-STALL_WINDOW - 1] if epoch > STALL_WINDOW else None
            if earlier is not None and earlier - loss < STALL_DROP * earlier:
                outcome = "stalled"
                break
            if epoch == max_epochs:  # no step after the last loss: the network kept is the one it measures
                break
            net.w1 -= lr * grads.w1
            net.b1 -= lr * grads.b1
            net.w2 -= lr * grads.w2
            net.b2 -= lr * grads.b2
        right = sum(a == b for a, b in zip(_predictions(net, x, act, params), fn.table, strict=True))
        score = (outcome == "solved", right, -losses[-1] if np.isfinite(losses[-1]) else -np.inf)
        if best is None or score > best[0]:
            best = (score, attempt, net, losses)
        if outcome == "solved" or attempt == MAX_ATTEMPTS:
            break
        reason = {"stalled": f"loss fell by under {STALL_DROP:.0%} in {STALL_WINDOW} epochs",
                  "diverged": "loss became non-finite (learning rate too large?)",
                  "epochs": f"not solved within {max_epochs} epochs"}[outcome]
        restarts.append(Restart(attempt, len(losses), losses[-1], reason, right / len(fn.table)))
        if on_restart is not None:
            on_restart(restarts[-1])
    assert best is not None
    (solved, _, _), chosen, net, losses = best
    _, _, _, p = forward(net, x, act, params)
    return MLPResult(
        function=fn, hidden=hidden, act=act.name, lr=lr, seed=seed, solved=solved,
        epochs=len(losses), loss=tuple(losses), restarts=tuple(restarts), network=net,
        outputs=tuple(float(v) for v in p), predictions=_predictions(net, x, act, params),
        units=_hidden_units(net, x), attempt=chosen, attempts=attempt,
    )


def _predictions(net: Network, x: np.ndarray, act: activations.Activation, params: dict[str, float]) -> str:
    return table_from_outputs(forward(net, x, act, params)[3] >= 0.5)


def meaning(table: str) -> str:
    """A name for a hidden unit's truth table ('nand', 'x1 and not x2'), else its smallest integer
    threshold form ('x1 + x2 - x3 ≥ 1'): every step(w·x + b) computes a threshold function."""
    name = describe(table)
    if name != table:
        return name
    n = len(table).bit_length() - 1
    if n <= MAX_LIST_INPUTS:
        realisation = _smallest_realisations(n)[table]
        return threshold_text(realisation.weights, realisation.bias)
    verdict = decide(BooleanFunction(table, n, table))
    return threshold_text(verdict.weights, verdict.bias) if verdict.separable else table


@cache
def _smallest_realisations(n: int) -> dict:
    return {r.table: r for r in census(n, "direct", listing=True).realisations}


def _hidden_units(net: Network, x: np.ndarray) -> tuple[HiddenUnit, ...]:
    z1 = x @ net.w1 + net.b1
    units = []
    meanings: dict[str, str] = {}  # many units share a table: each is read once
    for j in range(net.w1.shape[1]):
        table = table_from_outputs(z1[:, j] >= 0)
        if table not in meanings:
            meanings[table] = meaning(table)
        units.append(HiddenUnit(tuple(float(v) for v in net.w1[:, j]), float(net.b1[j]), float(net.w2[j]),
                                table, meanings[table]))
    return tuple(units)
