"""Gradient flow through any nn.Module: one forward and backward pass with hooks, rows per weighted module,
findings in words, mean-field theory beside the measurement where it applies, and re-initialisations tried.

Forward hooks record each weighted module's output z (and the element-wise activation module that takes z,
if any); a tensor hook on z records ∂loss/∂z during the backward pass. Every statistic stays a tensor on the
model's device until the end, when all of them are stacked and copied to the host at once.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dlcli import activations
from dlcli.errors import InputError
from dlcli.vanish import meanfield
from dlcli.vanish.analysis import EXPLODING_ABOVE, VANISHING_BELOW, verdict
from dlcli.vanish.config import Progress
from dlcli.vanish.statistics import SATURATION_LEVEL, _max_abs_grad

MODULE_LOSSES = ("projection", "cross_entropy", "mse")
MODULE_INITS = ("keep", "default", "xavier", "kaiming", "orthogonal", "normal")
DEFAULT_GAINS = {"default": 1.0, "xavier": 1.0, "kaiming": math.sqrt(2.0), "orthogonal": 1.0, "normal": 1.0}
CHUNK = 2**17  # entries reduced at a time on a CPU: 512 KB of float32, inside a core's L2 cache
NOTABLE = 0.05  # dead or saturated shares from 5% up are findings
ZERO_ONE_SLOPES = frozenset({"relu", "relu6", "hardtanh", "threshold", "step"})  # φ'(z) is 0 or 1 everywhere


@dataclass(frozen=True)
class LayerTheory:
    """Mean-field's local factor grad_rms(this) / grad_rms(next) beside the measured one, or why it does not apply."""

    applies: bool
    reason: str = ""
    next: str | None = None            # the weighted module the gradient comes back through
    sigma_w2: float | None = None      # fan_in·Var(W) of that next module
    q: float | None = None             # measured pre-activation second moment E[z²] of this module
    e_dphi2_predicted: float | None = None  # E[φ'(√q Z)²], Z ~ N(0, 1)
    e_dphi2_measured: float | None = None
    predicted_factor: float | None = None
    measured_factor: float | None = None

    def as_dict(self) -> dict[str, object]:
        if not self.applies:
            return {"applies": False, "reason": self.reason}
        return {k: v for k, v in self.__dict__.items() if k != "reason"}


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
        return f"--init {self.init}" + ("" if self.gain == DEFAULT_GAINS[self.init] else f" --gain {self.gain:.4g}")


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


# --- which modules are what ------------------------------------------------------------------------

def _activation_of(torch: Any, m: Any) -> tuple[str, dict[str, float]] | None:
    """The registry activation (name, params) an nn activation module computes, or None."""
    nn = torch.nn
    table: list[tuple[Any, Callable[[Any], tuple[str, dict[str, float]]]]] = [
        (nn.ReLU, lambda m: ("relu", {})),
        (nn.ReLU6, lambda m: ("relu6", {})),
        (nn.Hardtanh, lambda m: ("hardtanh", {"min_val": float(m.min_val), "max_val": float(m.max_val)})),
        (nn.Sigmoid, lambda m: ("sigmoid", {})),
        (nn.Tanh, lambda m: ("tanh", {})),
        (nn.LeakyReLU, lambda m: ("leaky_relu", {"alpha": float(m.negative_slope)})),
        (nn.ELU, lambda m: ("elu", {"alpha": float(m.alpha)})),
        (nn.CELU, lambda m: ("celu", {"alpha": float(m.alpha)})),
        (nn.SELU, lambda m: ("selu", {})),
        (nn.GELU, lambda m: ("gelu_tanh" if m.approximate == "tanh" else "gelu", {})),
        (nn.SiLU, lambda m: ("silu", {})),
        (nn.Mish, lambda m: ("mish", {})),
        (nn.Softplus, lambda m: ("softplus", {"beta": float(m.beta)})),
        (nn.Softsign, lambda m: ("softsign", {})),
        (nn.Hardsigmoid, lambda m: ("hardsigmoid", {})),
        (nn.Hardswish, lambda m: ("hardswish", {})),
        (nn.LogSigmoid, lambda m: ("logsigmoid", {})),
        (nn.Tanhshrink, lambda m: ("tanhshrink", {})),
        (nn.Softshrink, lambda m: ("softshrink", {"lambd": float(m.lambd)})),
        (nn.Hardshrink, lambda m: ("hardshrink", {"lambd": float(m.lambd)})),
        (nn.Threshold, lambda m: ("threshold", {"threshold": float(m.threshold), "value": float(m.value)})),
    ]
    for cls, read in table:  # ReLU6 before its base class Hardtanh
        if type(m) is cls:
            return read(m)
    for cls, read in table:
        if isinstance(m, cls):
            return read(m)
    return None


