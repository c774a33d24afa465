"""The torch engine: the same stack as a real nn.Sequential, gradients by autograd, on cpu or cuda.

Weights come from dlcli.vanish (generated once in float64 and copied in), so a seed gives the same
network as the numpy engine. Statistics are computed on the device as tensors, in float64, layer by layer,
and copied to the host once at the end: no host synchronisation per layer (a per-layer `.item()` made a
bf16 depth-1000 step 75% slower on an H200).
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
    total += 3 * config.batch * units * item                   # z_l, a_l, ∂loss/∂z_l
    total += 4 * config.batch * widest * 8 + biggest * 8       # float64 copies inside the statistics
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


def forward_with_grads(config: VanishConfig, model: Any, x: Any, head: Any, torch: Any,
                       progress: Progress | None = None, on_layer: Any = None, on_grad: Any = None,
                       ) -> tuple[list[Any], list[Any]]:
    """Forward through the Sequential, then autograd: (∂loss/∂z_l, ∂loss/∂W_l) for every layer.

    on_layer(i, z, a) runs right after layer i's forward; on_grad(kind, i, g) as each gradient is made
    ('z' or 'w'), while it is still in cache.
    """
    linears = list(model[0::2])
    depth = len(linears)
    zs = []
    a = x
    handles = []
    for i, (linear, act) in enumerate(zip(linears, model[1::2], strict=True)):
        z = linear(a)
        a = act(z)
        zs.append(z)
        if on_layer is not None:
            on_layer(i, z, a)
        if on_grad is not None:
            handles.append(z.register_hook(lambda g, i=i: on_grad("z", i, g)))
            handles.append(linear.weight.register_hook(lambda g, i=i: on_grad("w", i, g)))
        if progress:
            progress("forward", i + 1, depth)
    loss = 0.5 * ((a - head) ** 2).sum() if config.loss == "mse" else (a @ head).sum()
    try:
        grads = torch.autograd.grad(loss, [*zs, *(lin.weight for lin in linears)])
    finally:
        for handle in handles:
            handle.remove()
    return list(grads[:depth]), list(grads[depth:])


def statistics(config: VanishConfig, model: Any, x: Any, head: Any, torch: Any,
               progress: Progress | None = None) -> np.ndarray:
    """A (depth, N_STATS) float64 table of per-layer statistics, computed on the device and copied once.

    Each statistic is taken as its tensor is made (activations in the forward pass, gradients in autograd
    hooks), while the data is still in cache: on CPU that halves their cost against a second sweep.
    """
    act = activations.get(config.activation)
    threshold = SATURATION_LEVEL * max_abs_grad(config)
    f64, u8 = torch.float64, torch.uint8
    # Gradient norms accumulate in float64 always (float32 gradients of a deep sigmoid stack are ~1e-32:
    # their squares vanish in float32). Activation sums accumulate in float32 for float32/bfloat16 input:
    # torch's float64-accumulating reductions of float32 input run ~4× slower here, and O(1) activations,
    # centred first, lose nothing that matters at float32 precision.
    acc = f64 if config.dtype == "float64" else torch.float32
    depth = config.depth
    forward_rows: list[Any] = [None] * depth
    norms: dict[str, list[Any]] = {"w": [None] * depth, "z": [None] * depth}

    derivative = _derivative(torch, act, config.params)
    zero = torch.zeros((), dtype=f64, device=x.device)

    def on_layer(i: int, z: Any, a: Any) -> None:
        dphi = derivative(z.detach()).abs_()
        ad = a.detach()
        # Raw sums only (fewer tensor operations per layer); mean and std are formed on the host.
        if acc is f64:  # Σa² − n·mean² then loses ~(mean/std)²·1e-16 relatively (1e-14 for a sigmoid layer)
            centre = zero
        else:           # at float32 precision, centre on one sample first so that nothing cancels
            centre = ad.reshape(-1)[0]
            ad = ad - centre
            centre = centre.to(f64)
        forward_rows[i] = torch.stack([
            ad.sum(dtype=acc).to(f64), torch.linalg.vector_norm(ad, dtype=acc).to(f64),
            (dphi < threshold).view(u8).sum(dtype=f64),
            (dphi.amax(dim=0) == 0).view(u8).sum(dtype=f64),
            centre,
        ])

    z_max: list[Any] = [None] * depth

    def on_grad(kind: str, i: int, g: Any) -> None:
        if acc is f64:
            norms[kind][i] = torch.linalg.vector_norm(g, dtype=f64)
        elif kind == "z":  # comes first: layer i's ∂W is made from it
            norms["z"][i] = torch.linalg.vector_norm(g, dtype=f64)
            z_max[i] = g.abs().amax().to(acc)
        else:
            # ∂W = δᵀa: divided by max|δ| its entries are O(batch·max|a|), so a float32 sum of squares can
            # neither overflow nor underflow, and the norm keeps float32's ~1e-7 relative precision while
            # skipping a float64 copy of the whole matrix (the dearest statistic at float32).
            scale = z_max[i].clamp(min=torch.finfo(acc).tiny)
            norms["w"][i] = torch.linalg.vector_norm(g.to(acc) / scale, dtype=acc).to(f64) * scale.to(f64)

    dzs, dws = forward_with_grads(config, model, x, head, torch, progress, on_layer, on_grad)
    table = torch.cat([torch.stack(norms["w"])[:, None], torch.stack(norms["z"])[:, None],
                       torch.stack(forward_rows)], dim=1).cpu().numpy()
    # float64 entries below ~1e-154 square to 0 even in float64: redo those (rare) layers with a scaled
    # norm. (float32 and bfloat16 entries are at least 1e-45, whose float64 squares are safe.)
    if config.dtype == "float64":
        for col, tensors in ((0, dws), (1, dzs)):
            for i in np.nonzero(table[:, col] < 1e-140)[0]:
                table[i, col] = _scaled_norm(tensors[i], torch)
    return table


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
