"""One `vanish` experiment: every option validated and resolved into a VanishConfig."""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dlcli import activations
from dlcli.activations.base import Params
from dlcli.errors import InputError
from dlcli.vanish.meanfield import LayerSpec

INITS = ("default", "xavier", "kaiming", "lecun", "orthogonal", "normal")
DTYPES = ("float64", "float32", "bfloat16")
ENGINES = ("numpy", "torch")
DEVICES = ("cpu", "cuda")
LOSSES = ("projection", "mse")
# The gain each initialisation uses when --gain is not given (torch's own defaults where torch has the init).
DEFAULT_GAIN = {"default": 1.0, "xavier": 1.0, "kaiming": math.sqrt(2.0), "lecun": 1.0, "orthogonal": 1.0,
                "normal": 1.0}

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
