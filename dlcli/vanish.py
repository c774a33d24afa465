"""Gradient flow through a stack of dense layers: the configuration, the weights both engines share,
the numpy engine (forward and backward written out for this stack) and the per-layer statistics.

The network: z_l = W_l a_{l-1} + b_l, a_l = φ(z_l) for l = 1..L, standard-normal inputs a_0, and a loss at
the top, by default the fixed random projection Σ_batch v·a_L, whose gradient v does not depend on the
forward pass. Losses are sums over the batch, so per-example gradients do not depend on the batch size.
"""

from __future__ import annotations

import functools
import math
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from dlcli import activations, blas
from dlcli.activations.base import Params
from dlcli.errors import InputError
from dlcli.meanfield import LayerSpec

INITS = ("default", "xavier", "kaiming", "lecun", "orthogonal", "normal")
DTYPES = ("float64", "float32", "bfloat16")
ENGINES = ("numpy", "torch")
DEVICES = ("cpu", "cuda")
LOSSES = ("projection", "mse")
# The gain each initialisation uses when --gain is not given (torch's own defaults where torch has the init).
DEFAULT_GAIN = {"default": 1.0, "xavier": 1.0, "kaiming": math.sqrt(2.0), "lecun": 1.0, "orthogonal": 1.0,
                "normal": 1.0}
SATURATION_LEVEL = 0.01  # a unit-sample is saturated where |φ'(z)| < 1% of max|φ'|

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class VanishConfig:
    """One experiment, every option resolved. widths = (n_0, n_1, ..., n_L), n_0 the input width."""

    widths: tuple[int, ...]
    activation: str
    params: Params = field(default_factory=dict)
    init: str = "default"
    gain: float = 1.0
    bias_std: float | None = None  # None: the init's own biases (nn.Linear's uniform for default, else 0)
    batch: int = 64
    seed: int = 0
    dtype: str = "float64"
    engine: str = "numpy"
    device: str = "cpu"
    loss: str = "projection"

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    def layer_specs(self) -> list[LayerSpec]:
        """Each layer's effective mean-field σ_w² = fan_in·Var(W_ij) and σ_b² = Var(b_i)."""
        return [LayerSpec(n_in, n_out, self._sigma_w2(n_in, n_out), self._sigma_b2(n_in))
                for n_in, n_out in zip(self.widths[:-1], self.widths[1:], strict=True)]

    def _sigma_w2(self, fan_in: int, fan_out: int) -> float:
        g2 = self.gain**2
        if self.init == "default":      # U(±g/√fan_in): variance g²/(3·fan_in)
            return g2 / 3.0
        if self.init == "xavier":       # U(±g·√(6/(fan_in+fan_out)))
            return g2 * 2.0 * fan_in / (fan_in + fan_out)
        if self.init == "orthogonal":   # orthonormal rows (fan_out ≤ fan_in) or columns, times g
            return g2 if fan_out <= fan_in else g2 * fan_in / fan_out
        return g2                       # kaiming, lecun, normal: N(0, g²/fan_in)

    def _sigma_b2(self, fan_in: int) -> float:
        if self.bias_std is not None:
            return self.bias_std**2
        return 1.0 / (3.0 * fan_in) if self.init == "default" else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "activation": self.activation, "params": dict(self.params), "depth": self.depth,
            "widths": list(self.widths), "batch": self.batch, "init": self.init, "gain": self.gain,
            "bias_std": self.bias_std, "loss": self.loss, "seed": self.seed, "dtype": self.dtype,
            "engine": self.engine, "device": self.device,
        }


