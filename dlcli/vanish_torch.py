"""The torch engine: the same stack as a real nn.Sequential, gradients by autograd, on cpu or cuda.

Weights come from dlcli.vanish (generated once in float64 and copied in), so a seed gives the same
network as the numpy engine. Statistics are computed on the device as tensors, in float64, layer by layer,
and copied to the host once at the end: no host synchronisation per layer (a per-layer `.item()` made a
bf16 depth-1000 step 75% slower on an H200).
"""

from __future__ import annotations

import math
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

N_STATS = 6  # ‖∂W‖, ‖δ‖, mean a, std a, saturated count, dead count


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

    class Activation(nn.Module):
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
                       progress: Progress | None = None) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """Forward through the Sequential keeping z_l and a_l, then autograd: (zs, acts, ∂loss/∂z_l, ∂loss/∂W_l)."""
    linears = list(model[0::2])
    depth = len(linears)
    zs, outs = [], []
    a = x
    for i, (linear, act) in enumerate(zip(model[0::2], model[1::2], strict=True)):
        z = linear(a)
        a = act(z)
        zs.append(z)
        outs.append(a)
        if progress:
            progress("forward", i + 1, depth)
    if config.loss == "mse":
        loss = 0.5 * ((a - head) ** 2).sum()
    else:
        loss = (a @ head).sum()
    grads = torch.autograd.grad(loss, [*zs, *(lin.weight for lin in linears)])
    return zs, outs, list(grads[:depth]), list(grads[depth:])


def statistics(config: VanishConfig, model: Any, x: Any, head: Any, torch: Any,
               progress: Progress | None = None) -> np.ndarray:
    """A (depth, N_STATS) float64 table of per-layer statistics, computed on the device and copied once."""
    zs, outs, dzs, dws = forward_with_grads(config, model, x, head, torch, progress)
    depth = len(zs)
    act = activations.get(config.activation)
    threshold = SATURATION_LEVEL * max_abs_grad(config)
    f64 = torch.float64
    rows = []
    for i in range(depth):
        z = zs[i].detach().requires_grad_(True)
        with torch.enable_grad():
            (dphi,) = torch.autograd.grad(act.torch_ref(torch, z, config.params).sum(), z)
        std, mean = torch.std_mean(outs[i].detach().to(f64), correction=0)
        rows.append(torch.stack([
            torch.linalg.vector_norm(dws[i], dtype=f64),
            torch.linalg.vector_norm(dzs[i], dtype=f64),
            mean,
            std,
            (dphi.abs() < threshold).sum().to(f64),
            (dphi == 0).all(dim=0).sum().to(f64),
        ]))
        zs[i] = outs[i] = None
        if progress:
            progress("statistics", i + 1, depth)
    table = torch.stack(rows).cpu().numpy()
    # Entries below ~1e-154 square to 0 even in float64: redo those (rare) layers with a scaled norm.
    for col, tensors in ((0, dws), (1, dzs)):
        for i in np.nonzero(table[:, col] < 1e-140)[0]:
            table[i, col] = _scaled_norm(tensors[i], torch)
    return table


def _scaled_norm(t: Any, torch: Any) -> float:
    t64 = t.detach().to(torch.float64)
    scale = float(t64.abs().max())
    if scale == 0.0 or not math.isfinite(scale):
        return scale
    return scale * float(torch.linalg.vector_norm(t64 / scale))


def to_layer_stats(config: VanishConfig, table: np.ndarray) -> list[LayerStats]:
    out = []
    for i, row in enumerate(table):
        width, batch = config.widths[i + 1], config.batch
        n = width * batch
        out.append(LayerStats(
            layer=i + 1, width=width,
            weight_grad_norm=float(row[0]), grad_rms=float(row[1]) / math.sqrt(n),
            act_mean=float(row[2]), act_std=float(row[3]),
            saturated_frac=float(row[4]) / n, dead_frac=float(row[5]) / width,
        ))
    return out