def _is_dense(torch: Any, m: Any) -> bool:
    return isinstance(m, (torch.nn.Linear, torch.nn.modules.conv._ConvNd))


def _is_norm(torch: Any, m: Any) -> bool:
    nn = torch.nn
    return isinstance(m, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)) or \
        type(m).__name__.endswith("Norm")


def _unit_axis(torch: Any, m: Any) -> int:
    nn = torch.nn
    channels = (nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.GroupNorm)
    return 1 if isinstance(m, channels) else -1


def _unit_max(t: Any, axis: int) -> Any:
    """max over every axis but `axis`: the trailing axes first (contiguous), then the leading ones."""
    if axis + 1 < t.dim():
        t = t.flatten(axis + 1).amax(dim=-1)
    return t.flatten(0, axis - 1).amax(dim=0) if axis > 0 else t


def _dead_units(torch: Any, a: Any, axis: int) -> Any:
    """Units whose a = relu(z) is 0 on every sample (NaN is not): the first ~CHUNK entries' samples first, the
    rest only for the units still 0 there (none, mostly: then the whole tensor is read once, not twice)."""
    head = max(1, CHUNK * a.shape[0] // max(a.numel(), 1))
    if axis == 0 or head >= a.shape[0]:
        return torch.count_nonzero(_unit_max(a, axis) == 0)
    candidates = (_unit_max(a[:head], axis) == 0).nonzero().reshape(-1)
    if candidates.numel() == 0:
        return 0.0
    return torch.count_nonzero(_unit_max(a[head:].index_select(axis, candidates), axis) == 0)


def weighted_modules(model: Any) -> list[tuple[str, Any]]:
    """(qualified name, module) for every module with a tensor `weight`, in named_modules() order."""
    import torch

    return [(n or type(m).__name__, m) for n, m in model.named_modules()
            if isinstance(getattr(m, "weight", None), torch.Tensor)]


def first_tensor(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for v in value:
            if isinstance(v, torch.Tensor):
                return v
    if isinstance(value, dict):
        for v in value.values():
            if isinstance(v, torch.Tensor):
                return v
    return None


def select_output(out: Any, key: str | None) -> tuple[Any, str]:
    """The tensor the loss is taken of: the output itself, `key` of a dict/tuple, or else its first tensor."""
    import torch

    if isinstance(out, torch.Tensor):
        if key is not None:
            raise InputError(f"--output {key}: the model returns a single tensor; leave --output out")
        return out, "the model's output"
    kind = type(out).__name__
    if isinstance(out, dict) or hasattr(out, "keys"):
        keys = [str(k) for k in out.keys()]
        if key is not None:
            if key not in out:
                raise InputError(f"--output {key}: the model's {kind} has keys: {', '.join(keys)}")
            chosen, where = out[key], f"'{key}' of the model's {kind}"
        else:
            found = [k for k in out.keys() if isinstance(out[k], torch.Tensor)]
            if not found:
                raise InputError(f"the model returned a {kind} without tensors (keys: {', '.join(keys)})")
            chosen, where = out[found[0]], f"'{found[0]}', the first tensor of the model's {kind} (--output KEY)"
    elif isinstance(out, (tuple, list)):
        if key is not None:
            if not key.lstrip("-").isdigit() or not -len(out) <= int(key) < len(out):
                raise InputError(f"--output {key}: the model returns a {kind} of {len(out)}; give an index 0..")
            chosen, where = out[int(key)], f"item {int(key)} of the model's {kind}"
        else:
            idx = next((i for i, v in enumerate(out) if isinstance(v, torch.Tensor)), None)
            if idx is None:
                raise InputError(f"the model returned a {kind} without tensors")
            chosen, where = out[idx], f"item {idx}, the first tensor of the model's {kind} of {len(out)} (--output N)"
    else:
        raise InputError(f"the model returned a {kind}, not a tensor, tuple or dict")
    if not isinstance(chosen, torch.Tensor):
        raise InputError(f"{where} is a {type(chosen).__name__}, not a tensor")
    return chosen, where


# --- inputs, targets, re-initialisation ------------------------------------------------------------

def _rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    # The streams of the built stacks (dlcli.vanish.weights): inputs 0, loss head 1, weights 2 (per layer).
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, index)))


def standard_inputs(seed: int, batch: int, shape: tuple[int, ...]) -> np.ndarray:
    """Standard-normal inputs (batch, *shape), float64: for one dimension the built stacks' own batch."""
    return _rng(seed, 0).standard_normal((batch, *shape))


