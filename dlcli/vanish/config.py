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
NORMS = ("none", "batch", "layer")
NORM_EPS = 1e-5  # torch's default ε for batch_norm and layer_norm
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
    residual: bool = False      # a_l = a_{l−1} + α·φ(z_l) where n_l = n_{l−1}
    residual_scale: float = 1.0  # α
    norm: str = "none"          # normalise z_l before φ: none, batch (over the batch), layer (over the units)
    spectrum_samples: int = 0   # examples whose input–output Jacobian spectrum is taken (0: none)

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    def is_residual(self, layer: int) -> bool:
        """Whether layer `layer` (1-based) adds its input back (--residual, and its width unchanged)."""
        return self.residual and self.widths[layer - 1] == self.widths[layer]

    def plain_layers(self) -> list[int]:
        """With --residual, the layers that stay plain because their width changes."""
        return [layer for layer in range(1, self.depth + 1) if self.residual and not self.is_residual(layer)]

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
            "engine": self.engine, "device": self.device, "residual": self.residual,
            "residual_scale": self.residual_scale, "norm": self.norm, "spectrum_samples": self.spectrum_samples,
        }


def make_config(
    activation: str, *, depth: int | None = None, width: int | None = None, layers: Sequence[int] | None = None,
    params: dict[str, str | float] | None = None, init: str = "default", gain: float | None = None,
    bias_std: float | None = None, batch: int = 64, seed: int | None = None, dtype: str = "float64",
    engine: str | None = None, device: str = "cpu", loss: str = "projection", residual: bool = False,
    residual_scale: float = 1.0, norm: str = "none", spectrum_samples: int = 0,
) -> VanishConfig:
    """Validate every option (InputError on the first bad one) and fill in the defaults.

    Without an engine, cuda and bfloat16 choose torch (numpy has neither) and everything else numpy.
    """
    if engine is None:
        engine = "torch" if device == "cuda" or dtype == "bfloat16" else "numpy"
    if layers is not None:
        widths = check_layers(layers, depth, width)
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
                                 ("--device", device, DEVICES), ("--loss", loss, LOSSES), ("--norm", norm, NORMS)):
        if value not in choices:
            raise InputError(f"unknown {name} '{value}'; choose from: {', '.join(choices)}")
    gain = check_scales(init, gain, bias_std)
    if engine == "numpy" and dtype == "bfloat16":
        raise InputError("numpy has no bfloat16; use --engine torch --dtype bfloat16")
    if engine == "numpy" and device != "cpu":
        raise InputError(f"--device {device} needs --engine torch")
    if seed is None:
        seed = secrets.randbelow(2**32)
    if seed < 0:
        raise InputError(f"--seed must be zero or positive, got {seed}")
    _check_fixes(residual, residual_scale, norm, spectrum_samples, batch)
    return VanishConfig(widths, act.name, resolved, init, gain, bias_std, batch, seed, dtype, engine, device, loss,
                        residual, float(residual_scale), norm, spectrum_samples)


def _check_fixes(residual: bool, residual_scale: float, norm: str, spectrum_samples: int, batch: int) -> None:
    """The architecture and spectrum options (--residual, --norm, --spectrum)."""
    if not math.isfinite(residual_scale) or (residual and residual_scale <= 0):
        raise InputError(f"--residual-scale must be a positive number, got {residual_scale:g}")
    if norm == "batch" and batch < 2:
        raise InputError(f"--norm batch needs --batch of at least 2 (the batch variance of one example is 0), "
                         f"got {batch}")
    if spectrum_samples < 0:
        raise InputError(f"--spectrum-samples must be zero or positive, got {spectrum_samples}")
    if spectrum_samples and norm == "batch":
        raise InputError("--spectrum with --norm batch: one example's Jacobian depends on the rest of its batch; "
                         "use --norm layer or none")


def check_layers(layers: Sequence[int], depth: int | None, width: int | None) -> tuple[int, ...]:
    """--layers as widths (n_0, ..., n_L), checked; InputError beside --depth/--width or for a bad width."""
    if depth is not None or width is not None:
        raise InputError("give either --layers or --depth/--width, not both")
    widths = tuple(int(n) for n in layers)
    if len(widths) < 2:
        raise InputError(f"--layers needs at least two widths (input and one layer), got {len(widths)}")
    if min(widths) < 1:
        raise InputError(f"--layers widths must be at least 1, got {','.join(map(str, widths))}")
    return widths


MAX_SCALE = 1e150  # --gain and --bias-std: their squares (the variances) and a few times those stay finite floats


def check_gain(gain: float) -> float:
    """--gain, once it is known to be a positive number whose square (the weights' variance) a float holds."""
    if not (math.isfinite(gain) and 0 < gain <= MAX_SCALE):
        raise InputError(f"--gain must be a positive number up to 1e150 (its square is the weights' "
                         f"variance), got {gain:g}")
    return gain


def check_scales(init: str, gain: float | None, bias_std: float | None) -> float:
    """The gain to use (the init's own where not given), once it and --bias-std are known to be valid."""
    gain = check_gain(DEFAULT_GAIN[init] if gain is None else float(gain))
    if bias_std is not None and not (math.isfinite(bias_std) and 0 <= bias_std <= MAX_SCALE):
        raise InputError(f"--bias-std must be zero or a positive number up to 1e150 (its square is the "
                         f"biases' variance), got {bias_std:g}")
    return gain
