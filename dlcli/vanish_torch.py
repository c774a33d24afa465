"""The torch engine: the same stack as a real nn.Sequential, gradients by autograd, on cpu or cuda.

Weights come from dlcli.vanish (generated once in float64 and copied in), so a seed gives the same
network as the numpy engine. Statistics are computed on the device as tensors, in a handful of batched ops
per stack of layers plus a few per layer in autograd hooks, and copied to the host once at the end: no host
synchronisation per layer (a per-layer `.item()` made a bf16 depth-1000 step 75% slower on an H200).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from dlcli import activations
from dlcli.errors import InputError, RunError
from dlcli.vanish import (
    SATURATION_LEVEL,
    LayerStats,
    Progress,
    VanishConfig,
    inputs,
    layer_weights,
    loss_head,
    max_abs_grad,
)

N_STATS = 7  # ‖∂W‖, ‖δ‖, Σ(a−c), ‖a−c‖, saturated count, dead count, c (a centring constant)


def torch_dtype(torch: Any, name: str) -> Any:
    return {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def resolve_device(torch: Any, name: str) -> Any:
    """The torch device, or an InputError when cuda is asked for and there is none."""
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is available here (torch sees none); use --device cpu")
    return torch.device(name)


def build_model(config: VanishConfig, torch: Any, device: Any = "cpu") -> Any:
    """nn.Sequential(Linear, act, Linear, act, ...) with the shared weights, in the working dtype."""
    nn = torch.nn
    act = activations.get(config.activation)
    params = config.params

    class Activation(nn.Module):  # type: ignore[name-defined]  # torch is a parameter here
        """The registry activation as a module (its torch reference: a torch.nn.functional call)."""

        def forward(self, x: Any) -> Any:
            return act.torch_ref(torch, x, params)

        def extra_repr(self) -> str:
            return act.name

    dtype = torch_dtype(torch, config.dtype)
    modules: list[Any] = []
    for layer in range(1, config.depth + 1):
        w, b = layer_weights(config, layer)
        linear = nn.Linear(w.shape[1], w.shape[0], device=device, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        modules += [linear, Activation()]
    return nn.Sequential(*modules)


def estimate_device_bytes(config: VanishConfig) -> int:
    """Peak bytes on the device: parameters and their gradients, tensors autograd keeps, statistics scratch."""
    item = {"float64": 8, "float32": 4, "bfloat16": 2}[config.dtype]
    pairs = list(zip(config.widths[:-1], config.widths[1:], strict=True))
    params = sum(i * o + o for i, o in pairs)
    units = sum(config.widths)
    widest, biggest = max(config.widths), max(i * o for i, o in pairs)
    total = 2 * params * item                                  # weights and weight gradients
    total += 4 * config.batch * units * item                   # z_l, a_l, φ'(z_l), ∂loss/∂z_l
    stack = min(STACK_BYTES["cuda"], config.batch * units * 8)
    total += 3 * stack + 4 * config.batch * widest * 8 + biggest * 8  # stacks and copies in the statistics
    return int(total)


def run_torch(config: VanishConfig, progress: Progress | None = None) -> list[LayerStats]:
    """Per-layer statistics (layer 1 first) from nn.Sequential and autograd."""
    try:
        import torch
    except ImportError:
        raise InputError("--engine torch needs PyTorch (pip install 'dlcli[torch]')") from None
    from dlcli.vanish_analysis import check_memory

    device = resolve_device(torch, config.device)
    transient = 2 * max(i * o for i, o in zip(config.widths, config.widths[1:], strict=False)) * 8  # float64 W
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        check_memory(config, need=estimate_device_bytes(config), have=free, where="GPU memory")
        check_memory(config, need=transient + config.batch * config.widths[0] * 8)
    else:
        check_memory(config, need=estimate_device_bytes(config) + transient)
    try:
        model = build_model(config, torch, device)
        dtype = torch_dtype(torch, config.dtype)
        x = torch.from_numpy(inputs(config)).to(device=device, dtype=dtype)
        head = torch.from_numpy(loss_head(config)).to(device=device, dtype=dtype)
        table = statistics(config, model, x, head, torch, progress)
    except torch.cuda.OutOfMemoryError as exc:  # the estimate was too low: still one line, not a traceback
        raise RunError(f"out of GPU memory: {str(exc).splitlines()[0]}") from None
    return to_layer_stats(config, table)


def statistics(config: VanishConfig, model: Any, x: Any, head: Any, torch: Any,
               progress: Progress | None = None) -> np.ndarray:
    """A (depth, N_STATS) float64 table of per-layer statistics, computed on the device and copied once.

    The forward pass runs each activation module on a dual tensor (forward-mode AD), so φ'(z_l) comes with
    a_l at the cost of one extra element-wise op, and keeps both; one autograd call then gives every
    ∂loss/∂z_l and ∂loss/∂W_l. Gradient norms are taken in autograd hooks, while each gradient is still in
    cache; the forward-pass statistics on stacks of equal-width layers, a handful of batched ops per stack
    instead of ~10 small ops per layer (see _ForwardStatistics).
    """
    linears = list(model[0::2])
    depth = len(linears)
    activate = _Activate(config, torch)
    forward_statistics = _ForwardStatistics(config, torch, x.device)
    zs: list[Any] = []
    dphis: list[Any] = []
    outs: list[Any] = []
    a = x
    for i, (linear, act_module) in enumerate(zip(linears, model[1::2], strict=True)):
        z = linear(a)
        a, dphi = activate(act_module, z)
        zs.append(z)
        taken = forward_statistics.on_layer(z, dphi, a)
        dphis.append(None if taken else dphi)
        outs.append(None if taken else a)
        if progress:
            progress("forward", i + 1, depth)
    loss = 0.5 * ((a - head) ** 2).sum() if config.loss == "mse" else (a @ head).sum()
    gradient_norms = _GradientNorms(config, torch, depth, x.device)
    handles = [z.register_hook(gradient_norms.on_delta(i)) for i, z in enumerate(zs)]
    handles += [lin.weight.register_hook(gradient_norms.on_weight_grad(i)) for i, lin in enumerate(linears)]
    try:
        grads = torch.autograd.grad(loss, [*zs, *(lin.weight for lin in linears)])
    finally:
        for handle in handles:
            handle.remove()
    del loss, a
    with torch.no_grad():
        forward_rows = forward_statistics.finish(zs, dphis, outs)
    table = torch.cat([gradient_norms.table(), forward_rows], dim=1).cpu().numpy()
    # float64 entries below ~1e-154 square to 0 even in float64: redo those (rare) layers with a scaled
    # norm. (float32 and bfloat16 gradients are scaled before their norm is taken.)
    if config.dtype == "float64":
        for col, tensors in ((0, grads[depth:]), (1, grads[:depth])):
            for i in np.nonzero(table[:, col] < 1e-140)[0].tolist():
                table[i, col] = _scaled_norm(tensors[i], torch)
    return table


class _Activate:
    """module(z) → (a, φ'(z)): one forward-mode AD pass through the activation module (the autograd graph
    of a is the module's own), or (a, None) for an activation whose torch ops lack forward-mode formulas."""

    def __init__(self, config: VanishConfig, torch: Any) -> None:
        import torch.autograd.forward_ad as fwad

        self.fwad = fwad
        self.torch = torch
        self.forward_ad: bool | None = None  # None: not tried yet
        self.ones: dict[Any, Any] = {}  # a ones tangent per shape (make_dual copies an expanded one)

    def __call__(self, module: Any, z: Any) -> tuple[Any, Any]:
        if self.forward_ad is False:
            return module(z), None
        try:
            if self.forward_ad:
                return self._dual(module, z)
            with warnings.catch_warnings():
                # torch's forward-AD set-up warns once that torch.jit.script is deprecated: not ours
                warnings.simplefilter("ignore", DeprecationWarning)
                out = self._dual(module, z)
            self.forward_ad = True
            return out
        except (NotImplementedError, RuntimeError):
            self.forward_ad = False
            return module(z), None

    def _dual(self, module: Any, z: Any) -> tuple[Any, Any]:
        fwad = self.fwad
        with fwad.dual_level():
            key = (z.shape, z.dtype, z.device)
            if key not in self.ones:
                self.ones[key] = self.torch.ones_like(z)
            a, tangent = fwad.unpack_dual(module(fwad.make_dual(z, self.ones[key])))
        return a, self.torch.zeros_like(z) if tangent is None else tangent.detach()


class _GradientNorms:
    """‖∂loss/∂W_l‖ and ‖∂loss/∂z_l‖ taken in autograd hooks, as tensors on the device (no host sync).

    float64: plain float64 norms. float32/bfloat16: entries of a deep sigmoid stack's gradients are ~1e-40,
    whose squares vanish in float32, and a float64 copy of every ∂W is the dearest statistic there; so ∂W_l
    (= δ_lᵀa_{l-1}) is first multiplied in place by ~1/‖δ_l‖, after which its entries are O(√batch·max|a|)
    and a float32 sum of squares can neither underflow nor overflow; ‖δ_l‖ itself is taken in float64.
    """

    def __init__(self, config: VanishConfig, torch: Any, depth: int, device: Any) -> None:
        self.torch = torch
        self.exact = config.dtype == "float64"
        self.acc = torch.float64 if self.exact else torch.float32
        self.delta: list[Any] = [None] * depth
        self.weight: list[Any] = [None] * depth
        self.inverse: list[Any] = [None] * depth

    def on_delta(self, i: int) -> Any:
        def hook(g: Any) -> None:  # runs before layer i's ∂W is made from g
            norm = self.torch.linalg.vector_norm(g, dtype=self.torch.float64)
            self.delta[i] = norm
            if self.exact:
                return
            torch = self.torch
            if g.dtype == torch.float32:  # ~1/‖δ‖ in float32's range: g·it is rounded by ≤ 6e-8
                self.inverse[i] = norm.reciprocal().clamp_(2.0**-126, 2.0**126).to(g.dtype)
            else:  # a power of two near 1/‖δ‖: exact, where rounding to bfloat16 would cost ~0.4%
                exponent = torch.frexp(norm).exponent.clamp_(-126, 126).neg_()
                self.inverse[i] = torch.ldexp(torch.ones((), dtype=g.dtype, device=g.device), exponent).to(g.dtype)
        return hook

    def on_weight_grad(self, i: int) -> Any:
        def hook(g: Any) -> None:
            if self.exact:
                self.weight[i] = self.torch.linalg.vector_norm(g)
            else:  # g is ours alone (autograd.grad hands it to us, no .grad is written): scale it in place
                self.weight[i] = self.torch.linalg.vector_norm(g.mul_(self.inverse[i]), dtype=self.acc)
        return hook

    def table(self) -> Any:
        """(depth, 2) float64: ‖∂W‖, ‖δ‖."""
        torch = self.torch
        delta = torch.stack(self.delta)
        weight = torch.stack(self.weight).to(torch.float64)
        if not self.exact:
            weight = weight / torch.stack(self.inverse).to(torch.float64)
        return torch.stack([weight, delta], dim=1)


# The largest stack of layers the forward statistics copy together: on a GPU 64 MiB (few kernel launches);
# on a CPU 1 MiB, a few layers that are still in cache (fewer small ops, no trip to memory).
STACK_BYTES = {"cuda": 1 << 26, "cpu": 1 << 20}


class _ForwardStatistics:
    """Σ(a−c), ‖a−c‖, saturated count, dead count, c per layer, from φ'(z_l) and a_l.

    Rows are taken on stacks of consecutive equal-width layers, ~15 ops per stack instead of per layer.
    On a CPU a stack is a few layers, taken in the forward pass while its tensors are still in cache
    (stacking all layers afterwards copies data that has left the cache: ~2× dearer). On a GPU, where each
    small op is a kernel launch, stacks are large and taken after the backward pass.
    """

    def __init__(self, config: VanishConfig, torch: Any, device: Any) -> None:
        self.torch = torch
        self.config = config
        self.per_layer = device.type == "cpu"
        self.threshold = SATURATION_LEVEL * max_abs_grad(config)
        # Activation sums accumulate in float32 for float32/bfloat16 input: torch's float64-accumulating
        # reductions of float32 input run ~4× slower, and O(1) activations, centred first, lose nothing
        # that matters at float32 precision.
        self.exact = config.dtype == "float64"
        self.acc = torch.float64 if self.exact else torch.float32
        self.stack_bytes = STACK_BYTES.get(device.type, STACK_BYTES["cuda"])
        self.layer_rows: list[Any] = []
        self.pending: list[tuple[Any, Any]] = []
        self.taken = 0
        self.buffers: dict[Any, Any] = {}  # stacks reuse their memory: no fresh pages for every stack

    def on_layer(self, z: Any, dphi: Any, a: Any) -> bool:
        """Take the layer's row in the forward pass (True), or leave it to finish() (False: keep z, φ'(z), a)."""
        if not self.per_layer or dphi is None:
            return False
        if self.pending and (self.pending[0][0].shape != dphi.shape
                             or (len(self.pending) + 1) * dphi.numel() * 8 > self.stack_bytes):
            self._flush()
        self.pending.append((dphi, a.detach()))
        return True

    def _flush(self) -> None:
        torch = self.torch
        with torch.no_grad():
            self.layer_rows.append(self.rows(self._stack("dphi", [d for d, _ in self.pending]),
                                             self._stack("a", [a for _, a in self.pending])))
        self.taken += len(self.pending)
        self.pending = []

    def finish(self, zs: list[Any], dphis: list[Any], outs: list[Any]) -> Any:
        """(depth, 5) float64 table."""
        torch = self.torch
        if self.pending:
            self._flush()
        if self.taken == len(zs):
            return torch.cat(self.layer_rows)
        derivative = _derivative(torch, activations.get(self.config.activation), self.config.params)
        rows = []
        for start, stop in _stacks(zs, self.stack_bytes):
            if dphis[start] is None:  # no forward-mode AD for this activation: reverse mode on z
                dphi = derivative(torch.stack([t.detach() for t in zs[start:stop]]))
            else:
                dphi = self._stack("dphi", dphis[start:stop])  # (layers, batch, width)
            rows.append(self.rows(dphi, self._stack("a", [t.detach() for t in outs[start:stop]])))
        return torch.cat(rows)

    def _stack(self, name: str, tensors: list[Any]) -> Any:
        first = tensors[0]
        key = (name, first.shape, first.dtype)
        buffer = self.buffers.get(key)
        if buffer is None or buffer.shape[0] < len(tensors):
            rows = max(len(tensors), self.stack_bytes // (first.numel() * 8))
            buffer = self.buffers[key] = self.torch.empty((rows, *first.shape), dtype=first.dtype,
                                                          device=first.device)
        return self.torch.stack(tensors, out=buffer[:len(tensors)])

    def rows(self, dphi: Any, a: Any) -> Any:
        """(layers, 5) float64 from φ'(z) and a, each (layers, batch, width)."""
        torch, f64 = self.torch, self.torch.float64
        dphi = dphi.abs_()  # a stack: ours to change
        if dphi.dtype == torch.float64 or (dphi.dtype == torch.float32 and dphi[0].numel() <= 1 << 24):
            # 1 where |φ'| < threshold (sign(NaN) is 0, as NaN < threshold is False); float sums of 0/1 are
            # exact in these ranges, and on a CPU this runs ~1.5× faster than comparing into a bool tensor
            saturated = (self.threshold - dphi).clamp_(min=0).sign_().sum(dim=(1, 2))
        else:
            saturated = (dphi < self.threshold).sum(dim=(1, 2))
        dead = (dphi.amax(dim=1) == 0).sum(dim=1)
        if self.exact:  # Σa² − n·mean² then loses ~(mean/std)²·1e-16 relatively (1e-14 for a sigmoid layer)
            centre = torch.zeros(a.shape[0], dtype=f64, device=a.device)
        else:           # at float32 precision, centre on one sample first so that nothing cancels
            shift = a[:, :1, :1].to(self.acc)
            a = a.to(self.acc) - shift
            centre = shift.reshape(-1).to(f64)
        return torch.stack([a.sum(dim=(1, 2)).to(f64), torch.linalg.vector_norm(a, dim=(1, 2)).to(f64),
                            saturated.to(f64), dead.to(f64), centre], dim=1)


def _stacks(zs: list[Any], stack_bytes: int) -> list[tuple[int, int]]:
    """[start, stop) runs of consecutive layers of one shape, each at most stack_bytes in float64."""
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(zs) + 1):
        layer_bytes = zs[start].numel() * 8
        if i == len(zs) or zs[i].shape != zs[start].shape or (i - start + 1) * layer_bytes > stack_bytes:
            runs.append((start, i))
            start = i
    return runs


def _derivative(torch: Any, act: Any, params: dict[str, float]) -> Any:
    """z ↦ φ'(z) element by element: forward-mode AD (one pass, ~half the cost of a backward pass), or
    reverse mode for an activation whose torch ops lack forward-mode formulas."""
    import torch.autograd.forward_ad as fwad

    ones: dict[Any, Any] = {}
    state = {"forward": True}

    def reverse(z: Any) -> Any:
        zd = z.requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(act.torch_ref(torch, zd, params).sum(), zd)
        return grad

    def forward(z: Any, tangent: Any) -> Any:
        with fwad.dual_level():
            return fwad.unpack_dual(act.torch_ref(torch, fwad.make_dual(z, tangent), params)).tangent

    def derivative(z: Any) -> Any:
        if state["forward"]:
            key = (z.shape, z.dtype, z.device)
            if key not in ones:
                ones[key] = torch.ones_like(z)
            try:
                if state.get("warmed"):
                    tangent = forward(z, ones[key])
                else:
                    with warnings.catch_warnings():
                        # torch's forward-AD set-up warns once that torch.jit.script is deprecated: not ours
                        warnings.simplefilter("ignore", DeprecationWarning)
                        tangent = forward(z, ones[key])
                    state["warmed"] = True
                return torch.zeros_like(z) if tangent is None else tangent
            except (NotImplementedError, RuntimeError):
                state["forward"] = False
        return reverse(z)

    return derivative


def _scaled_norm(t: Any, torch: Any) -> float:
    t64 = t.detach().to(torch.float64)
    scale = float(t64.abs().max())
    if scale == 0.0 or not math.isfinite(scale):
        return scale
    return scale * float(torch.linalg.vector_norm(t64 / scale))


def to_layer_stats(config: VanishConfig, table: np.ndarray) -> list[LayerStats]:
    """Rows of [‖∂W‖, ‖δ‖, Σ(a−c), ‖a−c‖, saturated count, dead count, c] into LayerStats."""
    out = []
    for i, row in enumerate(table):
        width, batch = config.widths[i + 1], config.batch
        n = width * batch
        shifted_mean = row[2] / n
        var = max(row[3] ** 2 / n - shifted_mean**2, 0.0)
        out.append(LayerStats(
            layer=i + 1, width=width,
            weight_grad_norm=float(row[0]), grad_rms=float(row[1]) / math.sqrt(n),
            act_mean=float(row[6] + shifted_mean), act_std=math.sqrt(var),
            saturated_frac=float(row[4]) / n, dead_frac=float(row[5]) / width,
        ))
    return out