def reinitialise(model: Any, init: str, gain: float | None, seed: int) -> int:
    """Draw every Linear/Conv weight afresh (float64 numpy, as the built stacks' weights); returns how many."""
    import torch

    if init not in MODULE_INITS:
        raise InputError(f"unknown --init '{init}'; choose from: {', '.join(MODULE_INITS)}")
    if init == "keep":
        return 0
    g = DEFAULT_GAINS[init] if gain is None else float(gain)
    count = 0
    for index, (_, m) in enumerate(weighted_modules(model), start=1):
        if not _is_dense(torch, m):
            continue
        w = m.weight
        rows = w.shape[0]
        fan_in = int(np.prod(w.shape[1:])) if w.dim() > 1 else 1
        fan_out = rows * (int(np.prod(w.shape[2:])) if w.dim() > 2 else 1)
        rng = _rng(seed, 2, index)
        if init == "default":
            bound = g / math.sqrt(fan_in)
            new = rng.uniform(-bound, bound, size=(rows, fan_in))
        elif init == "xavier":
            bound = g * math.sqrt(6.0 / (fan_in + fan_out))
            new = rng.uniform(-bound, bound, size=(rows, fan_in))
        elif init == "orthogonal":
            flat = rng.standard_normal((rows, fan_in))
            tall = rows < fan_in
            q, r = np.linalg.qr(flat.T if tall else flat)
            q *= np.sign(np.diag(r))
            new = g * (q.T if tall else q)
        else:  # kaiming, normal: N(0, g²/fan_in)
            new = rng.standard_normal((rows, fan_in)) * (g / math.sqrt(fan_in))
        with torch.no_grad():
            w.copy_(torch.from_numpy(new.reshape(tuple(w.shape))))
            bias = getattr(m, "bias", None)
            if isinstance(bias, torch.Tensor):
                if init == "default":
                    b = rng.uniform(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in), size=bias.shape[0])
                    bias.copy_(torch.from_numpy(b))
                else:
                    bias.zero_()
        count += 1
    return count


def _loss_fn(torch: Any, loss: str, out: Any, y: Any, seed: int) -> Any:
    """The scalar loss: projection Σ v·out (v ~ N(0,1) per output element), cross-entropy (mean), ½Σ(out − t)²."""
    if loss == "projection":
        v = torch.from_numpy(_rng(seed, 1).standard_normal(tuple(out.shape[1:])))
        return (out * v.to(device=out.device, dtype=out.dtype)).sum()
    if loss == "cross_entropy":
        if y is None or y.dtype != torch.int64:
            raise InputError("--loss cross_entropy needs integer class labels (y in --data)")
        if out.dim() < 2 or out.shape[1] <= int(y.max()):
            raise InputError(f"--loss cross_entropy: the output {tuple(out.shape)} has no class axis 1 holding "
                             f"{int(y.max()) + 1} classes; pick --loss projection or --output")
        return torch.nn.functional.cross_entropy(out, y)
    if y is None:
        t = torch.from_numpy(_rng(seed, 1).standard_normal(tuple(out.shape))).to(out.device, out.dtype)
    elif y.dtype == torch.int64:
        if out.dim() != 2 or out.shape[1] <= int(y.max()):
            raise InputError(f"--loss mse with class labels needs an output (batch, classes), got {tuple(out.shape)}")
        t = torch.nn.functional.one_hot(y, out.shape[1]).to(out.dtype)
    else:
        if y.numel() != out.numel():
            raise InputError(f"--loss mse: targets {tuple(y.shape)} do not fit the output {tuple(out.shape)}")
        t = y.reshape(out.shape).to(out.dtype)
    return 0.5 * ((out - t) ** 2).sum()


def default_loss(y: Any) -> str:
    import torch

    if y is None:
        return "projection"
    return "cross_entropy" if y.dtype == torch.int64 else "mse"


# --- the pass --------------------------------------------------------------------------------------

