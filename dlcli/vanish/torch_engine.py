"""The torch engine: the same stack as a real nn.Sequential, gradients by autograd, on cpu or cuda.

Weights come from dlcli.vanish.weights, so a seed gives the numpy engine's network; with --norm or
--residual, statistics() puts the normalisation and the skip connection between the Sequential's modules.
The per-layer statistics are taken during the one forward and backward pass by host_stats (on a CPU) or
device_stats (on a GPU).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from dlcli import activations
from dlcli.errors import InputError, RunError
from dlcli.extras import missing
from dlcli.vanish import blas
from dlcli.vanish.config import NORM_EPS, Progress, VanishConfig
from dlcli.vanish.memory import check_memory, estimate_device_bytes
from dlcli.vanish.statistics import MIN_DEAD_EXAMPLES, LayerStats
from dlcli.vanish.weights import inputs, layer_weights, loss_head


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


def run_torch(config: VanishConfig, progress: Progress | None = None, on_host: bool | None = None,
              ) -> list[LayerStats]:
    """Per-layer statistics (layer 1 first) from nn.Sequential and autograd (`on_host`: see statistics)."""
    try:
        import torch
    except ImportError:
        raise missing("--engine torch", "PyTorch", "torch") from None

    device = resolve_device(torch, config.device)
    transient = 2 * max(i * o for i, o in zip(config.widths, config.widths[1:], strict=False)) * 8  # float64 W
    if on_host is None:
        on_host = device.type == "cpu"
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        check_memory(config, need=estimate_device_bytes(config, on_host), have=free, where="GPU memory")
        check_memory(config, need=transient + config.batch * config.widths[0] * 8)
    else:
        check_memory(config, need=estimate_device_bytes(config, on_host) + transient)
    try:
        model = build_model(config, torch, device)
        dtype = torch_dtype(torch, config.dtype)
        x = torch.from_numpy(inputs(config)).to(device=device, dtype=dtype)
        head = torch.from_numpy(loss_head(config)).to(device=device, dtype=dtype)
        table = statistics(config, model, x, head, torch, progress, on_host)
    except torch.cuda.OutOfMemoryError as exc:  # the estimate was too low: still one line, not a traceback
        raise RunError(f"out of GPU memory: {str(exc).splitlines()[0]}") from None
    return to_layer_stats(config, table)


class LayerStatistics(Protocol):
    """What statistics() asks of a way of taking the statistics (host: numpy per layer; device: tensors)."""

    # When on_layer is called with φ'(z_l) (None where _AutogradSlope finds none: on_layer finds it its own way):
    # "forward" — layer by layer during the forward pass; "after" — for every layer after it, in one loop.
    slope_when: str
    # Whether finish() makes each ∂loss/∂W_l = δ_lᵀ a_{l−1} itself, from δ_l and the layer's input a_{l−1},
    # rather than have autograd make them all (and keep them all in memory) first.
    makes_weight_grads: bool

    def on_layer(self, i: int, z: Any, slope: Any, a: Any) -> None: ...

    # grads: (∂loss/∂z_l...), then (∂loss/∂W_l...) unless makes_weight_grads; layer_inputs: (a_0 = x, ..., a_{L−1})
    def finish(self, grads: Any, layer_inputs: list[Any]) -> np.ndarray: ...


def statistics(config: VanishConfig, model: Any, x: Any, head: Any, torch: Any,
               progress: Progress | None = None, on_host: bool | None = None) -> np.ndarray:
    """The float64 table of statistics.TABLE_COLUMNS, one row per layer, from one forward pass and one
    autograd call (∂loss/∂z_l, and ∂loss/∂W_l unless the statistics make them; no hooks). `on_host` picks
    host_stats over device_stats, by default on a CPU (the tests run both there)."""
    linears = list(model[0::2])
    depth = len(linears)
    if on_host is None:
        on_host = x.device.type == "cpu"
    stats: LayerStatistics
    if on_host:
        from dlcli.vanish.host_stats import HostStatistics

        stats = HostStatistics(config, torch, depth)
    else:
        from dlcli.vanish.device_stats import DeviceStatistics

        stats = DeviceStatistics(config, torch, depth, x.device)
    slopes = _AutogradSlope(torch)
    zs: list[Any] = []
    layer_inputs = [x]  # a_{l−1} of layer l, then a_L
    fixed = config.norm != "none" or config.residual
    pairs: list[tuple[Any, Any]] = []  # (ẑ_l, φ(ẑ_l)) where they are not (z_l, a_l): --norm, --residual
    a = x
    with blas.single_thread(on_host):  # numpy's BLAS on one thread beside torch's, which busy-wait
        for i, (linear, act_module) in enumerate(zip(linears, model[1::2], strict=True)):
            z = linear(a)
            z_hat = _normalise(torch, z, config.norm)
            phi = act_module(z_hat)
            a = a + config.residual_scale * phi if config.is_residual(i + 1) else phi
            zs.append(z)
            layer_inputs.append(a)
            if fixed:
                pairs.append((z_hat, phi))
            if stats.slope_when == "forward":
                stats.on_layer(i, z_hat, slopes.slope(z_hat, phi), a)
            if progress:
                progress("forward", i + 1, depth)
        if stats.slope_when == "after":
            for i, (z, a_i) in enumerate(zip(zs, layer_inputs[1:], strict=True)):
                z_hat, phi = pairs[i] if fixed else (z, a_i)
                stats.on_layer(i, z_hat, slopes.slope(z_hat, phi), a_i)
        del pairs
        loss = 0.5 * ((a - head) ** 2).sum() if config.loss == "mse" else (a @ head).sum()
        weights = [] if stats.makes_weight_grads else [linear.weight for linear in linears]
        grads = torch.autograd.grad(loss, [*zs, *weights])
        del loss, a, zs, layer_inputs[-1]
        return stats.finish(grads, layer_inputs)


def _normalise(torch: Any, z: Any, norm: str) -> Any:
    """z normalised over the batch or the units, no affine parameters, torch's ε (the numpy engine's twin)."""
    if norm == "batch":
        return torch.nn.functional.batch_norm(z, None, None, training=True, eps=NORM_EPS)
    if norm == "layer":
        return torch.nn.functional.layer_norm(z, (z.shape[1],), eps=NORM_EPS)
    return z


class _AutogradSlope:
    """φ'(z) element by element, from the autograd graph of a = φ(z): the op's backward node applied to ones
    where the activation is one autograd op, else autograd from a to z (graph kept); None where a has no
    graph back to z, and the statistics then find φ' their own way."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch
        self.mode = "node"  # then "graph", then "none", as each proves not to apply
        self.ones: dict[Any, Any] = {}

    def slope(self, z: Any, a: Any) -> Any:
        """φ'(z), where a = φ(z) with its autograd graph; None where a has no graph back to z."""
        ones = self._ones(z)
        if self.mode == "node":
            node = a.grad_fn
            if node is not None and z.grad_fn is not None and len(node.next_functions) == 1 \
                    and node.next_functions[0][0] is z.grad_fn:
                with self.torch.no_grad():
                    return node(ones).detach()
            self.mode = "graph"
        if self.mode == "graph":
            if a.requires_grad:
                (slope,) = self.torch.autograd.grad(a, z, ones, retain_graph=True, allow_unused=True)
                if slope is None:  # a does not depend on z
                    return self.torch.zeros_like(z)
                return slope.contiguous()  # a copy where autograd handed back the ones themselves (identity)
            self.mode = "none"
        return None

    def _ones(self, z: Any) -> Any:
        """Ones of z's shape, one element expanded (stride 0: the backward reads no memory for it)."""
        key = (z.shape, z.dtype, z.device)
        if key not in self.ones:
            self.ones[key] = self.torch.ones((), dtype=z.dtype, device=z.device).expand(z.shape)
        return self.ones[key]


def to_layer_stats(config: VanishConfig, table: np.ndarray) -> list[LayerStats]:
    """Rows of the statistics.TABLE_COLUMNS table into LayerStats."""
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
            saturated_frac=float(row[4]) / n,
            dead_frac=float(row[5]) / width if batch >= MIN_DEAD_EXAMPLES else math.nan,
        ))
    return out
