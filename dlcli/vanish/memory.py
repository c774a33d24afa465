"""Memory estimates for both engines, checked against what the machine can give before anything is allocated."""

from __future__ import annotations

from typing import Any

from dlcli.memory import MEMORY_SHARE, available_bytes, check_fits, human_bytes
from dlcli.vanish.config import VanishConfig

__all__ = ["MEMORY_SHARE", "available_bytes", "check_fits", "check_memory", "estimate_bytes", "human_bytes"]

PER_LAYER_BYTES = 800    # Python objects kept per layer: its statistics row, list slots, small arrays' headers


def _layer_sums(widths: tuple[int, ...] | list[int]) -> tuple[int, int, int, int, int]:
    """(Σ n_in·n_out, Σ n_out, Σ n, max n, max n_in·n_out) in O(1) memory (closed form for uniform widths)."""
    depth = len(widths) - 1
    if widths.count(widths[0]) == len(widths):  # one C-speed pass, no list built
        w = widths[0]
        return depth * w * w, depth * w, (depth + 1) * w, w, w * w
    weights = biases = units = widest = biggest = 0
    previous = None
    for n in widths:
        units += n
        widest = max(widest, n)
        if previous is not None:
            weights += previous * n
            biases += n
            biggest = max(biggest, previous * n)
        previous = n
    return weights, biases, units, widest, biggest


def uniform_bytes(depth: int, width: int, batch: int, dtype: str = "float64") -> int:
    """estimate_bytes for `depth` layers of `width` units, without building the configuration at all."""
    return _numpy_bytes((depth * width * width, depth * width, (depth + 1) * width, width, width * width),
                        depth, batch, dtype)


def estimate_bytes(config: VanishConfig) -> int:
    """Bytes the numpy engine holds at its peak: weights, activations kept for backward, per-layer scratch."""
    return _numpy_bytes(_layer_sums(config.widths), config.depth, config.batch, config.dtype)


def _numpy_bytes(sums: tuple[int, int, int, int, int], depth: int, batch: int, dtype: str) -> int:
    item = 8 if dtype == "float64" else 4
    weights, _, units, widest, biggest = sums
    total = weights * 8 + (0 if item == 8 else weights * item)        # generated in float64, then cast
    total += 2 * batch * units * item                                 # z_l and a_l for the backward pass
    total += 6 * batch * widest * 8 + 2 * biggest * 8                 # δ, φ', float64 copies, ∂W
    return int(total + depth * PER_LAYER_BYTES)


def check_memory(config: VanishConfig | None, need: int | None = None, have: int | None = None,
                 where: str = "memory", advice: str = "shrink --width (memory grows with width²), --depth or --batch",
                 ) -> None:
    """InputError with the estimate and what to shrink (`advice`) when a run will not fit (dlcli.memory's rule)."""
    if need is None:
        assert config is not None
        need = estimate_bytes(config)
    check_fits(need, advice, where, have)


def estimate_device_bytes(config: VanishConfig, on_host: bool) -> int:
    """Peak bytes where the model runs: weights, tensors autograd keeps, and what the statistics add
    (`on_host`: one ∂W_l at a time; else autograd's ∂W_l all at once, and stacks of layers)."""
    item = {"float64": 8, "float32": 4, "bfloat16": 2}[config.dtype]
    weights, biases, units, widest, biggest = _layer_sums(config.widths)
    params = weights + biases
    total = params * item                                      # weights
    total += 4 * config.batch * units * item                   # z_l, a_l, φ'(z_l), ∂loss/∂z_l
    if on_host:
        return int(total + biggest * item + 4 * config.batch * widest * 8)  # ∂W_l buffer, float64 copies
    from dlcli.vanish.device_stats import STACK_BYTES

    stack = min(STACK_BYTES["cuda"], config.batch * units * 8)
    total += params * item                                     # weight gradients
    total += 3 * stack + 4 * config.batch * widest * 8 + biggest * 8  # stacks and copies in the statistics
    return int(total)


def estimate_module_bytes(torch: Any, model: Any, probe: Any, batch: int, copies: int = 1) -> int:
    """Peak bytes of one hooked forward and backward of `model` on `batch` examples, from a pass on the few in
    `probe` (a tensor, or a batch with .call(model), .args, .kwargs, .size: every input cut alike): every
    module's output four times over (the output autograd keeps, its gradient, the statistics' scratch, a spare)
    scaled to the batch, plus the parameters and their gradients of `copies` models."""
    sizes: list[int] = []

    def hook(_module: Any, _inputs: Any, output: Any) -> None:
        for t in output if isinstance(output, tuple | list) else (output,):
            if isinstance(t, torch.Tensor):
                sizes.append(t.numel() * t.element_size())

    if isinstance(probe, torch.Tensor):
        inputs, examples, call = [probe], len(probe), lambda m: m(probe)
    else:
        inputs, examples, call = [*probe.args, *probe.kwargs.values()], probe.size, probe.call
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    training = model.training
    try:
        model.eval()  # batch norm on a probe of one or two examples: running statistics, no error
        with torch.no_grad():
            call(model)
    except Exception:  # the real pass reports the user's error in its own words
        return 0
    finally:
        model.train(training)
        for h in handles:
            h.remove()
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    given = sum(t.numel() * t.element_size() for t in inputs if isinstance(t, torch.Tensor))
    per_example = (4 * sum(sizes) + given) / max(examples, 1)
    return int(per_example * batch + 2 * copies * params)