class _Pass:
    """Hooks for one forward and backward pass; every statistic a float64 tensor until finish()."""

    def __init__(self, torch: Any, model: Any, progress: Progress | None) -> None:
        self.torch = torch
        self.model = model
        self.progress = progress
        self.rows = weighted_modules(model)
        self.index = {id(m): i for i, (_, m) in enumerate(self.rows)}
        self.order: list[int] = []              # row indices in first-call order
        self.calls = [0] * len(self.rows)
        self.values: list[Any] = []             # 0-d float64 tensors, all copied to the host at once
        self.slots: list[dict[str, int]] = [{} for _ in self.rows]
        self.act: list[tuple[str, dict[str, float]] | None] = [None] * len(self.rows)
        self.pending: dict[int, tuple[int, Any]] = {}   # id(z) -> (row, z) awaiting an activation module
        self.outputs: dict[int, tuple[int, Any]] = {}   # data_ptr of a row's activation output -> (row, tensor)
        self.after: dict[int, int] = {}                 # id(z) -> row, φ'(z) to be read from the module's output
        self.act_inputs: dict[int, int] = {}            # id(z) -> row, for an activation module running now
        self.chain: dict[int, int] = {}                 # row -> the row whose activation output it takes
        self.stack: list[tuple[str, str, str]] = []     # (name, type, input shapes) of modules running now
        self.failed: tuple[str, str, str] | None = None
        self.handles: list[Any] = []
        self.grads_seen = 0
        self.flags = np.empty(0, dtype=bool)  # relu's zero-slope flags, one buffer for every layer

    def put(self, row: int, key: str, value: Any) -> None:
        self.slots[row][key] = len(self.values)
        self.values.append(value.detach() if isinstance(value, self.torch.Tensor) else value)

    def host(self) -> np.ndarray:
        """Every statistic as float64 on the host: one transfer from a device, item by item on a CPU."""
        torch = self.torch
        tensors = [v for v in self.values if isinstance(v, torch.Tensor) and v.device.type != "cpu"]
        moved = iter(torch.stack([t.to(torch.float64).reshape(()) for t in tensors]).cpu().tolist()
                     if tensors else ())
        return np.array([next(moved) if isinstance(v, torch.Tensor) and v.device.type != "cpu" else float(v)
                         for v in self.values], dtype=np.float64)

    def weight_stats(self, row: int, m: Any) -> None:
        self.sums(row, "weight", self.wide(m.weight))

    def sums(self, row: int, key: str, t: Any, also: Callable[[int, int], None] | None = None) -> None:
        """Σt and ‖t‖ as `key`_sum, `key`_norm; on a CPU chunk by chunk (each read once from memory, the second
        reduction and `also(start, stop)` finding it in cache), elsewhere whole on the device (no host sync)."""
        torch = self.torch
        if t.device.type != "cpu" or not t.is_contiguous():
            self.put(row, f"{key}_sum", t.sum())
            self.put(row, f"{key}_norm", torch.linalg.vector_norm(t))
            if also is not None:
                also(0, t.numel())
            return
        total, norm = 0.0, 0.0
        for start in range(0, t.numel(), CHUNK):
            part = t.reshape(-1)[start:start + CHUNK]
            total += float(part.sum())
            norm = math.hypot(norm, float(torch.linalg.vector_norm(part)))
            if also is not None:
                also(start, start + part.numel())
        self.put(row, f"{key}_sum", total)
        self.put(row, f"{key}_norm", norm)

    def install(self) -> None:
        for name, m in self.model.named_modules():
            self.handles.append(m.register_forward_pre_hook(self._pre(name or type(m).__name__, m)))
            self.handles.append(m.register_forward_hook(self._post(m)))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def _pre(self, name: str, m: Any) -> Callable[..., None]:
        torch = self.torch
        act = _activation_of(torch, m)
        row = self.index.get(id(m))

        def hook(module: Any, args: tuple[Any, ...]) -> None:
            shapes = ", ".join(str(tuple(a.shape)) for a in args if isinstance(a, torch.Tensor)) or "no tensor"
            self.stack.append((name, type(m).__name__, shapes))
            inp = first_tensor(args)
            if inp is None:
                return
            if act is not None and id(inp) in self.pending:
                src, z = self.pending.pop(id(inp))
                if z is inp and self.act[src] is None:
                    if getattr(m, "inplace", False) or z.grad_fn is None:
                        self._activation(src, z, act)  # now, before the module overwrites z
                    else:
                        self.after[id(z)] = src  # from the module's own output, in the forward hook
            if row is not None and self.calls[row] == 0 and inp.numel():
                prev = self.outputs.get(inp.data_ptr())
                if prev is not None and prev[1].numel() == inp.numel():
                    self.chain[row] = prev[0]

        return hook

    def _post(self, m: Any) -> Callable[..., None]:
        torch = self.torch
        row = self.index.get(id(m))
        act = _activation_of(torch, m)
        is_act = act is not None

        def hook(module: Any, args: tuple[Any, ...], output: Any) -> None:
            if self.stack:
                self.stack.pop()
            if is_act:
                out, inp = first_tensor(output), first_tensor(args)
                waiting = self.after.pop(id(inp), None)
                if waiting is not None and act is not None:
                    self._activation(waiting, inp, act, out)
                src = self.act_inputs.pop(id(inp), None)
                if src is not None and out is not None and out.numel():
                    self.outputs[out.data_ptr()] = (src, out)  # the next layer may take it (or a view of it)
            if row is None:
                return
            self.calls[row] += 1
            if self.calls[row] > 1:
                return
            self.order.append(row)
            self.weight_stats(row, m)  # now, while the forward pass has just read the weight
            z = first_tensor(output)
            if z is None:
                return
            self.sums(row, "out", self.wide(z))
            self.slots[row]["_width"] = int(z.shape[_unit_axis(torch, m)]) if z.dim() > 1 else 1
            self.slots[row]["_numel"] = int(z.numel())
            self.pending[id(z)] = (row, z)
            self.outputs[z.data_ptr()] = (row, z)
            if z.requires_grad:
                z.register_hook(self._grad_hook(row))
            if self.progress:
                self.progress("forward", len(self.order), len(self.rows))

        return hook

    def _activation(self, row: int, z: Any, act: tuple[str, dict[str, float]], out: Any = None) -> None:
        """a = φ(z) and φ'(z): from the module's output `out` and its backward node where it is one op on z,
        else from the registry's torch function on z (before any in-place op changes z)."""
        torch = self.torch
        name, given = act
        spec = activations.get(name)
        params = spec.resolve(given)
        node = None if out is None else out.grad_fn
        if node is not None and out.shape == z.shape and len(node.next_functions) == 1 \
                and node.next_functions[0][0] is z.grad_fn:
            a = out
            if name == "relu" and a.device.type == "cpu" and a.dtype in (torch.float32, torch.float64):
                self._relu_row(row, a)
                self.act_inputs[id(z)] = row
                return
        else:
            zz = z.detach().requires_grad_(True)  # shares z's memory: no copy
            with torch.enable_grad():
                a = spec.torch_ref(torch, zz, params)
            node = a.grad_fn
            if node is not None and (len(node.next_functions) != 1 or node.next_functions[0][0] is None
                                     or type(node.next_functions[0][0]).__name__ != "AccumulateGrad"):
                node = None
        ones = torch.ones((), dtype=z.dtype, device=z.device).expand(z.shape)
        if node is not None:
            with torch.no_grad():
                slope = node(ones)  # one backward kernel: the op's own derivative
        elif a.requires_grad:
            (slope,) = torch.autograd.grad(a, zz, ones, allow_unused=True)
            slope = torch.zeros_like(z) if slope is None else slope
        else:
            slope = torch.zeros_like(z)
        af = self.wide(a)
        self.put(row, "act_sum", af.sum())
        self.put(row, "act_norm", torch.linalg.vector_norm(af))
        axis = _unit_axis(torch, self.rows[row][1]) % max(z.dim(), 1)
        dims = tuple(d for d in range(z.dim()) if d != axis) or None
        if name in ZERO_ONE_SLOPES:  # φ' is 0 or 1: φ'² = φ', saturated means φ' = 0, and a sum counts the 1s
            sq = self.wide(slope)
            # exact below 2^24 ones in float32 (count_nonzero of a float tensor costs ~10 passes here)
            ones_count = sq.sum() if z.numel() < 2**24 or sq.dtype == torch.float64 else torch.count_nonzero(sq != 0)
            self.put(row, "saturated", z.numel() - ones_count)
            self.put(row, "e_dphi2", ones_count)
        else:
            sq = self.wide(slope)
            sq = sq * sq
            threshold = SATURATION_LEVEL * _max_abs_grad(name, tuple(sorted(params.items())))
            self.put(row, "saturated", torch.count_nonzero(sq < threshold * threshold))
            self.put(row, "e_dphi2", sq.sum())
        self.put(row, "dead", torch.count_nonzero(_unit_max(sq, axis) == 0) if dims else (sq.max() == 0).sum())
        self.act[row] = (name, params)
        self.act_inputs[id(z)] = row

    def _relu_row(self, row: int, a: Any) -> None:
        """relu's row on a CPU: φ'(z) = 0 exactly where a = relu(z) <= 0 (NaN has slope 1, as relu's backward
        gives), counted in numpy over a reused bool buffer, chunk by chunk beside the sums."""
        torch = self.torch
        a = a.detach()
        flat = a.numpy().reshape(-1)
        if self.flags.size < min(flat.size, CHUNK):
            self.flags = np.empty(min(flat.size, CHUNK), dtype=bool)
        zeros = 0

        def count(start: int, stop: int) -> None:
            nonlocal zeros
            zeros += int(np.count_nonzero(np.less_equal(flat[start:stop], 0, out=self.flags[:stop - start])))

        self.sums(row, "act", a, count)
        self.put(row, "saturated", float(zeros))
        self.put(row, "e_dphi2", float(flat.size - zeros))
        axis = _unit_axis(torch, self.rows[row][1]) % max(a.dim(), 1)
        self.put(row, "dead", _dead_units(torch, a, axis) if a.dim() > 1 else (a.max() <= 0).sum())
        self.act[row] = ("relu", {})

    def wide(self, t: Any) -> Any:
        """t detached, half precisions as float32 for the reductions (float32 and float64 reduce as they are)."""
        t = t.detach()
        return t.float() if t.dtype in (self.torch.bfloat16, self.torch.float16) else t

    def _grad_hook(self, row: int) -> Callable[[Any], None]:
        def hook(g: Any) -> None:
            self.put(row, "grad_norm", self.torch.linalg.vector_norm(self.wide(g)))
            self.grads_seen += 1
            if self.progress:
                self.progress("backward", self.grads_seen, len(self.order))
        return hook