def make_config(
    activation: str, *, depth: int | None = None, width: int | None = None, layers: Sequence[int] | None = None,
    params: dict[str, str | float] | None = None, init: str = "default", gain: float | None = None,
    bias_std: float | None = None, batch: int = 64, seed: int | None = None, dtype: str = "float64",
    engine: str | None = None, device: str = "cpu", loss: str = "projection",
) -> VanishConfig:
    """Validate every option (InputError on the first bad one) and fill in the defaults.

    Without an engine, cuda and bfloat16 choose torch (numpy has neither) and everything else numpy.
    """
    if engine is None:
        engine = "torch" if device == "cuda" or dtype == "bfloat16" else "numpy"
    if layers is not None:
        if depth is not None or width is not None:
            raise InputError("give either --layers or --depth/--width, not both")
        widths = tuple(int(n) for n in layers)
        if len(widths) < 2:
            raise InputError(f"--layers needs at least two widths (input and one layer), got {len(widths)}")
        if min(widths) < 1:
            raise InputError(f"--layers widths must be at least 1, got {','.join(map(str, widths))}")
    else:
        depth = 20 if depth is None else depth
        width = 256 if width is None else width
        if depth < 1:
            raise InputError(f"--depth must be at least 1, got {depth}")
        if width < 1:
            raise InputError(f"--width must be at least 1, got {width}")
        widths = (width,) * (depth + 1)
    if batch < 1:
        raise InputError(f"--batch must be at least 1, got {batch}")
    act = activations.get(activation)
    if act.vector:
        raise InputError(f"{act.name} acts on a whole vector; vanish stacks element-wise activations")
    resolved = act.resolve(params)
    for name, value, choices in (("--init", init, INITS), ("--dtype", dtype, DTYPES), ("--engine", engine, ENGINES),
                                 ("--device", device, DEVICES), ("--loss", loss, LOSSES)):
        if value not in choices:
            raise InputError(f"unknown {name} '{value}'; choose from: {', '.join(choices)}")
    gain = DEFAULT_GAIN[init] if gain is None else float(gain)
    if not (math.isfinite(gain) and gain > 0):
        raise InputError(f"--gain must be a positive number, got {gain:g}")
    if bias_std is not None and not (math.isfinite(bias_std) and bias_std >= 0):
        raise InputError(f"--bias-std must be zero or positive, got {bias_std:g}")
    if engine == "numpy" and dtype == "bfloat16":
        raise InputError("numpy has no bfloat16; use --engine torch --dtype bfloat16")
    if engine == "numpy" and device != "cpu":
        raise InputError(f"--device {device} needs --engine torch")
    if seed is None:
        seed = secrets.randbelow(2**32)
    if seed < 0:
        raise InputError(f"--seed must be zero or positive, got {seed}")
    return VanishConfig(widths, act.name, resolved, init, gain, bias_std, batch, seed, dtype, engine, device, loss)


# --- weights, inputs and the loss head: generated once in float64, shared by both engines -------------

def _rng(config: VanishConfig, stream: int, index: int = 0) -> np.random.Generator:
    # Independent streams per purpose and layer: the weights do not change with --batch or --loss,
    # and layer l's weights do not change with --depth.
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(stream, index)))


def layer_weights(config: VanishConfig, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) of layer `layer` (1-based), W shaped (fan_out, fan_in) like nn.Linear.weight, float64."""
    fan_in, fan_out = config.widths[layer - 1], config.widths[layer]
    rng = _rng(config, 2, layer)
    g = config.gain
    if config.init == "default":
        bound = g / math.sqrt(fan_in)
        w = rng.uniform(-bound, bound, size=(fan_out, fan_in))
    elif config.init == "xavier":
        bound = g * math.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-bound, bound, size=(fan_out, fan_in))
    elif config.init == "orthogonal":
        w = g * _orthogonal(rng, fan_out, fan_in)
    else:
        w = rng.standard_normal((fan_out, fan_in)) * (g / math.sqrt(fan_in))
    if config.bias_std is not None:
        b = rng.standard_normal(fan_out) * config.bias_std
    elif config.init == "default":
        bound = 1.0 / math.sqrt(fan_in)
        b = rng.uniform(-bound, bound, size=fan_out)
    else:
        b = np.zeros(fan_out)
    return w, b


def _orthogonal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """torch.nn.init.orthogonal_'s construction: QR of a Gaussian matrix, signs fixed by diag(R)."""
    flat = rng.standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    return q.T if rows < cols else q


def inputs(config: VanishConfig) -> np.ndarray:
    """The batch of standard-normal inputs, (batch, n_0)."""
    return _rng(config, 0).standard_normal((config.batch, config.widths[0]))


def loss_head(config: VanishConfig) -> np.ndarray:
    """The projection v (n_L,) for the projection loss, or the targets (batch, n_L) for MSE."""
    rng = _rng(config, 1)
    if config.loss == "mse":
        return rng.standard_normal((config.batch, config.widths[-1]))
    return rng.standard_normal(config.widths[-1])


def loss_grad(config: VanishConfig, top: np.ndarray, head: np.ndarray) -> np.ndarray:
    """∂loss/∂a_L for the batch: v for Σ v·a_L, a_L − t for ½ Σ ‖a_L − t‖²."""
    if config.loss == "mse":
        return top - head.astype(top.dtype)
    return np.broadcast_to(head.astype(top.dtype), top.shape)


# --- statistics ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerStats:
    layer: int
    width: int
    weight_grad_norm: float   # Frobenius norm of ∂loss/∂W_l
    grad_rms: float           # root mean square of ∂loss/∂z_l over batch and units
    act_mean: float
    act_std: float
    saturated_frac: float     # share of unit-samples with |φ'(z)| < 1% of max|φ'|
    dead_frac: float          # share of units with φ'(z) = 0 for every sample

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def inverse_power_of_two(x: float, limit: int = 126) -> float:
    """A power of two near 1/x (x > 0 and finite; else 1), its exponent within ±limit: multiplying by it is
    exact, and keeps a float32 (limit 126) or float64 (limit 1020) scale a normal number."""
    if not 0 < x < math.inf:
        return 1.0
    return 2.0 ** -min(max(math.frexp(x)[1], -limit), limit)