def _user_frame_error(exc: BaseException, what: str, failed: tuple[str, str, str] | None) -> InputError:
    from dlcli.models.loader import user_error

    where = f"{what}" + (f": {failed[0]} ({failed[1]}) got {failed[2]}" if failed else "")
    return user_error(exc, where)


def _measure(model: Any, x: Any, y: Any, loss: str, seed: int, output: str | None,
             progress: Progress | None) -> tuple[_Pass, np.ndarray, str, list[Any]]:
    """One forward and backward pass under hooks; the host copy of every statistic."""
    import torch

    run = _Pass(torch, model, progress)
    run.install()
    try:
        try:
            with torch.enable_grad():
                out = model(x)
        except InputError:
            raise
        except Exception as exc:
            failed = run.stack[-1] if run.stack else None
            raise _user_frame_error(exc, f"the model failed on input {tuple(x.shape)}", failed) from None
        run.pending.clear()
        run.outputs.clear()
        top, where = select_output(out, output)
        value = _loss_fn(torch, loss, top, y, seed)
        params = [m.weight for _, m in run.rows]
        wanted = [i for i, p in enumerate(params) if p.requires_grad]
        grads: list[Any] = [None] * len(params)
        if wanted and value.requires_grad:
            try:
                got = torch.autograd.grad(value, [params[i] for i in wanted], allow_unused=True)
            except Exception as exc:
                raise _user_frame_error(exc, "the backward pass failed", None) from None
            for i, g in zip(wanted, got, strict=True):
                grads[i] = g
        del out, top, value
    finally:
        run.remove()
    for i, (_, m) in enumerate(run.rows):
        if run.calls[i] == 0:
            run.weight_stats(i, m)
        if grads[i] is not None:
            run.put(i, "weight_grad_norm", torch.linalg.vector_norm(run.wide(grads[i])))
    host = run.host()
    return run, host, where, grads


def _value(run: _Pass, host: np.ndarray, row: int, key: str) -> float | None:
    slot = run.slots[row].get(key)
    return None if slot is None else float(host[slot])


def _moments(total: float | None, norm: float | None, n: int | None) -> tuple[float | None, float | None]:
    """(mean, std) from a sum and a Euclidean norm of n entries."""
    if total is None or norm is None or not n:
        return None, None
    mean = total / n
    return mean, math.sqrt(max(norm * norm / n - mean * mean, 0.0))


def _rows(run: _Pass, host: np.ndarray, grads: list[Any]) -> list[ModuleStats]:
    order = run.order + [i for i in range(len(run.rows)) if i not in run.order]
    out = []
    for layer, i in enumerate(order, start=1):
        name, m = run.rows[i]
        v = lambda key, i=i: _value(run, host, i, key)  # noqa: E731
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
        mean, std = _moments(v("act_sum"), v("act_norm"), numel) if act else _moments(out_sum, out_norm, numel)
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


def _theory(run: _Pass, host: np.ndarray, rows: list[ModuleStats]) -> list[ModuleStats]:
    """Each row's LayerTheory: mean-field's local factor where a dense layer → activation → dense layer chain runs."""
    import torch

    by_name = {r.name: r for r in rows}
    row_of = {name: i for i, (name, _) in enumerate(run.rows)}
    nxt = {src: dst for dst, src in run.chain.items()}
    out = []
    for r in rows:
        i = row_of[r.name]
        m = run.rows[i][1]
        t = _layer_theory(torch, run, host, i, m, r, nxt, by_name)
        out.append(replace(r, theory=t))
    return out