def norm2(x: np.ndarray) -> float:
    """Euclidean norm of all entries in float64, safe from underflow and overflow (entries below 1e-154
    square to 0, above 1e154 to inf): those sums are redone after scaling by the largest entry."""
    flat = np.asarray(x, dtype=np.float64).ravel(order="K")  # in memory order: no copy of a transpose
    with np.errstate(over="ignore", under="ignore"):
        total = float(flat @ flat)
    if 1e-280 < total < math.inf or total == 0.0 and not flat.any():
        return math.sqrt(total)
    scale = float(np.abs(flat).max())
    if scale == 0.0 or not math.isfinite(scale):
        return scale
    flat = flat / scale
    return scale * math.sqrt(float(flat @ flat))


def layer_stats(layer: int, z_dphi: np.ndarray, a: np.ndarray, delta: np.ndarray, dw: np.ndarray,
                sat_threshold: float) -> LayerStats:
    """The per-layer statistics, all computed in float64 whatever the working dtype."""
    a64 = np.asarray(a, dtype=np.float64)
    zero_grad = z_dphi == 0.0
    return LayerStats(
        layer=layer, width=a.shape[1],
        weight_grad_norm=norm2(dw),
        grad_rms=norm2(delta) / math.sqrt(delta.size),
        act_mean=float(a64.mean()), act_std=float(a64.std()),
        saturated_frac=float(np.count_nonzero(np.abs(z_dphi) < sat_threshold)) / z_dphi.size,
        dead_frac=float(np.count_nonzero(zero_grad.all(axis=0))) / z_dphi.shape[1],
    )


# --- the numpy engine --------------------------------------------------------------------------------

@dataclass
class NumpyNetwork:
    """Weights, biases, inputs and loss head in the working dtype."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    x: np.ndarray
    head: np.ndarray


def build_numpy(config: VanishConfig) -> NumpyNetwork:
    dtype = np.dtype(config.dtype)
    pairs = [layer_weights(config, layer) for layer in range(1, config.depth + 1)]
    return NumpyNetwork(
        weights=[w.astype(dtype, copy=False) for w, _ in pairs],
        biases=[b.astype(dtype, copy=False) for _, b in pairs],
        x=inputs(config).astype(dtype, copy=False),
        head=loss_head(config),
    )


def forward_backward(config: VanishConfig, net: NumpyNetwork, progress: Progress | None = None,
                     ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Forward through the stack, then yield (layer, φ'(z_l), a_l, ∂loss/∂z_l, ∂loss/∂W_l) from L down to 1.

    φ and φ' come from the registry in float64; matrix products run in the working dtype.
    """
    act = activations.get(config.activation)
    params = config.params
    dtype = net.x.dtype
    depth = config.depth
    zs: list[np.ndarray] = []
    outs: list[np.ndarray] = [net.x]
    for i in range(depth):
        z = outs[-1] @ net.weights[i].T + net.biases[i]
        zs.append(z)
        outs.append(act.fn(z.astype(np.float64, copy=False), **params).astype(dtype, copy=False))
        if progress:
            progress("forward", i + 1, depth)
    g = loss_grad(config, outs[-1], net.head)
    for i in range(depth - 1, -1, -1):
        dphi = act.grad(zs[i].astype(np.float64, copy=False), **params)
        a = outs[i + 1]
        delta = g * dphi.astype(dtype, copy=False)
        dw = delta.T @ outs[i]
        if i:
            g = delta @ net.weights[i]
        zs[i] = outs[i + 1] = None  # type: ignore[call-overload]  # free memory as we go down
        yield i + 1, dphi, a, delta, dw
        if progress:
            progress("backward", depth - i, depth)


def run_numpy(config: VanishConfig, progress: Progress | None = None) -> list[LayerStats]:
    """Per-layer statistics (layer 1 first) from the numpy engine."""
    net = build_numpy(config)
    threshold = SATURATION_LEVEL * max_abs_grad(config)
    # Products below ~16M multiply-adds gain nothing from a second BLAS thread (see dlcli.blas).
    small = config.batch * max(i * o for i, o in zip(config.widths, config.widths[1:], strict=False)) < 1 << 24
    with blas.single_thread(small):
        stats = [layer_stats(layer, dphi, a, delta, dw, threshold)
                 for layer, dphi, a, delta, dw in forward_backward(config, net, progress)]
    return stats[::-1]


def max_abs_grad(config: VanishConfig) -> float:
    """max|φ'| over the real line (a golden-section search: cached, as every run asks for it)."""
    return _max_abs_grad(config.activation, tuple(sorted(config.params.items())))


@functools.lru_cache(maxsize=64)
def _max_abs_grad(name: str, params: tuple[tuple[str, float], ...]) -> float:
    return activations.properties(activations.get(name), dict(params)).max_abs_grad