def _layer_theory(torch: Any, run: _Pass, host: np.ndarray, i: int, m: Any, r: ModuleStats, nxt: dict[int, int],
                  by_name: dict[str, ModuleStats]) -> LayerTheory:
    if _is_norm(torch, m):
        return LayerTheory(False, "normalisation: its gradient depends on the batch's own statistics")
    if not _is_dense(torch, m):
        return LayerTheory(False, f"{type(m).__name__} is not a Linear or Conv layer")
    if run.calls[i] == 0:
        return LayerTheory(False, "the module never ran")
    if run.order and run.order[-1] == i and i not in nxt:
        return LayerTheory(False, "top layer: its gradient comes from the loss")
    seen = run.act[i]
    if seen is None:
        return LayerTheory(False, "no element-wise activation module takes its output (functional calls such as "
                           "F.relu are not seen; a norm, pooling or residual add may come first)")
    if r.grad_rms is None:
        return LayerTheory(False, "its output gets no gradient")
    name, params = seen
    j = nxt.get(i)
    if j is None:
        return LayerTheory(False, f"the {name} output reaches the next weighted layer through other operations "
                           "(a residual add, pooling, dropout or attention): mean-field's per-layer factor "
                           "covers dense → activation → dense only")
    nm = run.rows[j][1]
    nrow = by_name[run.rows[j][0]]
    if not _is_dense(torch, nm):
        return LayerTheory(False, f"the next weighted layer, {run.rows[j][0]}, is a {type(nm).__name__}, "
                           "not a Linear or Conv")
    if nrow.grad_rms is None or nrow.grad_rms == 0:
        return LayerTheory(False, f"the next layer, {run.rows[j][0]}, gets no gradient")
    w = nm.weight
    fan_in = int(np.prod(w.shape[1:]))
    w_mean, w_std = _moments(_value(run, host, j, "weight_sum"), _value(run, host, j, "weight_norm"), w.numel())
    var_w = (w_std or 0.0) ** 2
    per_input = w.shape[0] * (int(np.prod(w.shape[2:])) if w.dim() > 2 else 1)
    if isinstance(nm, torch.nn.modules.conv._ConvNd):
        per_input = per_input // nm.groups / int(np.prod(nm.stride))
    numel = run.slots[i].get("_numel") or 1
    q = (_value(run, host, i, "out_norm") or 0.0) ** 2 / numel
    e_pred = _tables(name, tuple(sorted(params.items()))).dphi_sq.expect(q)
    predicted = math.sqrt(var_w * per_input * e_pred)
    measured = (r.grad_rms or 0.0) / nrow.grad_rms
    return LayerTheory(True, "", run.rows[j][0], fan_in * var_w, q, e_pred,
                       (_value(run, host, i, "e_dphi2") or 0.0) / numel, predicted, measured)


@functools.lru_cache(maxsize=16)
def _tables(name: str, params: tuple[tuple[str, float], ...]) -> meanfield.ActivationTables:
    """One activation's quadrature tables (pure in its name and parameters: made once per process)."""
    return meanfield.tabulate(activations.get(name), dict(params))


# --- conclusions -----------------------------------------------------------------------------------

def _ratio(bottom: float, top: float) -> float:
    if top == 0.0:
        return math.nan if bottom == 0.0 else math.inf
    return bottom / top


def _g(x: float | None, digits: int = 3) -> str:
    if x is None or math.isnan(x):
        return "undefined"
    if math.isinf(x):
        return "∞"
    return f"{x:.{digits}g}"


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
        lines.append(f"{between[0]}'s weight gradient is {_g(ratio)} times {between[1]}'s: {v} (below "
                     f"{VANISHING_BELOW:g} counts as vanishing, above {EXPLODING_ABOVE:g} as exploding).")
        per_unit = verdict(rms_ratio)
        if v == "healthy" != per_unit:
            lines.append(f"But grad_rms, the gradient per unit of output, is {_g(rms_ratio)} times as large at "
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
            lines.append(f"The gradient drops most from {b.name} down to {a.name}: grad_rms × {_g(factor)}.")
        grow, a, b = max(drops, key=lambda d: d[0])
        if grow > 2.0:
            lines.append(f"The gradient grows most from {b.name} down to {a.name}: grad_rms × {_g(grow)}.")
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
    parts = ", ".join(f"{r.name} {_g(r.theory.predicted_factor)} vs {_g(r.theory.measured_factor)}"
                      for r in applied[:4])
    more = f" (+{len(applied) - 4} more)" if len(applied) > 4 else ""
    return [f"Theory: going down from the next layer, mean-field predicts grad_rms × √(Var(W)·fan_out·E[φ'(z)²]) "
            f"per layer, predicted vs measured: {parts}{more}; e.g. {worst.name}: σ_w² = {_g(t.sigma_w2)} "
            f"({t.next}), q = E[z²] = {_g(t.q)}, E[φ'²] {_g(t.e_dphi2_predicted)} predicted (Gaussian z), "
            f"{_g(t.e_dphi2_measured)} measured."]


def _candidates(rows: list[ModuleStats], init: str, gain: float | None) -> list[tuple[str, float]]:
    acts = [r.activation for r in rows if r.activation]
    relu_like = {"relu", "leaky_relu", "elu", "celu", "selu", "relu6", "gelu", "gelu_tanh", "silu", "mish",
                 "softplus", "hardswish", "threshold"}
    out: list[tuple[str, float]] = []
    if not acts or any(a in relu_like for a in acts):
        out.append(("kaiming", DEFAULT_GAINS["kaiming"]))
    names = sorted(set(acts))
    if len(names) == 1:
        spec = activations.get(names[0])
        t = meanfield.tabulate(spec, spec.resolve({}))
        g = meanfield.critical_gain(t, 0.0)
        if g is not None and not (names[0] in relu_like and abs(g - math.sqrt(2)) < 1e-6):
            out.append(("normal", float(g)))
    if not out:
        out.append(("kaiming", DEFAULT_GAINS["kaiming"]))
    current = (init, DEFAULT_GAINS.get(init, 1.0) if gain is None else gain)
    return [c for c in out if not (c[0] == current[0] and abs(c[1] - current[1]) < 1e-9)][:2]


def _advice(rows: list[ModuleStats], v: str, rms_v: str, checks: list[Check]) -> list[str]:
    dead = max((r.dead_frac for r in rows if r.dead_frac is not None), default=0.0)
    if v == "healthy" and rms_v == "healthy" and dead < NOTABLE:
        return ["Gradients keep their size from the output to the first layer; nothing to fix here."]
    lines = []
    for c in checks:
        lines.append(f"Checked: {c.option()} on the same batch and loss measures gradient_ratio "
                     f"{_g(c.gradient_ratio)} ({c.verdict}), grad_rms ratio {_g(c.grad_rms_ratio)}, dead units up "
                     f"to {c.dead_max:.0%}.")

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
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    x = x.to(device=device, dtype=dtype if x.is_floating_point() else x.dtype)
    if isinstance(y, np.ndarray):
        y = torch.from_numpy(y)
    if y is not None:
        y = y.to(device=device)
        y = y if y.dtype == torch.int64 else y.to(dtype)
    loss = loss or default_loss(y)
    if loss not in MODULE_LOSSES:
        raise InputError(f"unknown --loss '{loss}'; choose from: {', '.join(MODULE_LOSSES)}")
    if not weighted_modules(model):
        raise InputError("the model has no module with a weight: nothing to report")
    original = model
    if init != "keep":
        model = copy.deepcopy(model)
        reinitialise(model, init, gain, seed)
    model.train(not eval_mode)
    run, host, where, grads = _measure(model, x, y, loss, seed, output, progress)
    rows = _theory(run, host, _rows(run, host, grads))
    ratio, rms_ratio, between = _summary(rows)
    v = verdict(ratio)
    findings = _findings(rows, ratio, rms_ratio, between, v) + _theory_lines(rows)
    checks: list[Check] = []
    dead = max((r.dead_frac for r in rows if r.dead_frac is not None), default=0.0)
    rms_v = verdict(rms_ratio)
    if check_advice and (v != "healthy" or rms_v != "healthy" or dead >= NOTABLE):
        for cand_init, cand_gain in _candidates(rows, init, gain):
            other = analyse_module(original, x, y, loss, seed=seed, init=cand_init, gain=cand_gain,
                                   eval_mode=eval_mode, output=output, check_advice=False)
            dead_other = max((r.dead_frac for r in other.layers if r.dead_frac is not None), default=0.0)
            checks.append(Check(cand_init, cand_gain, other.gradient_ratio, other.grad_rms_ratio, other.verdict,
                                dead_other))
    advice = _advice(rows, v, rms_v, checks)
    notes = ["Activations are seen as modules (nn.ReLU, nn.Sigmoid, ...); functional calls inside forward "
             "(F.relu, torch.sigmoid) are not: those rows show the module's own output and no saturated/dead share."]
    config = ModuleConfig(
        model=label or type(original).__name__, input_shape=tuple(int(s) for s in x.shape[1:]), batch=int(x.shape[0]),
        data=data, loss=loss, output=where, dtype=str(dtype).removeprefix("torch."), device=str(device),
        seed=seed, init=init, gain=None if init == "keep" else (DEFAULT_GAINS[init] if gain is None else gain),
        mode="eval" if eval_mode else "train")
    return ModuleResult(config, tuple(rows), ratio, rms_ratio, between, v, tuple(findings), tuple(advice),
                        tuple(checks), tuple(notes))
